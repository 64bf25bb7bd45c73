//! Authentication: sign-in, refresh-token rotation and reuse detection, sign-out, `/v1/me`,
//! and credentials that must be refused (forged JWTs, unknown and revoked keys).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crm_api::config::Config;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_json, assert_no_content, assert_problem, both_backends, header};

async fn login_tokens(app: &TestApp, email: &str, password: &str) -> Value {
    let body = json!({"email": email, "password": password});
    assert_json(app.anonymous().post_json("/v1/auth/login", &body).await, 200).await
}

async fn refresh(app: &TestApp, refresh_token: &Value) -> reqwest::Response {
    let body = json!({"refresh_token": refresh_token});
    app.anonymous().post_json("/v1/auth/refresh", &body).await
}

fn assert_token_shape(tokens: &Value) {
    assert!(tokens["access_token"].as_str().is_some_and(|t| !t.is_empty()), "{tokens}");
    assert!(tokens["refresh_token"].as_str().is_some_and(|t| !t.is_empty()), "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer", "{tokens}");
    assert_eq!(tokens["expires_in"], 900, "{tokens}");
}

async fn login_issues_tokens_that_work(app: TestApp) {
    let tokens = login_tokens(&app, &app.admin_email, &app.admin_password).await;
    assert_token_shape(&tokens);
    let access = tokens["access_token"].as_str().unwrap();
    let me = assert_json(app.with_token(access).get("/v1/me").await, 200).await;
    assert_eq!(me["workspace_id"], app.workspace_id.as_str(), "{me}");
    assert_eq!(me["actor"], json!({"type": "user", "id": app.user_id}), "{me}");
    assert_eq!(me["user"]["id"], app.user_id.as_str(), "{me}");
    assert_eq!(me["user"]["email"], app.admin_email.as_str(), "{me}");
    let scopes = me["scopes"].as_array().expect("scopes");
    for scope in ["customers:read", "customers:write", "users:read", "users:admin"] {
        assert!(scopes.contains(&json!(scope)), "an admin holds {scope}: {me}");
    }
    let user = me["user"].as_object().unwrap();
    assert!(user.keys().all(|k| !k.contains("password")), "{me}");
}
both_backends!(login_issues_tokens_that_work);

async fn login_with_wrong_password_is_refused(app: TestApp) {
    let wrong = json!({"email": app.admin_email, "password": "not the password"});
    let response = app.anonymous().post_json("/v1/auth/login", &wrong).await;
    assert_problem(response, 401, "invalid_credentials").await;
    // An unknown email gets the same answer: no user enumeration.
    let unknown = json!({"email": "nobody@example.test", "password": "whatever 12345"});
    let response = app.anonymous().post_json("/v1/auth/login", &unknown).await;
    assert_problem(response, 401, "invalid_credentials").await;
    // The email is matched case-insensitively.
    let upper = json!({"email": app.admin_email.to_uppercase(), "password": app.admin_password});
    assert_json(app.anonymous().post_json("/v1/auth/login", &upper).await, 200).await;
}
both_backends!(login_with_wrong_password_is_refused);

async fn refresh_rotates_the_refresh_token(app: TestApp) {
    let first = login_tokens(&app, &app.admin_email, &app.admin_password).await;
    let second = assert_json(refresh(&app, &first["refresh_token"]).await, 200).await;
    assert_token_shape(&second);
    assert_ne!(second["refresh_token"], first["refresh_token"], "a NEW refresh token");
    let access = second["access_token"].as_str().unwrap();
    assert_json(app.with_token(access).get("/v1/me").await, 200).await;
    let third = assert_json(refresh(&app, &second["refresh_token"]).await, 200).await;
    assert_token_shape(&third);
}
both_backends!(refresh_rotates_the_refresh_token);

async fn reusing_a_refresh_token_revokes_its_family(app: TestApp) {
    let first = login_tokens(&app, &app.admin_email, &app.admin_password).await;
    let second = assert_json(refresh(&app, &first["refresh_token"]).await, 200).await;
    // Replaying the used token (a thief, or a client bug) is refused…
    assert_problem(refresh(&app, &first["refresh_token"]).await, 401, "unauthorized").await;
    // …and the newer token of the same family dies with it.
    assert_problem(refresh(&app, &second["refresh_token"]).await, 401, "unauthorized").await;
    // Another sign-in is a new family and unaffected.
    let other = login_tokens(&app, &app.admin_email, &app.admin_password).await;
    assert_json(refresh(&app, &other["refresh_token"]).await, 200).await;
}
both_backends!(reusing_a_refresh_token_revokes_its_family);

async fn unknown_refresh_tokens_are_refused(app: TestApp) {
    for token in [json!("not-a-token"), json!(""), json!("a".repeat(500))] {
        assert_problem(refresh(&app, &token).await, 401, "unauthorized").await;
    }
}
both_backends!(unknown_refresh_tokens_are_refused);

async fn logout_revokes_the_refresh_token(app: TestApp) {
    let tokens = login_tokens(&app, &app.admin_email, &app.admin_password).await;
    let body = json!({"refresh_token": tokens["refresh_token"]});
    assert_no_content(app.anonymous().post_json("/v1/auth/logout", &body).await).await;
    assert_problem(refresh(&app, &tokens["refresh_token"]).await, 401, "unauthorized").await;
}
both_backends!(logout_revokes_the_refresh_token);

