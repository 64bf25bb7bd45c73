//! Conventions every endpoint keeps: request ids, problem bodies for bad input (never a 500),
//! idempotent POSTs, optimistic concurrency under parallel writers, and rate limits.

use std::time::{Duration, Instant};

use crm_api::config::Config;
use diesel_async::SimpleAsyncConnection;
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_any_problem, assert_field_error, assert_json, assert_problem, both_backends, header, send,
};

fn person() -> Value {
    json!({"kind": "person", "first_name": "Olena", "email": "olena@example.com"})
}

async fn post_raw(app: &TestApp, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    let request = app.request(Method::POST, path).header("Content-Type", content_type).body(body);
    send(request).await
}

async fn customer_count(app: &TestApp) -> usize {
    app.admin().list_all("/v1/customers?limit=200").await.len()
}

async fn every_response_has_a_request_id(app: TestApp) {
    for path in ["/healthz", "/v1/customers", "/v1/nope"] {
        let response = app.get(path).await;
        let id = header(response.headers(), "x-request-id");
        assert!(id.is_some_and(|id| !id.is_empty()), "{path}: no X-Request-Id");
    }
    let response = app.anonymous().get("/v1/customers").await;
    assert!(header(response.headers(), "x-request-id").is_some(), "a 401 has a request id too");
    let request = app.request(Method::GET, "/v1/me").header("X-Request-Id", "client-chosen-42");
    let response = send(request).await;
    assert_eq!(header(response.headers(), "x-request-id").as_deref(), Some("client-chosen-42"));
    let a = header(app.get("/healthz").await.headers(), "x-request-id");
    let b = header(app.get("/healthz").await.headers(), "x-request-id");
    assert_ne!(a, b, "generated request ids are unique");
}
both_backends!(every_response_has_a_request_id);

