//! Web forms: configuration (CRUD, token rotation, who may), and the public submission
//! endpoint: JSON and URL-encoded bodies, mapping, honeypot, CORS and preflight, limits,
//! dedupe to an existing lead or customer, and ten concurrent submissions making one lead.

use crm_api::config::Config;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_field_error, assert_json, assert_no_content, assert_problem, both_backends, header, send,
};

const SHOP: &str = "https://shop.example";

async fn post_form(app: &TestApp, body: &Value) -> Value {
    assert_json(app.post_json("/v1/web-forms", body).await, 201).await
}

async fn contact_form(app: &TestApp) -> Value {
    post_form(
        app,
        &json!({"name": "Contact", "allowed_origins": [SHOP], "default_owner_id": app.user_id,
                "default_tags": ["website"], "field_mapping": {"your_email": "email", "budget": "form_data.budget"}}),
    )
    .await
}

fn form_path(form: &Value) -> String {
    format!("/v1/web-forms/{}", form["id"].as_str().expect("a form id"))
}

fn submissions(form: &Value) -> String {
    form["submission_path"].as_str().expect("a submission path").to_owned()
}

/// Posts JSON to a form without credentials, from `origin` when given.
async fn submit(app: &TestApp, form: &Value, origin: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = app.anonymous().request(Method::POST, &submissions(form)).json(body);
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    send(request).await
}

async fn leads(app: &TestApp) -> Vec<Value> {
    app.admin().list_all("/v1/leads").await
}

