//! Users: created, listed, changed and removed by admins only; never showing a password.

use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_field_error, assert_json, assert_no_content, assert_problem, both_backends, header, ids,
    unique_email,
};

fn assert_no_secrets(user: &Value) {
    let object = user.as_object().expect("a user object");
    for key in object.keys() {
        assert!(!key.contains("password") && !key.contains("hash"), "{key} in {user}");
    }
}

async fn admin_creates_a_user(app: TestApp) {
    let email = unique_email("Taras");
    let body = json!({"email": email, "name": " Taras ", "role": "sales", "password": "correct horse battery"});
    let response = app.post_json("/v1/users", &body).await;
    let location = header(response.headers(), "location");
    let etag = header(response.headers(), "etag");
    let user = assert_json(response, 201).await;
    let id = user["id"].as_str().expect("an id");
    assert_eq!(location.as_deref(), Some(format!("/v1/users/{id}").as_str()));
    assert_eq!(etag.as_deref(), Some("\"1\""));
    assert_eq!(user["email"], email.to_lowercase(), "{user}");
    assert_eq!(user["name"], "Taras", "{user}");
    assert_eq!(user["role"], "sales", "{user}");
    assert_eq!(user["active"], true, "{user}");
    assert_eq!(user["version"], 1, "{user}");
    assert_eq!(user["workspace_id"], app.workspace_id.as_str(), "{user}");
    assert_no_secrets(&user);

    let response = app.get(&format!("/v1/users/{id}")).await;
    assert_eq!(header(response.headers(), "etag").as_deref(), Some("\"1\""));
    let fetched = assert_json(response, 200).await;
    assert_eq!(fetched, user);
    // The new user can sign in with the password given.
    app.login(&email, "correct horse battery").await;
}
both_backends!(admin_creates_a_user);

async fn duplicate_email_is_a_conflict(app: TestApp) {
    let user = app.create_user("support").await;
    let body =
        json!({"email": user.email.to_uppercase(), "name": "Twin", "role": "viewer", "password": "another password"});
    assert_problem(app.post_json("/v1/users", &body).await, 409, "email_taken").await;
    let admin_twin =
        json!({"email": app.admin_email, "name": "Twin", "role": "viewer", "password": "another password"});
    assert_problem(app.post_json("/v1/users", &admin_twin).await, 409, "email_taken").await;
}
both_backends!(duplicate_email_is_a_conflict);

async fn invalid_users_are_rejected(app: TestApp) {
    let base = json!({"email": unique_email("x"), "name": "X", "role": "sales", "password": "long enough pw"});
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let cases = [
        (with("password", json!("short")), "password", "too_short"),
        (with("email", json!("not-an-email")), "email", "invalid_format"),
        (with("email", json!("\u{b}x@example.test")), "email", "invalid_characters"),
        (with("name", json!("   ")), "name", "required"),
        (with("role", json!("root")), "role", "invalid_value"),
        (with("password_hash", json!("x")), "password_hash", "unknown_field"),
    ];
    for (body, field, code) in cases {
        assert_field_error(app.post_json("/v1/users", &body).await, field, code).await;
    }
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("password");
    assert_field_error(app.post_json("/v1/users", &missing).await, "password", "required").await;
}
both_backends!(invalid_users_are_rejected);

async fn users_are_listed_without_secrets(app: TestApp) {
    let sales = app.create_user("sales").await;
    let page = assert_json(app.get("/v1/users").await, 200).await;
    let data = page["data"].as_array().expect("data");
    assert!(page.get("next_cursor").is_some(), "{page}");
    let listed = ids(data);
    assert!(listed.contains(&app.user_id) && listed.contains(&sales.id), "{page}");
    data.iter().for_each(assert_no_secrets);
    // Paging with limit=1 visits each user once.
    let all = app.admin().list_all("/v1/users?limit=1").await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(ids(&all), listed);
}
both_backends!(users_are_listed_without_secrets);

