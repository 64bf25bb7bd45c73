//! The spec is checked, not trusted: the committed `openapi/openapi.json` equals the generated
//! one, the server serves exactly it, and every documented route exists and requires auth.

use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_json, both_backends, send};

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json")
}

fn generated() -> (String, Value) {
    let text = crm_api::openapi::spec_json();
    let value = serde_json::from_str(&text).expect("the generated spec is JSON");
    (text, value)
}

#[test]
fn committed_openapi_is_fresh() {
    let path = committed_path();
    let (text, spec) = generated();
    let committed: Option<Value> = std::fs::read_to_string(&path).ok().and_then(|s| serde_json::from_str(&s).ok());
    if committed.as_ref() == Some(&spec) {
        return;
    }
    if std::env::var("UPDATE_OPENAPI").as_deref() == Ok("1") {
        let text = if text.ends_with('\n') { text } else { text + "\n" };
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    panic!("openapi/openapi.json is stale: run `make openapi`");
}

async fn served_openapi_is_the_generated_one(app: TestApp) {
    let served = assert_json(app.anonymous().get("/openapi.json").await, 200).await;
    assert!(served == generated().1, "GET /openapi.json differs from crm_api::openapi::spec_json()");
}
both_backends!(served_openapi_is_the_generated_one);

/// Every documented operation is routed (no 404/405 from the router), and every `/v1`
/// operation outside `/v1/auth` refuses an anonymous caller with 401.
async fn every_documented_route_exists(app: TestApp) {
    let (_, spec) = generated();
    let paths = spec["paths"].as_object().expect("paths in the spec");
    assert!(!paths.is_empty(), "the spec documents no paths");
    let mut checked = 0;
    for (template, item) in paths {
        let path = fill_parameters(template);
        for (method, _) in item.as_object().into_iter().flatten() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if !matches!(method, Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE) {
                continue;
            }
            let mut request = app.anonymous().request(method.clone(), &path);
            if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
                request = request.json(&json!({}));
            }
            let response = send(request).await;
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            if template.starts_with("/v1/forms/") {
                // Public: an unknown form token is the handler's 404, not the router's.
                assert!(status == 404 && !body.contains("no route"), "{method} {template}: {status} {body}");
                checked += 1;
                continue;
            }
            assert!(!matches!(status, 404 | 405), "{method} {template}: {status} {body}");
            if template.starts_with("/v1/") && !template.starts_with("/v1/auth/") {
                assert_eq!(status, 401, "{method} {template} without credentials: {body}");
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "no operations found in the spec");
}
both_backends!(every_documented_route_exists);

/// `/v1/customers/{id}` with a fresh UUID for each `{parameter}`.
fn fill_parameters(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map_or(rest.len(), |e| start + e + 1);
        out.push_str(&uuid::Uuid::now_v7().to_string());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}
