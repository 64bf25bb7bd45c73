//! API keys: shown once at creation, listed without secrets, limited by scopes, revocable.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_field_error, assert_json, assert_no_content, assert_problem, both_backends};

async fn create_key(app: &TestApp, body: &Value) -> Value {
    assert_json(app.post_json("/v1/api-keys", body).await, 201).await
}

async fn a_created_key_is_shown_once_and_works(app: TestApp) {
    let body = json!({"name": "Shop", "scopes": ["customers:write", "customers:read"], "expires_in_days": 30});
    let created = create_key(&app, &body).await;
    let key = created["api_key"].as_str().expect("api_key");
    let parts: Vec<&str> = key.splitn(3, '_').collect();
    assert_eq!(parts.len(), 3, "crm_<prefix>_<secret>: {key}");
    assert_eq!(parts[0], "crm", "{key}");
    assert!(parts[2].len() >= 22, "a secret of at least 128 bits: {key}");
    assert_eq!(created["name"], "Shop", "{created}");
    assert!(created["expires_at"].is_string(), "{created}");
    let mut scopes: Vec<&str> = created["scopes"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    scopes.sort_unstable();
    assert_eq!(scopes, ["customers:read", "customers:write"], "{created}");

    let me = assert_json(app.with_key(key).get("/v1/me").await, 200).await;
    assert_eq!(me["actor"], json!({"type": "api_key", "id": created["id"]}), "{me}");
    assert_eq!(me["workspace_id"], app.workspace_id.as_str(), "{me}");
    let customer = json!({"kind": "person", "first_name": "Via key"});
    assert_json(app.with_key(key).post_json("/v1/customers", &customer).await, 201).await;
}
both_backends!(a_created_key_is_shown_once_and_works);

async fn listed_keys_never_show_secrets(app: TestApp) {
    let key = app.create_api_key(&["customers:read"]).await;
    let page = assert_json(app.get("/v1/api-keys").await, 200).await;
    let data = page["data"].as_array().expect("data");
    assert!(data.len() >= 2, "the bootstrap key and the new one: {page}");
    for item in data {
        let object = item.as_object().unwrap();
        for forbidden in ["api_key", "secret", "key_hash", "hash"] {
            assert!(!object.contains_key(forbidden), "{forbidden} in {item}");
        }
        assert!(item["prefix"].is_string(), "{item}");
    }
    let text = page.to_string();
    let secret = key.rsplit('_').next().unwrap();
    assert!(!text.contains(secret), "the secret leaked into the list: {text}");
}
both_backends!(listed_keys_never_show_secrets);

async fn a_revoked_key_stops_working(app: TestApp) {
    let created = create_key(&app, &json!({"name": "temp", "scopes": ["customers:read"]})).await;
    let key = created["api_key"].as_str().unwrap();
    assert_json(app.with_key(key).get("/v1/customers").await, 200).await;
    let path = format!("/v1/api-keys/{}", created["id"].as_str().unwrap());
    assert_no_content(app.delete(&path).await).await;
    assert_problem(app.with_key(key).get("/v1/customers").await, 401, "unauthorized").await;
    assert_problem(app.with_key(key).get("/v1/me").await, 401, "unauthorized").await;
}
both_backends!(a_revoked_key_stops_working);

async fn scopes_limit_what_a_key_may_do(app: TestApp) {
    let reader = app.create_api_key(&["customers:read"]).await;
    let reader = app.with_key(&reader);
    assert_json(reader.get("/v1/customers").await, 200).await;
    let body = json!({"kind": "person", "first_name": "Olena"});
    assert_problem(reader.post_json("/v1/customers", &body).await, 403, "forbidden").await;
    assert_problem(reader.get("/v1/users").await, 403, "forbidden").await;
    assert_problem(reader.get("/v1/api-keys").await, 403, "forbidden").await;
    let escalate = json!({"name": "mine", "scopes": ["users:admin"]});
    assert_problem(reader.post_json("/v1/api-keys", &escalate).await, 403, "forbidden").await;

    let customer = app.post_customer(&body).await;
    let path = format!("/v1/customers/{}", customer["id"].as_str().unwrap());
    assert_json(reader.get(&path).await, 200).await;
    let patch = json!({"first_name": "Changed"});
    assert_problem(reader.patch_json(&path, &patch).await, 403, "forbidden").await;
    assert_problem(reader.delete(&path).await, 403, "forbidden").await;

    let writer = app.create_api_key(&["customers:write"]).await;
    let writer = app.with_key(&writer);
    assert_json(writer.post_json("/v1/customers", &body).await, 201).await;
    assert_json(writer.get("/v1/customers").await, 200).await;
    assert_problem(writer.get("/v1/api-keys").await, 403, "forbidden").await;
}
both_backends!(scopes_limit_what_a_key_may_do);

async fn invalid_keys_are_rejected(app: TestApp) {
    let cases = [
        (json!({"name": "x", "scopes": ["galaxies:write"]}), "scopes"),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": "  ", "scopes": ["customers:read"]}), "name"),
        (json!({"name": "x", "scopes": ["customers:read"], "expires_in_days": 0}), "expires_in_days"),
        (json!({"name": "x", "scopes": ["customers:read"], "expires_in_days": -1}), "expires_in_days"),
    ];
    for (body, field) in cases {
        let response = app.post_json("/v1/api-keys", &body).await;
        let problem = assert_problem(response, 422, "validation_failed").await;
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .map(|e| e.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default();
        assert!(fields.iter().any(|f| f.starts_with(field)), "{body} -> {problem}");
    }
    let response = app
        .post_json("/v1/api-keys", &json!({"name": "x", "scopes": ["customers:read"], "api_key": "crm_mine_secret"}))
        .await;
    assert_field_error(response, "api_key", "unknown_field").await;
}
both_backends!(invalid_keys_are_rejected);

async fn keys_of_other_workspaces_are_invisible(app: TestApp) {
    let created = create_key(&app, &json!({"name": "mine", "scopes": ["customers:read"]})).await;
    let key = created["api_key"].as_str().unwrap();
    let other = app.second_workspace().await;
    let other = app.with_key(&other);
    let path = format!("/v1/api-keys/{}", created["id"].as_str().unwrap());
    assert_problem(other.delete(&path).await, 404, "not_found").await;
    let page = assert_json(other.get("/v1/api-keys").await, 200).await;
    assert!(!page.to_string().contains(created["id"].as_str().unwrap()), "{page}");
    assert_json(app.with_key(key).get("/v1/customers").await, 200).await;
    let unknown = format!("/v1/api-keys/{}", uuid::Uuid::now_v7());
    assert_problem(app.delete(&unknown).await, 404, "not_found").await;
}
both_backends!(keys_of_other_workspaces_are_invisible);
