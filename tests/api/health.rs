//! Operational endpoints: liveness, readiness, metrics, the served spec and the docs.

use crate::helpers::{TestApp, assert_json, both_backends, header};

async fn healthz_answers_200(app: TestApp) {
    let response = app.anonymous().get("/healthz").await;
    assert_eq!(response.status(), 200);
}
both_backends!(healthz_answers_200);

async fn readyz_answers_200_when_the_database_is_up(app: TestApp) {
    let response = app.anonymous().get("/readyz").await;
    assert_eq!(response.status(), 200);
}
both_backends!(readyz_answers_200_when_the_database_is_up);

async fn metrics_are_prometheus_text(app: TestApp) {
    assert_eq!(app.get("/v1/me").await.status(), 200);
    let response = app.anonymous().get("/metrics").await;
    assert_eq!(response.status(), 200);
    let content_type = header(response.headers(), "content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/plain"), "content type {content_type:?}");
    let text = response.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "metrics: {text}");
}
both_backends!(metrics_are_prometheus_text);

async fn openapi_json_is_served(app: TestApp) {
    let spec = assert_json(app.anonymous().get("/openapi.json").await, 200).await;
    assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{spec}");
    assert!(spec["paths"]["/v1/customers"].is_object(), "no /v1/customers in the spec");
}
both_backends!(openapi_json_is_served);

async fn docs_are_served_as_html(app: TestApp) {
    let response = app.anonymous().get("/docs/").await;
    assert_eq!(response.status(), 200);
    let content_type = header(response.headers(), "content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "content type {content_type:?}");
    let redirect = app.anonymous().get("/docs").await;
    assert!(redirect.status().is_redirection() || redirect.status() == 200, "/docs answered {}", redirect.status());
}
both_backends!(docs_are_served_as_html);

/// The housekeeping's `close_idle`, on a store opened on the test database: connections used
/// recently stay, the others close; long reads (analytics) have a pool of their own on
/// PostgreSQL and are closed too.
async fn idle_database_connections_are_closed(app: TestApp) {
    let store = crm_store::Store::open(&app.database_url, None, 2).unwrap();
    store.ping().await.unwrap();
    drop(store.read_pooled().await.unwrap());
    let (open, idle, _) = store.pool_usage();
    assert!(open >= 1 && idle == open, "connections are back in their pools: {open} open, {idle} idle");
    store.close_idle(std::time::Duration::from_secs(3600));
    assert_eq!(store.pool_usage().0, open, "connections used within the hour stay");
    store.close_idle(std::time::Duration::ZERO);
    assert_eq!(store.pool_usage().0, 0, "every idle connection is closed");
    store.ping().await.unwrap();
}
both_backends!(idle_database_connections_are_closed);