async fn forms_crud_and_tokens(app: TestApp) {
    let response = app
        .post_json("/v1/web-forms", &json!({"name": " Contact ", "allowed_origins": ["HTTPS://Shop.Example:443"]}))
        .await;
    let location = header(response.headers(), "location");
    let form = assert_json(response, 201).await;
    let path = form_path(&form);
    assert_eq!(location, Some(path.clone()));
    assert_eq!(form["name"], "Contact", "{form}");
    assert_eq!(form["allowed_origins"], json!([SHOP]), "{form}");
    assert_eq!((form["honeypot_field"].as_str(), form["active"].as_bool()), (Some("website_url"), Some(true)));
    assert_eq!(form["submission_count"], 0, "{form}");
    let token = form["public_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("wf_") && token.len() >= 3 + 22, "{token}");
    assert_eq!(form["submission_path"], format!("/v1/forms/{token}/submissions"));
    assert_eq!(assert_json(app.get(&path).await, 200).await, form);
    assert_eq!(app.admin().list_all("/v1/web-forms").await, vec![form.clone()]);

    let invalid = [
        (json!({"name": ""}), "name", "required"),
        (
            json!({"name": "F", "allowed_origins": ["https://shop.example/path"]}),
            "allowed_origins[0]",
            "invalid_format",
        ),
        (json!({"name": "F", "field_mapping": {"x": "score"}}), "field_mapping.x", "invalid_value"),
        (json!({"name": "F", "default_owner_id": uuid::Uuid::now_v7()}), "default_owner_id", "not_found"),
        (json!({"name": "F", "public_token": "mine"}), "public_token", "unknown_field"),
        (json!({"name": "F", "default_tags": ["x".repeat(65)]}), "default_tags[0]", "too_long"),
    ];
    for (body, field, code) in invalid {
        assert_field_error(app.post_json("/v1/web-forms", &body).await, field, code).await;
    }

    let patched =
        assert_json(app.patch_json(&path, &json!({"name": "Renamed", "honeypot_field": ""})).await, 200).await;
    assert_eq!((patched["name"].as_str(), patched["version"].as_i64()), (Some("Renamed"), Some(2)));
    assert_eq!(patched["honeypot_field"], "", "{patched}");
    assert_field_error(
        app.patch_json(&path, &json!({"allowed_origins": ["*"]})).await,
        "allowed_origins[0]",
        "invalid_format",
    )
    .await;
    let stale = send(app.request(Method::PATCH, &path).header("If-Match", "\"1\"").json(&json!({"name": "x"}))).await;
    assert_problem(stale, 412, "version_mismatch").await;

    let rotated = assert_json(app.post_json(&format!("{path}/rotate-token"), &json!({})).await, 200).await;
    assert_ne!(rotated["public_token"], form["public_token"]);
    assert_problem(submit(&app, &form, None, &json!({"email": "a@b.co"})).await, 404, "not_found").await;
    assert_json(submit(&app, &rotated, None, &json!({"email": "a@b.co"})).await, 202).await;

    assert_json(app.patch_json(&path, &json!({"active": false})).await, 200).await;
    assert_problem(submit(&app, &rotated, None, &json!({"email": "c@b.co"})).await, 404, "not_found").await;
    assert_json(app.patch_json(&path, &json!({"active": true})).await, 200).await;

    assert_no_content(app.delete(&path).await).await;
    assert_problem(app.get(&path).await, 404, "not_found").await;
    assert_problem(submit(&app, &rotated, None, &json!({"email": "d@b.co"})).await, 404, "not_found").await;
    assert_eq!(app.admin().list_all("/v1/web-forms?deleted=true").await.len(), 1);
    let restored = assert_json(app.post_json(&format!("{path}/restore"), &json!({})).await, 200).await;
    assert!(restored["deleted_at"].is_null(), "{restored}");
    assert_eq!(restored["submission_count"], 1, "{restored}");
    let history = assert_json(app.get(&format!("{path}/history")).await, 200).await;
    assert_eq!(history["data"].as_array().map(Vec::len), Some(7), "{history}");

    let unknown = format!("/v1/web-forms/{}", uuid::Uuid::now_v7());
    assert_problem(app.get(&unknown).await, 404, "not_found").await;
    assert_problem(app.patch_json(&unknown, &json!({"name": "x"})).await, 404, "not_found").await;
    assert_problem(app.delete(&unknown).await, 404, "not_found").await;
    assert_problem(app.post_json(&format!("{unknown}/rotate-token"), &json!({})).await, 404, "not_found").await;
}
both_backends!(forms_crud_and_tokens);

async fn only_admins_configure_forms(app: TestApp) {
    let form = contact_form(&app).await;
    let path = form_path(&form);
    let sales = app.create_user("sales").await;
    let token = app.login(&sales.email, &sales.password).await;
    let sales = app.with_token(&token);
    assert_json(sales.get(&path).await, 200).await;
    assert_problem(sales.post_json("/v1/web-forms", &json!({"name": "F"})).await, 403, "forbidden").await;
    assert_problem(sales.patch_json(&path, &json!({"name": "F"})).await, 403, "forbidden").await;
    assert_problem(sales.delete(&path).await, 403, "forbidden").await;
    assert_problem(sales.post_json(&format!("{path}/rotate-token"), &json!({})).await, 403, "forbidden").await;
    let reader = app.create_api_key(&["leads:read"]).await;
    assert_eq!(app.with_key(&reader).list_all("/v1/web-forms").await.len(), 1);
    assert_problem(app.with_key(&reader).post_json("/v1/web-forms", &json!({"name": "F"})).await, 403, "forbidden")
        .await;

    let other = app.second_workspace().await;
    let outsider = app.with_key(&other);
    assert_problem(outsider.get(&path).await, 404, "not_found").await;
    assert_problem(outsider.patch_json(&path, &json!({"name": "x"})).await, 404, "not_found").await;
    assert_problem(outsider.delete(&path).await, 404, "not_found").await;
    assert!(outsider.list_all("/v1/web-forms").await.is_empty());
}
both_backends!(only_admins_configure_forms);

async fn a_submission_creates_a_scored_web_form_lead(app: TestApp) {
    let form = contact_form(&app).await;
    assert_json(
        app.post_json(
            "/v1/scoring-rules",
            &json!({"field": "source", "operator": "eq", "value": "web_form", "points": 3}),
        )
        .await,
        201,
    )
    .await;
    let body = json!({"your_email": "Visitor@Example.com", "name": "Olena Kovalenko", "utm_source": "ads",
                      "utm_campaign": "spring", "budget": 5000, "message": "Call me", "website_url": ""});
    // Credentials sent anyway are ignored, even broken ones.
    let request =
        app.anonymous().request(Method::POST, &submissions(&form)).header("X-API-Key", "crm_bad_key").json(&body);
    let response = send(request).await;
    assert!(header(response.headers(), "access-control-allow-origin").is_none());
    let accepted = assert_json(response, 202).await;
    assert_eq!(accepted["status"], "accepted", "{accepted}");
    assert_eq!(accepted.as_object().map(|o| o.len()), Some(2), "only id and status: {accepted}");

    let all = leads(&app).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let lead = &all[0];
    assert_ne!(lead["id"], accepted["id"], "the answer names the submission, not the lead");
    assert_eq!(lead["email"], "visitor@example.com", "{lead}");
    assert_eq!((lead["first_name"].as_str(), lead["last_name"].as_str()), (Some("Olena"), Some("Kovalenko")));
    assert_eq!(lead["source"], "web_form", "{lead}");
    assert_eq!(lead["web_form_id"], form["id"], "{lead}");
    assert_eq!(lead["owner_id"], app.user_id.as_str(), "{lead}");
    assert_eq!(lead["tags"], json!(["website"]), "{lead}");
    assert_eq!((lead["utm_source"].as_str(), lead["utm_campaign"].as_str()), (Some("ads"), Some("spring")));
    assert_eq!(lead["form_data"], json!({"budget": 5000, "message": "Call me"}), "{lead}");
    assert_eq!(lead["score"], 3, "{lead}");
    let by_form =
        app.admin().list_all(&format!("/v1/leads?web_form_id={}&source=web_form", form["id"].as_str().unwrap())).await;
    assert_eq!(by_form.len(), 1);
    assert_eq!(assert_json(app.get(&form_path(&form)).await, 200).await["submission_count"], 1);
}
both_backends!(a_submission_creates_a_scored_web_form_lead);

async fn url_encoded_forms_are_accepted(app: TestApp) {
    let form = contact_form(&app).await;
    let body = "email=plain%40example.com&first_name=Ivan&interest=a&interest=b&phone=%2B380%2044%20123%2045%2067";
    let request = app
        .anonymous()
        .request(Method::POST, &submissions(&form))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Origin", SHOP)
        .body(body);
    let response = send(request).await;
    assert_eq!(header(response.headers(), "access-control-allow-origin").as_deref(), Some(SHOP));
    assert_eq!(header(response.headers(), "vary").as_deref(), Some("Origin"));
    assert_json(response, 202).await;
    let all = leads(&app).await;
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0]["email"].as_str(), all[0]["phone"].as_str()),
        (Some("plain@example.com"), Some("+380441234567"))
    );
    assert_eq!(all[0]["form_data"], json!({"interest": ["a", "b"]}), "{}", all[0]);
}
both_backends!(url_encoded_forms_are_accepted);

