//! Interactions: logging with links and defaults, validation, merge patches with versions,
//! external-id conflicts, soft delete and restore, filtered keyset lists, history, scopes and
//! isolation between workspaces.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_field_error, assert_json, assert_no_content, assert_problem, both_backends, header, id_of, ids,
    send,
};

async fn customer(app: &TestApp, name: &str) -> String {
    let created = app.post_customer(&json!({"kind": "person", "first_name": name})).await;
    created["id"].as_str().expect("a customer id").to_owned()
}

fn call(customer_id: &str, occurred_at: &str) -> Value {
    json!({"channel": "phone", "direction": "outbound", "subject": "Renewal call", "body": "Agreed on the price.",
           "occurred_at": occurred_at, "duration_seconds": 540, "customer_id": customer_id})
}

async fn post(app: &TestApp, body: &Value) -> Value {
    assert_json(app.post_json("/v1/interactions", body).await, 201).await
}

fn path_of(item: &Value) -> String {
    format!("/v1/interactions/{}", id_of(item))
}

fn set(items: &[&String]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn create_locates_and_defaults(app: TestApp) {
    let olena = customer(&app, "Olena").await;
    let response = app.post_json("/v1/interactions", &call(&olena, "2026-01-10T09:30:00Z")).await;
    let location = header(response.headers(), "location");
    let etag = header(response.headers(), "etag");
    let created = assert_json(response, 201).await;
    let id = id_of(&created);
    assert_eq!(location, Some(format!("/v1/interactions/{id}")));
    assert_eq!(etag.as_deref(), Some("\"1\""));
    let expected = json!({
        "id": id, "channel": "phone", "direction": "outbound", "subject": "Renewal call",
        "body": "Agreed on the price.", "occurred_at": "2026-01-10T09:30:00Z", "duration_seconds": 540,
        "customer_id": olena, "deal_id": null, "lead_id": null, "user_id": null, "external_id": null,
        "metadata": {}, "version": 1, "created_at": created["created_at"], "updated_at": created["created_at"],
        "deleted_at": null
    });
    assert_eq!(created, expected, "an API key logs no user");
    let fetched = send(app.request(Method::GET, &path_of(&created))).await;
    assert_eq!(header(fetched.headers(), "etag").as_deref(), Some("\"1\""));
    assert_eq!(assert_json(fetched, 200).await, created);

    // A signed-in user is the default `user_id`; a note is `internal` without saying so.
    let token = app.login(&app.admin_email, &app.admin_password).await;
    let note = json!({"channel": "note", "body": "Prefers calls after 4 pm", "occurred_at": "2026-01-11T10:00:00Z",
                      "customer_id": olena, "metadata": {"source": "mobile"}});
    let note = assert_json(app.with_token(&token).post_json("/v1/interactions", &note).await, 201).await;
    assert_eq!(note["user_id"], json!(app.user_id), "{note}");
    assert_eq!(note["direction"], "internal", "{note}");
    assert_eq!(note["metadata"], json!({"source": "mobile"}), "{note}");
    let sales = app.create_user("sales").await;
    let mut logged = call(&olena, "2026-01-12T10:00:00Z");
    logged["user_id"] = json!(sales.id);
    let logged = assert_json(app.with_token(&token).post_json("/v1/interactions", &logged).await, 201).await;
    assert_eq!(logged["user_id"], json!(sales.id), "an explicit user wins: {logged}");
}
both_backends!(create_locates_and_defaults);

async fn invalid_input_is_422(app: TestApp) {
    let olena = customer(&app, "Olena").await;
    let at = "2026-01-10T09:30:00Z";
    let unlinked = json!({"channel": "email", "direction": "inbound", "occurred_at": at});
    assert_field_error(app.post_json("/v1/interactions", &unlinked).await, "customer_id", "required").await;
    let fax = json!({"channel": "fax", "direction": "inbound", "occurred_at": at, "customer_id": olena});
    assert_field_error(app.post_json("/v1/interactions", &fax).await, "channel", "invalid_value").await;
    let no_direction = json!({"channel": "email", "occurred_at": at, "customer_id": olena});
    assert_field_error(app.post_json("/v1/interactions", &no_direction).await, "direction", "required").await;
    let no_time = json!({"channel": "note", "customer_id": olena});
    assert_field_error(app.post_json("/v1/interactions", &no_time).await, "occurred_at", "required").await;
    let cases = [
        ("subject", json!("a\u{0}b"), "subject", "invalid_characters"),
        ("subject", json!("x".repeat(301)), "subject", "too_long"),
        ("body", json!("x".repeat(100 * 1024 + 1)), "body", "too_long"),
        ("metadata", json!({"k": "nul\u{0}"}), "metadata", "invalid_characters"),
        ("metadata", json!({"k\u{0}": 1}), "metadata", "invalid_characters"),
        ("occurred_at", json!("2999-01-01T00:00:00Z"), "occurred_at", "in_future"),
        ("occurred_at", json!("1850-01-01T00:00:00Z"), "occurred_at", "out_of_range"),
        ("occurred_at", json!("yesterday"), "occurred_at", "invalid_value"),
        ("duration_seconds", json!(-5), "duration_seconds", "invalid_value"),
        ("duration_seconds", json!(10_000_000), "duration_seconds", "out_of_range"),
        ("customer_id", json!(uuid::Uuid::now_v7()), "customer_id", "not_found"),
        ("customer_id", json!("not-a-uuid"), "customer_id", "invalid_value"),
        ("user_id", json!(uuid::Uuid::now_v7()), "user_id", "not_found"),
        ("id", json!(uuid::Uuid::now_v7()), "id", "unknown_field"),
        ("version", json!(3), "version", "unknown_field"),
        ("created_at", json!(at), "created_at", "unknown_field"),
        ("workspace_id", json!(uuid::Uuid::now_v7()), "workspace_id", "unknown_field"),
    ];
    for (field, value, error_field, code) in cases {
        let mut body = call(&olena, at);
        body[field] = value;
        let response = app.post_json("/v1/interactions", &body).await;
        let problem = assert_field_error(response, error_field, code).await;
        assert_eq!(problem["errors"].as_array().map(Vec::len), Some(1), "{field}: {problem}");
    }
    // A customer of another workspace is unknown here.
    let other = app.second_workspace().await;
    let theirs = assert_json(
        app.with_key(&other).post_json("/v1/customers", &json!({"kind": "person", "first_name": "Rival"})).await,
        201,
    )
    .await;
    let body = call(theirs["id"].as_str().unwrap(), at);
    assert_field_error(app.post_json("/v1/interactions", &body).await, "customer_id", "not_found").await;
    assert!(app.admin().list_all("/v1/interactions").await.is_empty(), "nothing was created");
}
both_backends!(invalid_input_is_422);

async fn merge_patch_with_versions(app: TestApp) {
    let olena = customer(&app, "Olena").await;
    let created = post(&app, &call(&olena, "2026-01-10T09:30:00Z")).await;
    let path = path_of(&created);
    let patch = json!({"subject": "Renewal call (2)", "body": null, "metadata": {"crm": "x"}});
    let response = app.patch_json(&path, &patch).await;
    assert_eq!(header(response.headers(), "etag").as_deref(), Some("\"2\""));
    let updated = assert_json(response, 200).await;
    assert_eq!(updated["subject"], "Renewal call (2)", "{updated}");
    assert!(updated["body"].is_null(), "{updated}");
    assert_eq!(updated["metadata"], json!({"crm": "x"}), "{updated}");
    assert_eq!(updated["duration_seconds"], 540, "absent fields stay: {updated}");
    assert_eq!(updated["version"], 2, "{updated}");

    let same = assert_json(app.patch_json(&path, &json!({"subject": "Renewal call (2)"})).await, 200).await;
    assert_eq!(same["version"], 2, "a no-op patch keeps the version: {same}");

    let stale = app.request(Method::PATCH, &path).header("If-Match", "\"1\"").json(&json!({"subject": "Late"}));
    assert_problem(send(stale).await, 412, "version_mismatch").await;
    let fresh = app.request(Method::PATCH, &path).header("If-Match", "\"2\"").json(&json!({"channel": "meeting"}));
    assert_eq!(assert_json(send(fresh).await, 200).await["channel"], "meeting");

    assert_field_error(app.patch_json(&path, &json!({"customer_id": null})).await, "customer_id", "required").await;
    assert_field_error(app.patch_json(&path, &json!({"channel": "fax"})).await, "channel", "invalid_value").await;
    assert_field_error(app.patch_json(&path, &json!({"subject": "\u{0}"})).await, "subject", "invalid_characters")
        .await;
    assert_field_error(app.patch_json(&path, &json!({"id": null})).await, "id", "unknown_field").await;
    assert_field_error(app.patch_json(&path, &json!({"channel": "note"})).await, "direction", "invalid_value").await;
    let other_customer = customer(&app, "Taras").await;
    let moved = assert_json(app.patch_json(&path, &json!({"customer_id": other_customer})).await, 200).await;
    assert_eq!(moved["customer_id"], json!(other_customer), "{moved}");
    assert_eq!(moved["version"], 4, "{moved}");

    // A link that was valid stays editable after its customer is deleted.
    assert_no_content(app.delete(&format!("/v1/customers/{other_customer}")).await).await;
    let touched = assert_json(app.patch_json(&path, &json!({"subject": "After delete"})).await, 200).await;
    assert_eq!(touched["version"], 5, "{touched}");
    let relinked = app.patch_json(&path, &json!({"customer_id": olena})).await;
    assert_eq!(assert_json(relinked, 200).await["customer_id"], json!(olena));
    let dead = app.patch_json(&path, &json!({"customer_id": other_customer})).await;
    assert_field_error(dead, "customer_id", "not_found").await;
}
both_backends!(merge_patch_with_versions);

async fn external_ids_are_unique_among_live_interactions(app: TestApp) {
    let olena = customer(&app, "Olena").await;
    let mut email = call(&olena, "2026-01-10T09:30:00Z");
    email["channel"] = json!("email");
    email["external_id"] = json!("<msg-1@mail.example>");
    let first = post(&app, &email).await;
    let again = assert_problem(app.post_json("/v1/interactions", &email).await, 409, "interaction_exists").await;
    assert!(again["detail"].as_str().unwrap_or_default().contains(&id_of(&first)), "names the holder: {again}");

    let mut other = email.clone();
    other["external_id"] = json!("<msg-2@mail.example>");
    let second = post(&app, &other).await;
    let taken = app.patch_json(&path_of(&second), &json!({"external_id": "<msg-1@mail.example>"})).await;
    assert_problem(taken, 409, "interaction_exists").await;

    // Another workspace has its own namespace.
    let key = app.second_workspace().await;
    let rival = assert_json(
        app.with_key(&key).post_json("/v1/customers", &json!({"kind": "person", "first_name": "Rival"})).await,
        201,
    )
    .await;
    let mut theirs = email.clone();
    theirs["customer_id"] = rival["id"].clone();
    assert_json(app.with_key(&key).post_json("/v1/interactions", &theirs).await, 201).await;

    // Deleting frees the id; restoring the old one while the id is taken is a conflict.
    assert_no_content(app.delete(&path_of(&first)).await).await;
    let replacement = post(&app, &email).await;
    let restore = app.post_json(&format!("{}/restore", path_of(&first)), &json!({})).await;
    assert_problem(restore, 409, "interaction_exists").await;
    assert_no_content(app.delete(&path_of(&replacement)).await).await;
    let restored = assert_json(app.post_json(&format!("{}/restore", path_of(&first)), &json!({})).await, 200).await;
    assert!(restored["deleted_at"].is_null(), "{restored}");
}
both_backends!(external_ids_are_unique_among_live_interactions);

async fn delete_restore_and_history(app: TestApp) {
    let olena = customer(&app, "Olena").await;
    let kept = post(&app, &call(&olena, "2026-01-09T09:30:00Z")).await;
    let created = post(&app, &call(&olena, "2026-01-10T09:30:00Z")).await;
    let path = path_of(&created);
    assert_json(app.patch_json(&path, &json!({"subject": "Changed"})).await, 200).await;
    let stale = send(app.request(Method::DELETE, &path).header("If-Match", "\"1\"")).await;
    assert_problem(stale, 412, "version_mismatch").await;
    let token = app.login(&app.admin_email, &app.admin_password).await;
    assert_no_content(app.with_token(&token).delete(&path).await).await;
    assert_problem(app.get(&path).await, 404, "not_found").await;
    assert_problem(app.delete(&path).await, 404, "not_found").await;
    assert_problem(app.patch_json(&path, &json!({"subject": "x"})).await, 404, "not_found").await;
    let deleted = assert_json(app.get(&format!("{path}?include_deleted=true")).await, 200).await;
    assert!(deleted["deleted_at"].is_string(), "{deleted}");
    assert_eq!(ids(&app.admin().list_all("/v1/interactions").await), set(&[&id_of(&kept)]));
    assert_eq!(ids(&app.admin().list_all("/v1/interactions?deleted=true").await), set(&[&id_of(&created)]));

    let stale = send(app.request(Method::POST, &format!("{path}/restore")).header("If-Match", "\"2\"")).await;
    assert_problem(stale, 412, "version_mismatch").await;
    let restored = assert_json(app.post_json(&format!("{path}/restore"), &json!({})).await, 200).await;
    assert!(restored["deleted_at"].is_null(), "{restored}");
    assert_eq!(restored["version"], 4, "{restored}");
    let again = assert_json(app.post_json(&format!("{path}/restore"), &json!({})).await, 200).await;
    assert_eq!(again["version"], 4, "restoring a live interaction changes nothing");

    let events = app.admin().list_all(&format!("{path}/history?limit=1")).await;
    let actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["restore", "delete", "update", "create"]);
    assert_eq!(events[1]["actor"], json!({"type": "user", "id": app.user_id}), "{}", events[1]);
    assert_eq!(events[2]["entity_type"], "interaction", "{}", events[2]);
    assert_eq!(
        events[2]["changes"],
        json!([{"field": "subject", "from": "Renewal call", "to": "Changed"}]),
        "{}",
        events[2]
    );
}
both_backends!(delete_restore_and_history);