async fn malformed_and_mistyped_json_is_a_problem(app: TestApp) {
    let response = post_raw(&app, "/v1/customers", "application/json", r#"{"kind":"#).await;
    assert_problem(response, 400, "malformed_json").await;
    let response = post_raw(&app, "/v1/customers", "application/json", "").await;
    assert_any_problem(response).await;
    let response = post_raw(&app, "/v1/customers", "application/json", vec![b'{', 0xff, 0xfe, b'}']).await;
    assert_any_problem(response).await;

    let response = app.post_json("/v1/customers", &json!({"kind": "person", "first_name": 42})).await;
    assert_field_error(response, "first_name", "invalid_type").await;
    let response = app.post_json("/v1/customers", &json!({"kind": "robot"})).await;
    assert_field_error(response, "kind", "invalid_value").await;
    let response = app.post_json("/v1/customers", &json!({"first_name": "No kind"})).await;
    assert_field_error(response, "kind", "required").await;
    let response = app.post_json("/v1/customers", &json!({"kind": "person", "first_name": "a\u{0}b"})).await;
    assert_problem(response, 422, "validation_failed").await;
    let response = app.post_json("/v1/customers", &json!([1, 2])).await;
    assert_any_problem(response).await;
    let response = app.post_json("/v1/customers", &json!(null)).await;
    assert_any_problem(response).await;

    let huge = r#"{"kind":"company","company_name":"Big","employee_count":1e30}"#;
    let response = post_raw(&app, "/v1/customers", "application/json", huge).await;
    assert_problem(response, 422, "validation_failed").await;
    for count in [json!(-1), json!(1.5), json!(u64::MAX), json!("12")] {
        let body = json!({"kind": "company", "company_name": "Big", "employee_count": count});
        let response = app.post_json("/v1/customers", &body).await;
        assert_problem(response, 422, "validation_failed").await;
    }
    let nested = format!(
        r#"{{"kind":"person","first_name":"x","custom_fields":{{"a":{}1{}}}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let response = post_raw(&app, "/v1/customers", "application/json", nested).await;
    assert_any_problem(response).await;
    let long_name = json!({"kind": "person", "first_name": "x".repeat(10_000)});
    let response = app.post_json("/v1/customers", &long_name).await;
    assert_field_error(response, "first_name", "too_long").await;
    let bad_login = post_raw(&app, "/v1/auth/login", "application/json", r#"{"email": "#).await;
    assert_problem(bad_login, 400, "malformed_json").await;
    assert_eq!(customer_count(&app).await, 0, "bad input created nothing");
}
both_backends!(malformed_and_mistyped_json_is_a_problem);

/// serde_json alone reads a struct from an array, field by field: `["a"]` was a segment named
/// "a", and `["Main st 1", null, "Kyiv"]` an address. It reads an enum from a one-key object too
/// (`{"person": null}`). Only the shapes the spec gives are taken.
async fn only_the_documented_json_shapes_are_taken(app: TestApp) {
    assert_field_error(app.post_json("/v1/segments", &json!(["Cup"])).await, "", "invalid_type").await;
    let body = json!({"kind": "person", "first_name": "A", "address": ["Main st 1", null, "Kyiv"]});
    assert_field_error(app.post_json("/v1/customers", &body).await, "address", "invalid_type").await;
    let body = json!({"kind": {"person": null}, "first_name": "A"});
    assert_field_error(app.post_json("/v1/customers", &body).await, "kind", "invalid_type").await;
    assert_eq!(customer_count(&app).await, 0, "nothing was created");

    let segment = assert_json(app.post_json("/v1/segments", &json!({"name": "Cup"})).await, 201).await;
    let path = format!("/v1/segments/{}", segment["id"].as_str().unwrap_or_default());
    assert_field_error(app.patch_json(&path, &json!({"filter": [null]})).await, "filter", "invalid_type").await;
    assert_eq!(assert_json(app.get(&path).await, 200).await, segment, "the refused patch changed nothing");
}
both_backends!(only_the_documented_json_shapes_are_taken);

/// JSON has one number type and the spec's `integer` is JSON Schema's: `12.0` is an integer,
/// as a client computing in floating point sends it; `12.5` and a float past 2^53 are not.
async fn whole_floats_are_taken_as_integers(app: TestApp) {
    let body = r#"{"kind":"company","company_name":"Big","employee_count":12.0,"custom_fields":{"rating":4.0}}"#;
    let created = assert_json(post_raw(&app, "/v1/customers", "application/json", body).await, 201).await;
    assert_eq!(created["employee_count"], json!(12));
    assert!(created["custom_fields"]["rating"].is_f64(), "a number in an open map stays as sent");
    let path = format!("/v1/customers/{}", created["id"].as_str().unwrap_or_default());
    let patched = assert_json(app.patch_json(&path, &json!({"employee_count": 1.3e1})).await, 200).await;
    assert_eq!(patched["employee_count"], json!(13));
    for count in [json!(12.5), json!(9_007_199_254_740_994.0)] {
        let response = app.patch_json(&path, &json!({"employee_count": count})).await;
        assert_field_error(response, "employee_count", "invalid_type").await;
    }
    let kept = assert_json(app.get(&path).await, 200).await;
    assert_eq!(kept["employee_count"], json!(13), "a refused patch changed nothing");
    assert!(kept["custom_fields"]["rating"].is_f64(), "patching a whole float elsewhere left the map alone");
}
both_backends!(whole_floats_are_taken_as_integers);

async fn oversize_bodies_are_413(app: TestApp) {
    let mut body = br#"{"kind":"person","first_name":""#.to_vec();
    body.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    body.extend(br#""}"#);
    let request = app.request(Method::POST, "/v1/customers").header("Content-Type", "application/json").body(body);
    match request.send().await {
        Ok(response) => {
            assert_problem(response, 413, "payload_too_large").await;
        }
        Err(e) => panic!(
            "a 10 MB body got no HTTP response (the server closed the connection before \
             answering 413): {e:?}"
        ),
    }
    let just_over = format!(r#"{{"kind":"person","first_name":"{}"}}"#, "a".repeat(1024 * 1024 + 1));
    let response = post_raw(&app, "/v1/customers", "application/json", just_over).await;
    assert_problem(response, 413, "payload_too_large").await;
    assert_json(app.get("/v1/me").await, 200).await;
}
both_backends!(oversize_bodies_are_413);

async fn wrong_content_type_is_415(app: TestApp) {
    let body = person().to_string();
    let response = post_raw(&app, "/v1/customers", "text/plain", body.clone()).await;
    assert_problem(response, 415, "unsupported_media_type").await;
    let response = post_raw(&app, "/v1/customers", "application/x-www-form-urlencoded", "kind=person").await;
    assert_problem(response, 415, "unsupported_media_type").await;
    let customer = app.post_customer(&person()).await;
    let path = format!("/v1/customers/{}", customer["id"].as_str().unwrap());
    let request = app.request(Method::PATCH, &path).header("Content-Type", "text/plain").body(r#"{"first_name":"x"}"#);
    assert_problem(send(request).await, 415, "unsupported_media_type").await;
    let request = app
        .request(Method::PATCH, &path)
        .header("Content-Type", "application/json-patch+json")
        .body(r#"[{"op":"replace","path":"/first_name","value":"x"}]"#);
    assert_any_problem(send(request).await).await;
}
both_backends!(wrong_content_type_is_415);

async fn bad_paths_and_methods_are_problems(app: TestApp) {
    for path in ["/v1/customers/not-a-uuid", "/v1/customers/123", "/v1/users/x", "/v1/customers/not-a-uuid/history"] {
        assert_problem(app.get(path).await, 400, "invalid_parameter").await;
    }
    let response = app.patch_json("/v1/customers/%00", &json!({})).await;
    assert_problem(response, 400, "invalid_parameter").await;
    assert_problem(app.delete("/v1/api-keys/nope").await, 400, "invalid_parameter").await;
    for path in ["/v1/nope", "/nope", "/v2/customers", "/v1/customers/x/y/z"] {
        assert_problem(app.get(path).await, 404, "not_found").await;
    }
    for method in [Method::PUT, Method::DELETE] {
        let response = send(app.request(method.clone(), "/v1/customers").json(&person())).await;
        let allow = header(response.headers(), "allow");
        let problem = assert_any_problem(response).await;
        match problem["status"].as_u64() {
            Some(405) => {
                assert_eq!(problem["code"], "method_not_allowed", "{problem}");
                assert!(allow.is_some_and(|a| a.contains("GET") && a.contains("POST")), "{method}: Allow header");
            }
            Some(404) => assert_eq!(problem["code"], "not_found", "{problem}"),
            _ => panic!("{method} /v1/customers: expected 405 or 404, got {problem}"),
        }
    }
    let response = app.get("/v1/customers?deleted=true&limit=1").await;
    assert_json(response, 200).await;

    // A literal route beside a templated one advertises only its own methods.
    for (path, allow) in [("/v1/deals/forecast", "GET"), ("/v1/pipelines/x/stages/order", "PUT")] {
        let response = send(app.request(Method::OPTIONS, path)).await;
        assert_eq!(header(response.headers(), "allow").as_deref(), Some(allow), "OPTIONS {path}");
        assert_problem(response, 405, "method_not_allowed").await;
    }
    // Also when a templated route of that method would take it (`PATCH /deals/{id}`).
    let order = "/v1/pipelines/01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1b/stages/order";
    for (method, path, allow) in [
        (Method::PATCH, "/v1/deals/forecast", "GET"),
        (Method::DELETE, "/v1/deals/forecast", "GET"),
        (Method::PATCH, order, "PUT"),
    ] {
        let response = send(app.request(method.clone(), path).json(&json!({}))).await;
        assert_eq!(header(response.headers(), "allow").as_deref(), Some(allow), "{method} {path}");
        assert_problem(response, 405, "method_not_allowed").await;
    }

    // An empty id is no route at all, not a 405 that names the method it refused.
    let response = send(app.request(Method::POST, "/v1/leads//convert").json(&json!({}))).await;
    assert_problem(response, 404, "not_found").await;
}
both_backends!(bad_paths_and_methods_are_problems);

async fn idempotent_post_replays_the_first_response(app: TestApp) {
    let post =
        |key: &str, body: &Value| app.request(Method::POST, "/v1/customers").header("Idempotency-Key", key).json(body);
    let first = send(post("k1", &person())).await;
    assert!(header(first.headers(), "idempotent-replayed").is_none(), "the first is not a replay");
    let first = assert_json(first, 201).await;
    let again = send(post("k1", &person())).await;
    assert_eq!(header(again.headers(), "idempotent-replayed").as_deref(), Some("true"));
    let again = assert_json(again, 201).await;
    assert_eq!(again, first, "the replay is the first response");
    assert_eq!(customer_count(&app).await, 1);

    let mut other_body = person();
    other_body["first_name"] = json!("Someone else");
    let reused = send(post("k1", &other_body)).await;
    assert_problem(reused, 422, "idempotency_key_reused").await;

    // Keys are scoped to the caller: another key's k1 is a different request.
    let other_key = app.create_api_key(&["customers:write"]).await;
    let request =
        app.with_key(&other_key).request(Method::POST, "/v1/customers").header("Idempotency-Key", "k1").json(&person());
    let response = send(request).await;
    assert!(header(response.headers(), "idempotent-replayed").is_none());
    assert_json(response, 201).await;
    assert_eq!(customer_count(&app).await, 2);

    // Other POST endpoints honour the key too.
    let key_body = json!({"name": "once", "scopes": ["customers:read"]});
    let create_key = || app.request(Method::POST, "/v1/api-keys").header("Idempotency-Key", "key-1").json(&key_body);
    let created = assert_json(send(create_key()).await, 201).await;
    let replay = send(create_key()).await;
    assert_eq!(header(replay.headers(), "idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(assert_json(replay, 201).await["id"], created["id"]);
}
both_backends!(idempotent_post_replays_the_first_response);

/// Runs SQL straight on the test database, behind the API's back.
pub(crate) async fn execute_sql(app: &TestApp, sql: &str) {
    let store = crm_store::Store::open(&app.database_url, None, 1).unwrap();
    let mut conn = store.write().await.unwrap();
    match &mut conn {
        crm_store::Conn::Pg(c) => c.batch_execute(sql).await.unwrap(),
        crm_store::Conn::Sqlite(c) => c.batch_execute(sql).await.unwrap(),
        crm_store::Conn::PgShared(_) => panic!("a write connection is never the shared one"),
    }
}

/// What a crash between a request's commit and the storing of its response leaves behind: keys
/// without a response, claimed long enough ago (> 60 s) that a retry may take them over.
pub(crate) async fn lose_stored_responses(app: &TestApp) {
    let sql = "UPDATE idempotency_keys SET status_code = NULL, response_body = NULL, response_headers = NULL, \
               created_at = '2000-01-01T00:00:00.000000Z'";
    execute_sql(app, sql).await;
}

/// Posts `body` to `path` with an Idempotency-Key, after a simulated crash lost the first
/// response: the retry answers what the first attempt would have, and creates nothing.
pub(crate) async fn assert_retry_after_crash_rebuilds(app: &TestApp, path: &str, body: &Value) -> Value {
    let post = || send(app.request(Method::POST, path).header("Idempotency-Key", "crash-1").json(body));
    let first = post().await;
    let (location, etag) = (header(first.headers(), "location"), header(first.headers(), "etag"));
    let first = assert_json(first, 201).await;
    lose_stored_responses(app).await;

    let retry = post().await;
    assert_eq!(header(retry.headers(), "idempotent-replayed").as_deref(), Some("true"), "{path}");
    assert_eq!(header(retry.headers(), "location"), location, "{path}");
    assert_eq!(header(retry.headers(), "etag"), etag, "{path}");
    assert_eq!(assert_json(retry, 201).await, first, "{path}: the record as the first attempt answered it");
    // The rebuilt answer is now the stored one.
    let again = post().await;
    assert_eq!(header(again.headers(), "idempotent-replayed").as_deref(), Some("true"), "{path}");
    assert_eq!(assert_json(again, 201).await, first, "{path}");

    let mut other = body.clone();
    other["title"] = json!("a different request");
    let reused = send(app.request(Method::POST, path).header("Idempotency-Key", "crash-1").json(&other)).await;
    assert_problem(reused, 422, "idempotency_key_reused").await;
    first
}

async fn retry_after_a_crash_does_not_create_a_customer_twice(app: TestApp) {
    let first = assert_retry_after_crash_rebuilds(&app, "/v1/customers", &person()).await;
    let customers = app.admin().list_all("/v1/customers?limit=200").await;
    assert_eq!(customers.len(), 1, "exactly one customer: {customers:?}");
    assert_eq!(customers[0]["id"], first["id"]);

    // A key whose first request committed nothing (it was rejected) but never got its response
    // stored: in progress for a minute, then a retry runs the request again.
    let invalid = json!({"kind": "person"});
    let post = || send(app.request(Method::POST, "/v1/customers").header("Idempotency-Key", "crash-2").json(&invalid));
    assert_problem(post().await, 422, "validation_failed").await;
    execute_sql(&app, "UPDATE idempotency_keys SET status_code = NULL, response_body = NULL, response_headers = NULL")
        .await;
    let problem = assert_problem(post().await, 409, "idempotency_key_in_use").await;
    assert_eq!(problem["detail"], "the first request with this key is still running");
    lose_stored_responses(&app).await;
    let rerun = post().await;
    assert!(header(rerun.headers(), "idempotent-replayed").is_none(), "taken over, not replayed");
    assert_problem(rerun, 422, "validation_failed").await;
    assert_eq!(customer_count(&app).await, 1);
}
both_backends!(retry_after_a_crash_does_not_create_a_customer_twice);

async fn retry_after_a_crash_does_not_create_a_task_twice(app: TestApp) {
    let first = assert_retry_after_crash_rebuilds(&app, "/v1/tasks", &json!({"title": "Send the offer"})).await;
    let tasks = app.admin().list_all("/v1/tasks?limit=200").await;
    assert_eq!(tasks.len(), 1, "exactly one task: {tasks:?}");
    assert_eq!(tasks[0]["id"], first["id"]);

    // A record changed since is answered as it is now.
    let path = format!("/v1/tasks/{}", first["id"].as_str().unwrap());
    assert_json(app.patch_json(&path, &json!({"title": "Offer sent"})).await, 200).await;
    let body = json!({"title": "Call back"});
    let post = || send(app.request(Method::POST, "/v1/tasks").header("Idempotency-Key", "crash-3").json(&body));
    let second = assert_json(post().await, 201).await;
    let second_path = format!("/v1/tasks/{}", second["id"].as_str().unwrap());
    assert_json(app.patch_json(&second_path, &json!({"title": "Called back"})).await, 200).await;
    lose_stored_responses(&app).await;
    let retry = post().await;
    assert_eq!(header(retry.headers(), "etag").as_deref(), Some("\"2\""));
    let retry = assert_json(retry, 201).await;
    assert_eq!((&retry["id"], &retry["title"]), (&second["id"], &json!("Called back")));
    assert_eq!(app.admin().list_all("/v1/tasks?limit=200").await.len(), 2);
}
both_backends!(retry_after_a_crash_does_not_create_a_task_twice);

async fn retry_after_a_crash_never_shows_an_api_key_secret_again(app: TestApp) {
    let body = json!({"name": "once", "scopes": ["customers:read"]});
    let post = || send(app.request(Method::POST, "/v1/api-keys").header("Idempotency-Key", "crash-4").json(&body));
    let created = assert_json(post().await, 201).await;
    lose_stored_responses(&app).await;
    let problem = assert_problem(post().await, 409, "idempotency_key_in_use").await;
    let id = created["id"].as_str().unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("completed") && detail.contains(id), "{problem}");
    let keys = app.admin().list_all("/v1/api-keys").await;
    assert_eq!(keys.iter().filter(|k| k["name"] == "once").count(), 1, "one key created: {keys:?}");
}
both_backends!(retry_after_a_crash_never_shows_an_api_key_secret_again);

async fn retry_after_a_crash_never_answers_a_conversion_with_its_customer(app: TestApp) {
    let lead = json!({"source": "other", "first_name": "Ivan"});
    let lead = assert_json(app.post_json("/v1/leads", &lead).await, 201).await;
    let path = format!("/v1/leads/{}/convert", lead["id"].as_str().unwrap());
    let post = || send(app.request(Method::POST, &path).header("Idempotency-Key", "crash-5").json(&json!({})));
    let converted = assert_json(post().await, 200).await;
    lose_stored_responses(&app).await;
    let problem = assert_problem(post().await, 409, "idempotency_key_in_use").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("completed"), "the convert made a customer, but the answer was a conversion: {problem}");
    assert_eq!(customer_count(&app).await, 1, "converted once: {converted}");
}
both_backends!(retry_after_a_crash_never_answers_a_conversion_with_its_customer);

async fn parallel_retries_with_one_key_create_one_customer(app: TestApp) {
    let body = person();
    let requests = (0..10)
        .map(|_| send(app.request(Method::POST, "/v1/customers").header("Idempotency-Key", "parallel-1").json(&body)));
    let responses = join_all(requests).await;
    let mut originals = 0;
    for response in responses {
        let status = response.status().as_u16();
        let replayed = header(response.headers(), "idempotent-replayed").is_some_and(|v| v == "true");
        match status {
            201 => {
                originals += usize::from(!replayed);
                assert_json(response, 201).await;
            }
            409 => {
                assert_problem(response, 409, "idempotency_key_in_use").await;
            }
            _ => panic!("expected 201 or 409, got {status}: {}", response.text().await.unwrap()),
        }
    }
    assert_eq!(originals, 1, "exactly one response is the original, not a replay");
    assert_eq!(customer_count(&app).await, 1, "exactly one customer was created");
}
both_backends!(parallel_retries_with_one_key_create_one_customer);

async fn parallel_patches_with_one_version_let_one_win(app: TestApp) {
    for round in 0..3 {
        let customer = app.post_customer(&person()).await;
        let path = format!("/v1/customers/{}", customer["id"].as_str().unwrap());
        let patch = |name: &str| {
            send(app.request(Method::PATCH, &path).header("If-Match", "\"1\"").json(&json!({"first_name": name})))
        };
        let (a, b) = tokio::join!(patch("Alpha"), patch("Beta"));
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        let bodies = [a.text().await.unwrap(), b.text().await.unwrap()];
        assert_eq!(statuses, [200, 412], "round {round}: {bodies:?}");
        let fetched = assert_json(app.get(&path).await, 200).await;
        assert_eq!(fetched["version"], 2, "round {round}: {fetched}");
    }
}
both_backends!(parallel_patches_with_one_version_let_one_win);

/// 8 writers for 10 s (creates, and If-Match patches of what each just created): not one
/// `database is locked`, 5xx or lost write. Long, but it runs beside the rest of the suite.
async fn concurrent_writers_never_fail(app: TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let writers = (0..8).map(|writer| {
        let app = &app;
        async move {
            let mut created = 0usize;
            let mut patched = 0usize;
            let mut failures = Vec::new();
            let mut i = 0;
            while Instant::now() < deadline {
                i += 1;
                let body = json!({"kind": "person", "first_name": format!("W{writer}-{i}"), "tags": ["load"]});
                let response = app.post_json("/v1/customers", &body).await;
                let status = response.status().as_u16();
                let text = response.text().await.unwrap();
                if status != 201 || text.to_lowercase().contains("locked") {
                    failures.push(format!("POST {status}: {text}"));
                    continue;
                }
                created += 1;
                let id = serde_json::from_str::<Value>(&text).unwrap()["id"].as_str().unwrap().to_owned();
                let request = app
                    .request(Method::PATCH, &format!("/v1/customers/{id}"))
                    .header("If-Match", "\"1\"")
                    .json(&json!({"last_name": format!("P{i}"), "tags": ["load", "patched"]}));
                let response = send(request).await;
                let status = response.status().as_u16();
                let text = response.text().await.unwrap();
                if status == 200 && !text.to_lowercase().contains("locked") {
                    patched += 1;
                } else {
                    failures.push(format!("PATCH {status}: {text}"));
                }
            }
            (created, patched, failures)
        }
    });
    let results = join_all(writers).await;
    let created: usize = results.iter().map(|(n, _, _)| n).sum();
    let patched: usize = results.iter().map(|(_, n, _)| n).sum();
    let failures: Vec<&String> = results.iter().flat_map(|(_, _, f)| f).collect();
    assert!(failures.is_empty(), "{} failed writes, e.g. {:?}", failures.len(), &failures[..failures.len().min(5)]);
    assert!(created >= 80, "only {created} creates in 10 s");
    assert_eq!(customer_count(&app).await, created, "every 201 is a stored customer");
    let tagged = app.admin().list_all("/v1/customers?limit=200&tag=patched").await.len();
    assert_eq!(tagged, patched, "every acknowledged patch is stored, tags index included");
}
both_backends!(concurrent_writers_never_fail);

fn strict_rate_limit(config: &mut Config) {
    config.rate_limit_per_second = 1;
    config.rate_limit_burst = 2;
}

async fn hammering_is_rate_limited_per_caller(app: TestApp) {
    let mut limited = None;
    for _ in 0..20 {
        let response = app.get("/v1/me").await;
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
        assert_json(response, 200).await;
    }
    let response = limited.expect("20 requests at burst 2, 1/s were never limited");
    let retry_after = header(response.headers(), "retry-after").expect("a Retry-After header");
    assert!(retry_after.parse::<u64>().is_ok(), "Retry-After in seconds: {retry_after:?}");
    assert_problem(response, 429, "rate_limited").await;
    // Another caller has its own budget.
    let other = app.second_workspace().await;
    assert_json(app.with_key(&other).get("/v1/me").await, 200).await;
}
both_backends!(hammering_is_rate_limited_per_caller, configure = strict_rate_limit);

/// A key claimed long ago by a request that never finished and wrote nothing (say, an older
/// binary that died mid-request): a create that records its key in the write finds it taken,
/// frees it and asks for a retry, which then creates; the 409 is never stored as the answer.
async fn an_abandoned_key_is_freed_for_the_retry(app: TestApp) {
    let post =
        || send(app.request(Method::POST, "/v1/customers").header("Idempotency-Key", "abandoned").json(&person()));
    assert_json(post().await, 201).await;
    lose_stored_responses(&app).await;
    execute_sql(&app, "UPDATE audit_events SET idempotency_key = NULL").await;

    let busy = post().await;
    assert_eq!(header(busy.headers(), "retry-after").as_deref(), Some("1"));
    assert_problem(busy, 409, "idempotency_key_in_use").await;
    let retry = post().await;
    assert!(header(retry.headers(), "idempotent-replayed").is_none(), "run again, not replayed");
    let created = assert_json(retry, 201).await;
    let replay = post().await;
    assert_eq!(header(replay.headers(), "idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(assert_json(replay, 201).await, created);
    assert_eq!(customer_count(&app).await, 2, "the first attempt's customer and the retry's");
}
both_backends!(an_abandoned_key_is_freed_for_the_retry);