async fn users_are_updated_and_deleted(app: TestApp) {
    let user = app.create_user("sales").await;
    let path = format!("/v1/users/{}", user.id);
    let response = app.patch_json(&path, &json!({"role": "manager", "name": "Renamed"})).await;
    assert_eq!(header(response.headers(), "etag").as_deref(), Some("\"2\""));
    let updated = assert_json(response, 200).await;
    assert_eq!((updated["role"].as_str(), updated["name"].as_str()), (Some("manager"), Some("Renamed")));
    assert_eq!(updated["version"], 2, "{updated}");
    assert_no_secrets(&updated);

    let stale = app
        .request(reqwest::Method::PATCH, &path)
        .header("If-Match", "\"1\"")
        .json(&json!({"name": "Late"}))
        .send()
        .await
        .unwrap();
    assert_problem(stale, 412, "version_mismatch").await;

    let new_password = "a brand new password";
    assert_json(app.patch_json(&path, &json!({"password": new_password})).await, 200).await;
    app.login(&user.email, new_password).await;
    let old = json!({"email": user.email, "password": user.password});
    let response = app.anonymous().post_json("/v1/auth/login", &old).await;
    assert_problem(response, 401, "invalid_credentials").await;

    let unknown = json!({"email": "x@example.test"});
    assert_field_error(app.patch_json(&path, &unknown).await, "email", "unknown_field").await;

    assert_no_content(app.delete(&path).await).await;
    assert_problem(app.get(&path).await, 404, "not_found").await;
    let listed = ids(&app.admin().list_all("/v1/users").await);
    assert!(!listed.contains(&user.id), "a deleted user is not listed");
    let login = json!({"email": user.email, "password": new_password});
    let response = app.anonymous().post_json("/v1/auth/login", &login).await;
    assert_problem(response, 401, "invalid_credentials").await;
}
both_backends!(users_are_updated_and_deleted);

async fn only_admins_manage_users(app: TestApp) {
    for role in ["manager", "sales", "support", "viewer"] {
        let user = app.create_user(role).await;
        let token = app.login(&user.email, &user.password).await;
        let caller = app.with_token(&token);
        let body = json!({"email": unique_email("new"), "name": "New", "role": "admin", "password": "long enough pw"});
        let response = caller.post_json("/v1/users", &body).await;
        assert_problem(response, 403, "forbidden").await;
        let escalate = json!({"role": "admin"});
        let response = caller.patch_json(&format!("/v1/users/{}", user.id), &escalate).await;
        assert_problem(response, 403, "forbidden").await;
        // Reading users is allowed to every role.
        assert_json(caller.get("/v1/users").await, 200).await;
    }
    let reader = app.create_api_key(&["users:read"]).await;
    let reader = app.with_key(&reader);
    assert_json(reader.get("/v1/users").await, 200).await;
    assert_json(reader.get(&format!("/v1/users/{}", app.user_id)).await, 200).await;
    let body = json!({"email": unique_email("new"), "name": "New", "role": "sales", "password": "long enough pw"});
    assert_problem(reader.post_json("/v1/users", &body).await, 403, "forbidden").await;
    let response = reader.delete(&format!("/v1/users/{}", app.user_id)).await;
    assert_problem(response, 403, "forbidden").await;
    let customers_only = app.create_api_key(&["customers:write"]).await;
    let response = app.with_key(&customers_only).get("/v1/users").await;
    assert_problem(response, 403, "forbidden").await;
}
both_backends!(only_admins_manage_users);

async fn users_of_other_workspaces_are_invisible(app: TestApp) {
    let other = app.second_workspace().await;
    let other = app.with_key(&other);
    let path = format!("/v1/users/{}", app.user_id);
    let before = assert_json(app.get(&path).await, 200).await;
    assert_problem(other.get(&path).await, 404, "not_found").await;
    let patch = json!({"name": "Hijacked"});
    assert_problem(other.patch_json(&path, &patch).await, 404, "not_found").await;
    assert_problem(other.delete(&path).await, 404, "not_found").await;
    let listed = ids(&other.list_all("/v1/users").await);
    assert!(!listed.contains(&app.user_id), "{listed:?}");
    assert_eq!(assert_json(app.get(&path).await, 200).await, before);
}
both_backends!(users_of_other_workspaces_are_invisible);