async fn filters_and_date_ranges(app: TestApp) {
    let olena = customer(&app, "Olena").await;
    let taras = customer(&app, "Taras").await;
    let sales = app.create_user("sales").await;
    let mut a = call(&olena, "2026-01-01T08:00:00Z");
    a["subject"] = json!("Quarterly REVIEW");
    let a = id_of(&post(&app, &a).await);
    let mut b = call(&olena, "2026-01-05T12:00:00Z");
    b["channel"] = json!("email");
    b["direction"] = json!("inbound");
    b["subject"] = json!("Invoice 100% paid");
    b["user_id"] = json!(sales.id);
    let b = id_of(&post(&app, &b).await);
    let c = json!({"channel": "note", "occurred_at": "2026-01-10T00:00:00Z", "customer_id": taras, "subject": "n_1"});
    let c = id_of(&post(&app, &c).await);
    let mut d = call(&taras, "2026-02-01T00:00:00Z");
    d["channel"] = json!("meeting");
    let d = id_of(&post(&app, &d).await);

    let cases: Vec<(String, BTreeSet<String>)> = vec![
        (format!("customer_id={olena}"), set(&[&a, &b])),
        (format!("customer_id={taras}"), set(&[&c, &d])),
        (format!("customer_id={}", uuid::Uuid::now_v7()), set(&[])),
        ("channel=email".into(), set(&[&b])),
        ("channel=email,note".into(), set(&[&b, &c])),
        ("channel=phone, meeting".into(), set(&[&a, &d])),
        ("direction=inbound".into(), set(&[&b])),
        ("direction=internal".into(), set(&[&c])),
        ("direction=outbound".into(), set(&[&a, &d])),
        (format!("user_id={}", sales.id), set(&[&b])),
        ("occurred_after=2026-01-05T12:00:00Z".into(), set(&[&b, &c, &d])),
        ("occurred_before=2026-01-05T12:00:00Z".into(), set(&[&a])),
        ("occurred_after=2026-01-02T00:00:00Z&occurred_before=2026-02-01T00:00:00Z".into(), set(&[&b, &c])),
        ("occurred_after=2026-01-01T00:00:00%2B02:00&occurred_before=2026-01-01T07:00:00Z".into(), set(&[])),
        (format!("channel=phone,email&customer_id={olena}&occurred_after=2026-01-02T00:00:00Z"), set(&[&b])),
        ("q=review".into(), set(&[&a])),
        ("q=100%25".into(), set(&[&b])),
        ("q=n_".into(), set(&[&c])),
        ("q=_".into(), set(&[&c])),
        ("q=renewal".into(), set(&[&d])),
        ("deleted=true".into(), set(&[])),
    ];
    for (query, expected) in cases {
        let listed = ids(&app.admin().list_all(&format!("/v1/interactions?{query}")).await);
        assert_eq!(listed, expected, "?{query}");
    }
    for query in [
        "channel=fax",
        "channel=email,",
        "direction=sideways",
        "sort=subject",
        "sort=-updated_at",
        "occurred_after=yesterday",
        "customer_id=42",
        "user_id=me",
        "limit=0",
        "limit=201",
        "foo=bar",
        "deleted=maybe",
        "q=a%00b",
    ] {
        let response = app.get(&format!("/v1/interactions?{query}")).await;
        assert_problem(response, 400, "invalid_parameter").await;
    }
    let long_q = format!("/v1/interactions?q={}", "x".repeat(201));
    assert_problem(app.get(&long_q).await, 400, "invalid_parameter").await;
    assert_problem(app.get("/v1/interactions?cursor=garbage").await, 400, "invalid_cursor").await;
}
both_backends!(filters_and_date_ranges);

