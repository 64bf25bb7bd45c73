//! `DATABASE_REPLICA_URL`: reads that tolerate lag go to the replica and fall back to the
//! primary when it does not answer. PostgreSQL only (SQLite has no replicas).

use serde_json::json;

use crate::helpers::{Backend, TestApp, assert_json, run};

/// A replica that refuses connections: every read must fall back to the primary.
fn unreachable_replica(config: &mut crm_api::config::Config) {
    config.replica_url = Some("postgres://postgres@127.0.0.1:9/nowhere".to_owned());
}

async fn reads_fall_back_to_the_primary(app: TestApp) {
    let created = app.post_customer(&json!({"kind": "company", "company_name": "Replica OÜ"})).await;
    let id = created["id"].as_str().unwrap_or_default();
    let fetched = assert_json(app.get(&format!("/v1/customers/{id}")).await, 200).await;
    assert_eq!(fetched["company_name"], "Replica OÜ");
    let listed = assert_json(app.get("/v1/customers?q=replica").await, 200).await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_fall_back_to_the_primary_when_the_replica_is_down() {
    run(Backend::Postgres, unreachable_replica, reads_fall_back_to_the_primary).await;
}
