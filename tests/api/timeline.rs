//! The customer timeline: every kind of entry, newest first, one cursor across kinds, filtered
//! by `kinds` and by the caller's scopes, isolated per workspace.

use serde_json::json;

use crate::helpers::{TestApp, assert_json, assert_problem, both_backends, id_of};
use crate::pipelines::{default_pipeline, stage_id};

/// A customer with two interactions, a task, a deal moved once and a change of its own.
async fn busy_customer(app: &TestApp) -> String {
    let customer =
        app.post_customer(&json!({"kind": "company", "company_name": "Acme", "lifecycle_stage": "lead"})).await;
    let id = id_of(&customer);
    let body = json!({"channel": "phone", "direction": "outbound", "subject": "First call",
                      "occurred_at": "2026-01-05T10:00:00Z", "customer_id": id});
    assert_json(app.post_json("/v1/interactions", &body).await, 201).await;
    let body = json!({"channel": "meeting", "direction": "inbound", "subject": "Kick-off",
                      "occurred_at": "2026-01-06T10:00:00Z", "customer_id": id});
    assert_json(app.post_json("/v1/interactions", &body).await, 201).await;
    assert_json(app.post_json("/v1/tasks", &json!({"title": "Send the proposal", "customer_id": id})).await, 201).await;
    let sales = default_pipeline(app).await;
    let deal =
        assert_json(app.post_json("/v1/deals", &json!({"title": "Fit-out", "customer_id": id})).await, 201).await;
    let moved = json!({"stage_id": stage_id(&sales, "Proposal")});
    assert_json(app.post_json(&format!("/v1/deals/{}/move", id_of(&deal)), &moved).await, 200).await;
    assert_json(app.patch_json(&format!("/v1/customers/{id}"), &json!({"lifecycle_stage": "customer"})).await, 200)
        .await;
    id
}

async fn every_kind_newest_first_across_pages(app: TestApp) {
    let id = busy_customer(&app).await;
    let entries = app.admin().list_all(&format!("/v1/customers/{id}/timeline?limit=2")).await;
    let kinds: Vec<&str> = entries.iter().filter_map(|e| e["kind"].as_str()).collect();
    let count = |kind: &str| kinds.iter().filter(|k| **k == kind).count();
    assert_eq!(count("interaction"), 2, "{kinds:?}");
    assert_eq!(count("task"), 1, "{kinds:?}");
    assert_eq!(count("deal_stage_change"), 2, "opened and moved: {kinds:?}");
    assert_eq!(count("change"), 2, "created and updated: {kinds:?}");
    let times: Vec<&str> = entries.iter().filter_map(|e| e["occurred_at"].as_str()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    assert_eq!(entries.last().map(|e| e["kind"].clone()), Some(json!("interaction")), "the January call is oldest");
    let summaries: Vec<&str> = entries.iter().filter_map(|e| e["summary"].as_str()).collect();
    assert!(summaries.contains(&"Fit-out moved Qualified → Proposal"), "{summaries:?}");
    assert!(summaries.contains(&"Fit-out opened in Qualified"), "{summaries:?}");
    assert!(summaries.contains(&"meeting (inbound): Kick-off"), "{summaries:?}");
    assert!(summaries.contains(&"task (open): Send the proposal"), "{summaries:?}");
    assert!(summaries.contains(&"update: lifecycle_stage"), "{summaries:?}");
    let task = entries.iter().find(|e| e["kind"] == "task").expect("a task");
    assert_eq!(task["data"]["title"], "Send the proposal", "the record itself: {task}");
    for (kind, resource) in [("interaction", "interactions"), ("task", "tasks")] {
        for entry in entries.iter().filter(|e| e["kind"] == kind) {
            let own =
                assert_json(app.get(&format!("/v1/{resource}/{}", entry["id"].as_str().unwrap_or(""))).await, 200);
            assert_eq!(entry["data"], own.await, "as its own endpoint returns it");
        }
    }

    let only = app.admin().list_all(&format!("/v1/customers/{id}/timeline?kinds=deal_stage_change,task&limit=1")).await;
    let kinds: Vec<&str> = only.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(kinds.iter().all(|k| *k != "interaction" && *k != "change"), "{kinds:?}");
}
both_backends!(every_kind_newest_first_across_pages);

async fn scopes_decide_what_shows(app: TestApp) {
    let id = busy_customer(&app).await;
    let path = format!("/v1/customers/{id}/timeline");
    let narrow = app.create_api_key(&["customers:read", "tasks:read"]).await;
    let narrow = app.with_key(&narrow);
    let entries = narrow.list_all(&path).await;
    let mut kinds: Vec<&str> = entries.iter().filter_map(|e| e["kind"].as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds, ["change", "task"], "only what the key may read");
    assert_problem(narrow.get(&format!("{path}?kinds=interaction")).await, 403, "forbidden").await;
    let none = app.create_api_key(&["tasks:read"]).await;
    assert_problem(app.with_key(&none).get(&path).await, 403, "forbidden").await;

    let other = app.second_workspace().await;
    assert_problem(app.with_key(&other).get(&path).await, 404, "not_found").await;
    let missing = format!("/v1/customers/{}/timeline", uuid::Uuid::now_v7());
    assert_problem(app.get(&missing).await, 404, "not_found").await;
}
both_backends!(scopes_decide_what_shows);

async fn bad_parameters(app: TestApp) {
    let id = busy_customer(&app).await;
    let path = format!("/v1/customers/{id}/timeline");
    for query in ["kinds=bogus", "limit=0", "limit=201", "cursor=abc", "sort=created_at"] {
        let response = app.get(&format!("{path}?{query}")).await;
        let problem = crate::helpers::assert_any_problem(response).await;
        assert_eq!(problem["status"], 400, "?{query}: {problem}");
    }
    let customers = assert_json(app.get("/v1/customers?limit=1").await, 200).await;
    let foreign = customers["next_cursor"].as_str().map(str::to_owned);
    if let Some(cursor) = foreign {
        assert_problem(app.get(&format!("{path}?cursor={cursor}")).await, 400, "invalid_cursor").await;
    }
}
both_backends!(bad_parameters);

async fn activity_links_must_exist(app: TestApp) {
    let customer = id_of(&app.post_customer(&json!({"kind": "person", "first_name": "Linked"})).await);
    let deal =
        assert_json(app.post_json("/v1/deals", &json!({"title": "D", "customer_id": customer})).await, 201).await;
    let lead = assert_json(app.post_json("/v1/leads", &json!({"source": "other", "first_name": "L"})).await, 201).await;
    let at = "2026-01-05T10:00:00Z";
    let ok = json!({"channel": "note", "occurred_at": at, "deal_id": deal["id"], "lead_id": lead["id"]});
    assert_json(app.post_json("/v1/interactions", &ok).await, 201).await;
    let task = json!({"title": "t", "deal_id": deal["id"], "lead_id": lead["id"]});
    assert_json(app.post_json("/v1/tasks", &task).await, 201).await;
    for field in ["deal_id", "lead_id"] {
        let bad = json!({"channel": "note", "occurred_at": at, field: uuid::Uuid::now_v7()});
        crate::helpers::assert_field_error(app.post_json("/v1/interactions", &bad).await, field, "not_found").await;
        let bad = json!({"title": "t", field: uuid::Uuid::now_v7()});
        crate::helpers::assert_field_error(app.post_json("/v1/tasks", &bad).await, field, "not_found").await;
    }
}
both_backends!(activity_links_must_exist);