async fn pagination_follows_every_sort(app: TestApp) {
    let olena = customer(&app, "Olena").await;
    // Created in an order unrelated to occurred_at; two share a timestamp (ties go by id).
    let times = [
        "2026-01-05T00:00:00Z",
        "2026-01-01T00:00:00Z",
        "2026-01-03T00:00:00Z",
        "2026-01-03T00:00:00Z",
        "2026-01-07T00:00:00Z",
        "2026-01-02T00:00:00Z",
        "2026-01-06T00:00:00Z",
    ];
    let mut created = Vec::new();
    for at in times {
        created.push((at, id_of(&post(&app, &call(&olena, at)).await)));
    }
    let mut by_occurred = created.clone();
    by_occurred.sort();
    let ascending: Vec<String> = by_occurred.iter().map(|(_, id)| id.clone()).collect();
    let descending: Vec<String> = ascending.iter().rev().cloned().collect();
    let creation: Vec<String> = created.iter().map(|(_, id)| id.clone()).collect();
    let newest: Vec<String> = creation.iter().rev().cloned().collect();
    for (query, expected) in [
        ("limit=2", &descending),
        ("limit=3&sort=-occurred_at", &descending),
        ("limit=2&sort=occurred_at", &ascending),
        ("limit=3&sort=created_at", &creation),
        ("limit=2&sort=-created_at", &newest),
        ("limit=200", &descending),
    ] {
        let listed: Vec<String> =
            app.admin().list_all(&format!("/v1/interactions?{query}")).await.iter().map(id_of).collect();
        assert_eq!(&listed, expected, "?{query}");
    }
    let customer_page: Vec<String> = app
        .admin()
        .list_all(&format!("/v1/interactions?customer_id={olena}&limit=2&occurred_before=2026-01-06T00:00:00Z"))
        .await
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(customer_page, descending[2..].to_vec());
    let first = assert_json(app.get("/v1/interactions?limit=3&sort=occurred_at").await, 200).await;
    let cursor = first["next_cursor"].as_str().expect("a next cursor");
    let wrong_sort = app.get(&format!("/v1/interactions?limit=3&sort=created_at&cursor={cursor}")).await;
    assert_problem(wrong_sort, 400, "invalid_cursor").await;
}
both_backends!(pagination_follows_every_sort);