async fn the_honeypot_stores_nothing(app: TestApp) {
    let form = contact_form(&app).await;
    let response =
        submit(&app, &form, Some(SHOP), &json!({"email": "bot@example.com", "website_url": "http://x"})).await;
    assert_eq!(header(response.headers(), "access-control-allow-origin").as_deref(), Some(SHOP));
    let accepted = assert_json(response, 202).await;
    assert_eq!(accepted["status"], "accepted");
    assert!(accepted["id"].as_str().is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()), "{accepted}");
    assert!(leads(&app).await.is_empty());
    assert_eq!(assert_json(app.get(&form_path(&form)).await, 200).await["submission_count"], 0);
}
both_backends!(the_honeypot_stores_nothing);

async fn cors_follows_the_allowed_origins(app: TestApp) {
    let form = contact_form(&app).await;
    let evil = submit(&app, &form, Some("https://evil.example"), &json!({"email": "e@example.com"})).await;
    assert!(header(evil.headers(), "access-control-allow-origin").is_none());
    assert_problem(evil, 403, "forbidden").await;
    let null_origin = submit(&app, &form, Some("null"), &json!({"email": "e@example.com"})).await;
    assert_problem(null_origin, 403, "forbidden").await;
    assert!(leads(&app).await.is_empty());

    let preflight = |origin: Option<&'static str>, path: String| {
        let mut request = app
            .anonymous()
            .request(Method::OPTIONS, &path)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type");
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        send(request)
    };
    let ok = preflight(Some(SHOP), submissions(&form)).await;
    assert_eq!(ok.status().as_u16(), 204);
    let headers = ok.headers();
    assert_eq!(header(headers, "access-control-allow-origin").as_deref(), Some(SHOP));
    assert_eq!(header(headers, "access-control-allow-methods").as_deref(), Some("POST"));
    assert_eq!(header(headers, "access-control-allow-headers").as_deref(), Some("Content-Type"));
    assert_eq!(header(headers, "access-control-max-age").as_deref(), Some("86400"));
    assert_eq!(header(headers, "vary").as_deref(), Some("Origin"));
    let denied = preflight(Some("https://evil.example"), submissions(&form)).await;
    assert!(header(denied.headers(), "access-control-allow-origin").is_none());
    assert_problem(denied, 403, "forbidden").await;
    assert_problem(preflight(None, submissions(&form)).await, 403, "forbidden").await;
    let unknown = "/v1/forms/wf_unknown/submissions".to_owned();
    assert_problem(preflight(Some(SHOP), unknown).await, 404, "not_found").await;
}
both_backends!(cors_follows_the_allowed_origins);