async fn me_with_an_api_key(app: TestApp) {
    let me = assert_json(app.get("/v1/me").await, 200).await;
    assert_eq!(me["workspace_id"], app.workspace_id.as_str(), "{me}");
    assert_eq!(me["actor"]["type"], "api_key", "{me}");
    assert!(me["actor"]["id"].is_string(), "{me}");
    assert!(me["user"].is_null(), "an API key is not a user: {me}");
    assert!(me["scopes"].as_array().is_some_and(|s| !s.is_empty()), "{me}");
}
both_backends!(me_with_an_api_key);

async fn missing_or_unknown_credentials_are_unauthorized(app: TestApp) {
    let response = app.anonymous().get("/v1/customers").await;
    assert_problem(response, 401, "unauthorized").await;
    let body = json!({"kind": "person", "first_name": "Anon"});
    let response = app.anonymous().post_json("/v1/customers", &body).await;
    assert_problem(response, 401, "unauthorized").await;
    let wrong_secret = format!("{}x", app.api_key);
    let wrong_secret_same_prefix = {
        let (prefix, _) = app.api_key.rsplit_once('_').unwrap();
        format!("{prefix}_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    };
    for key in ["crm_nope_nope", "nonsense", "crm__", wrong_secret.as_str(), &wrong_secret_same_prefix] {
        let response = app.with_key(key).get("/v1/customers").await;
        assert_problem(response, 401, "unauthorized").await;
    }
}
both_backends!(missing_or_unknown_credentials_are_unauthorized);

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn forged_jwts_are_unauthorized(app: TestApp) {
    let tokens = login_tokens(&app, &app.admin_email, &app.admin_password).await;
    let genuine = tokens["access_token"].as_str().unwrap();
    assert_json(app.with_token(genuine).get("/v1/me").await, 200).await;

    let parts: Vec<&str> = genuine.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {genuine}");
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let none = b64(br#"{"alg":"none","typ":"JWT"}"#);
    let none_upper = b64(br#"{"alg":"NONE","typ":"JWT"}"#);
    let wrong_key = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(b"this is not the server's secret, but it is long"),
    )
    .unwrap();
    let mut escalated = claims.clone();
    escalated["exp"] = json!(4_102_444_800_u64);
    escalated["sub"] = json!(uuid::Uuid::now_v7());
    let tampered = format!("{}.{}.{}", parts[0], b64(&serde_json::to_vec(&escalated).unwrap()), parts[2]);

    let forged = [
        format!("{none}.{}.", parts[1]),
        format!("{none}.{}", parts[1]),
        format!("{none_upper}.{}.", parts[1]),
        format!("{none}.{}.{}", parts[1], parts[2]),
        wrong_key,
        tampered,
        "garbage".to_owned(),
        "a.b.c".to_owned(),
        format!("{genuine}x"),
        tokens["refresh_token"].as_str().unwrap().to_owned(),
    ];
    for token in &forged {
        let response = app.with_token(token).get("/v1/me").await;
        let problem = assert_problem(response, 401, "unauthorized").await;
        assert!(!problem.to_string().contains(&app.user_id), "{token}: {problem}");
    }
    let response = app
        .anonymous()
        .request(reqwest::Method::GET, "/v1/me")
        .header("Authorization", "Basic YWRtaW46YWRtaW4=")
        .header("X-API-Key", "")
        .send()
        .await
        .unwrap();
    assert_problem(response, 401, "unauthorized").await;
}
both_backends!(forged_jwts_are_unauthorized);

async fn deactivated_users_cannot_sign_in(app: TestApp) {
    let user = app.create_user("sales").await;
    let tokens = login_tokens(&app, &user.email, &user.password).await;
    let patch = json!({"active": false});
    assert_json(app.patch_json(&format!("/v1/users/{}", user.id), &patch).await, 200).await;
    let body = json!({"email": user.email, "password": user.password});
    let response = app.anonymous().post_json("/v1/auth/login", &body).await;
    let problem = crate::helpers::assert_any_problem(response).await;
    assert_eq!(problem["status"], 401, "{problem}");
    // Deactivation signs the user out everywhere.
    assert_problem(refresh(&app, &tokens["refresh_token"]).await, 401, "unauthorized").await;
}
both_backends!(deactivated_users_cannot_sign_in);

async fn a_viewer_reads_but_cannot_write(app: TestApp) {
    let viewer = app.create_user("viewer").await;
    let token = app.login(&viewer.email, &viewer.password).await;
    let viewer = app.with_token(&token);
    assert_json(viewer.get("/v1/customers").await, 200).await;
    let body = json!({"kind": "person", "first_name": "Olena"});
    assert_problem(viewer.post_json("/v1/customers", &body).await, 403, "forbidden").await;
    let me = assert_json(viewer.get("/v1/me").await, 200).await;
    assert!(!me["scopes"].as_array().unwrap().contains(&json!("customers:write")), "{me}");
}
both_backends!(a_viewer_reads_but_cannot_write);

fn strict_login_limit(config: &mut Config) {
    config.login_attempts_per_minute = 3;
}

async fn login_attempts_are_rate_limited(app: TestApp) {
    let wrong = json!({"email": app.admin_email, "password": "guessing 123456"});
    for attempt in 0..10 {
        let response = app.anonymous().post_json("/v1/auth/login", &wrong).await;
        if response.status() == 429 {
            assert!(attempt >= 3, "limited after only {attempt} attempts");
            let retry_after = header(response.headers(), "retry-after");
            assert!(retry_after.is_some_and(|s| s.parse::<u64>().is_ok()), "Retry-After");
            assert_problem(response, 429, "rate_limited").await;
            return;
        }
        assert_problem(response, 401, "invalid_credentials").await;
    }
    panic!("10 wrong passwords within a minute were never rate limited (limit 3/min)");
}
both_backends!(login_attempts_are_rate_limited, configure = strict_login_limit);