async fn unknown_ids_are_404(app: TestApp) {
    let path = format!("/v1/interactions/{}", uuid::Uuid::now_v7());
    assert_problem(app.get(&path).await, 404, "not_found").await;
    assert_problem(app.patch_json(&path, &json!({"subject": "x"})).await, 404, "not_found").await;
    assert_problem(app.delete(&path).await, 404, "not_found").await;
    assert_problem(app.post_json(&format!("{path}/restore"), &json!({})).await, 404, "not_found").await;
    assert_problem(app.get(&format!("{path}/history")).await, 404, "not_found").await;
    assert_problem(app.get("/v1/interactions/not-a-uuid").await, 400, "invalid_parameter").await;
}
both_backends!(unknown_ids_are_404);

async fn other_workspaces_see_nothing(app: TestApp) {
    let olena = customer(&app, "Olena").await;
    let mine = post(&app, &call(&olena, "2026-01-10T09:30:00Z")).await;
    let path = path_of(&mine);
    let other = app.second_workspace().await;
    let other = app.with_key(&other);
    assert_problem(other.get(&path).await, 404, "not_found").await;
    assert_problem(other.get(&format!("{path}?include_deleted=true")).await, 404, "not_found").await;
    assert_problem(other.patch_json(&path, &json!({"subject": "Hacked"})).await, 404, "not_found").await;
    assert_problem(other.delete(&path).await, 404, "not_found").await;
    assert_problem(other.post_json(&format!("{path}/restore"), &json!({})).await, 404, "not_found").await;
    assert_problem(other.get(&format!("{path}/history")).await, 404, "not_found").await;
    for query in ["", "?deleted=true", "?q=renewal", "?channel=phone"] {
        let found = other.list_all(&format!("/v1/interactions{query}")).await;
        assert!(found.is_empty(), "{query}: {found:?}");
    }
    let linked = other.post_json("/v1/interactions", &call(&olena, "2026-01-10T09:30:00Z")).await;
    assert_field_error(linked, "customer_id", "not_found").await;
    let rival =
        assert_json(other.post_json("/v1/customers", &json!({"kind": "person", "first_name": "R"})).await, 201).await;
    let mut with_user = call(rival["id"].as_str().unwrap(), "2026-01-10T09:30:00Z");
    with_user["user_id"] = json!(app.user_id);
    assert_field_error(other.post_json("/v1/interactions", &with_user).await, "user_id", "not_found").await;
    assert_eq!(assert_json(app.get(&path).await, 200).await, mine, "untouched");
}
both_backends!(other_workspaces_see_nothing);