async fn bad_submissions_are_4xx(app: TestApp) {
    let form = contact_form(&app).await;
    let problem = assert_field_error(
        submit(&app, &form, Some(SHOP), &json!({"your_email": "nope", "first_name": "A"})).await,
        "your_email",
        "invalid_format",
    )
    .await;
    assert_eq!(problem["errors"].as_array().map(Vec::len), Some(1), "{problem}");
    assert_field_error(submit(&app, &form, None, &json!({"email": {"x": 1}})).await, "email", "invalid_type").await;
    assert_field_error(submit(&app, &form, None, &json!({"budget": 1})).await, "first_name", "required").await;
    assert_problem(submit(&app, &form, None, &json!(["email"])).await, 422, "validation_failed").await;
    let raw = |content_type: &'static str, body: String| {
        send(app.anonymous().request(Method::POST, &submissions(&form)).header("Content-Type", content_type).body(body))
    };
    assert_problem(raw("application/json", "{".into()).await, 400, "malformed_json").await;
    assert_problem(raw("text/plain", "email=a@b.co".into()).await, 415, "unsupported_media_type").await;
    let big = format!("first_name=A&message={}", "x".repeat(65 * 1024));
    assert_problem(raw("application/x-www-form-urlencoded", big).await, 413, "payload_too_large").await;
    let unknown =
        send(app.anonymous().request(Method::POST, "/v1/forms/wf_nope/submissions").json(&json!({"email": "a@b.co"})))
            .await;
    assert_problem(unknown, 404, "not_found").await;
    assert_problem(app.anonymous().get(&submissions(&form)).await, 405, "method_not_allowed").await;
    assert!(leads(&app).await.is_empty());
}
both_backends!(bad_submissions_are_4xx);

async fn known_emails_link_instead_of_duplicating(app: TestApp) {
    let form = contact_form(&app).await;
    let lead = assert_json(
        app.post_json("/v1/leads", &json!({"first_name": "Known", "email": "known@example.com"})).await,
        201,
    )
    .await;
    let customer =
        app.post_customer(&json!({"kind": "person", "first_name": "C", "email": "client@example.com"})).await;

    for email in ["KNOWN@example.com", "client@example.com", "client@example.com"] {
        assert_json(submit(&app, &form, None, &json!({"email": email, "first_name": "Again"})).await, 202).await;
    }
    let all = leads(&app).await;
    assert_eq!(all.len(), 1, "no lead for a known lead or customer: {all:?}");
    assert_eq!(all[0]["id"], lead["id"]);
    assert_eq!(all[0]["first_name"], "Known", "the lead is linked, not overwritten");
    assert_eq!(all[0]["version"], 1);
    assert_eq!(app.admin().list_all("/v1/customers").await.len(), 1, "{customer}");
    assert_eq!(assert_json(app.get(&form_path(&form)).await, 200).await["submission_count"], 3);
}
both_backends!(known_emails_link_instead_of_duplicating);

async fn ten_concurrent_submissions_make_one_lead(app: TestApp) {
    let form = contact_form(&app).await;
    let body = json!({"email": "race@example.com", "first_name": "Racer"});
    let attempts = (0..10).map(|_| submit(&app, &form, Some(SHOP), &body));
    let responses = futures_util::future::join_all(attempts).await;
    for response in responses {
        assert_json(response, 202).await;
    }
    let all = leads(&app).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["email"], "race@example.com");
    assert_eq!(assert_json(app.get(&form_path(&form)).await, 200).await["submission_count"], 10);
}
both_backends!(ten_concurrent_submissions_make_one_lead);

fn two_submissions_a_minute(config: &mut Config) {
    config.form_submissions_per_minute = 2;
}

async fn submissions_are_rate_limited_per_ip(app: TestApp) {
    let form = contact_form(&app).await;
    for i in 0..2 {
        assert_json(submit(&app, &form, None, &json!({"email": format!("r{i}@example.com")})).await, 202).await;
    }
    let limited = submit(&app, &form, None, &json!({"email": "r9@example.com"})).await;
    let retry_after = header(limited.headers(), "retry-after");
    assert_problem(limited, 429, "rate_limited").await;
    assert!(retry_after.and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| s >= 1), "Retry-After in seconds");
    assert_eq!(leads(&app).await.len(), 2);
    // Authenticated API traffic is not counted against the form limit.
    assert_json(app.get("/v1/leads").await, 200).await;
}
both_backends!(submissions_are_rate_limited_per_ip, configure = two_submissions_a_minute);
