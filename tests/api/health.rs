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