async fn scopes_and_roles_are_enforced(app: TestApp) {
    let olena = customer(&app, "Olena").await;
    let existing = post(&app, &call(&olena, "2026-01-10T09:30:00Z")).await;
    let path = path_of(&existing);
    let body = call(&olena, "2026-01-11T09:30:00Z");

    let reader = app.create_api_key(&["interactions:read"]).await;
    let reader = app.with_key(&reader);
    assert_eq!(ids(&reader.list_all("/v1/interactions").await), set(&[&id_of(&existing)]));
    assert_json(reader.get(&path).await, 200).await;
    assert_json(reader.get(&format!("{path}/history")).await, 200).await;
    assert_problem(reader.post_json("/v1/interactions", &body).await, 403, "forbidden").await;
    assert_problem(reader.patch_json(&path, &json!({"subject": "x"})).await, 403, "forbidden").await;
    assert_problem(reader.delete(&path).await, 403, "forbidden").await;
    assert_problem(reader.post_json(&format!("{path}/restore"), &json!({})).await, 403, "forbidden").await;

    let unrelated = app.create_api_key(&["customers:write", "tasks:write"]).await;
    let unrelated = app.with_key(&unrelated);
    assert_problem(unrelated.get("/v1/interactions").await, 403, "forbidden").await;
    assert_problem(unrelated.get(&path).await, 403, "forbidden").await;
    assert_problem(unrelated.get(&format!("{path}/history")).await, 403, "forbidden").await;

    let viewer = app.create_user("viewer").await;
    let token = app.login(&viewer.email, &viewer.password).await;
    let viewer = app.with_token(&token);
    assert_json(viewer.get(&path).await, 200).await;
    assert_problem(viewer.post_json("/v1/interactions", &body).await, 403, "forbidden").await;
    assert_problem(viewer.patch_json(&path, &json!({"subject": "x"})).await, 403, "forbidden").await;
    assert_problem(viewer.delete(&path).await, 403, "forbidden").await;

    let support = app.create_user("support").await;
    let token = app.login(&support.email, &support.password).await;
    let logged = assert_json(app.with_token(&token).post_json("/v1/interactions", &body).await, 201).await;
    assert_eq!(logged["user_id"], json!(support.id), "{logged}");
    assert_problem(app.anonymous().get("/v1/interactions").await, 401, "unauthorized").await;
}
both_backends!(scopes_and_roles_are_enforced);
