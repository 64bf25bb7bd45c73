//! Segments: saved criteria, their live members and counts, the same criteria on the customer
//! list, validation, versions, history, scopes and workspace isolation.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_field_error, assert_json, assert_no_content, assert_problem, both_backends, header, id_of, ids,
    send,
};

/// Customers with distinct attributes; returns their ids by name.
async fn population(app: &TestApp) -> Vec<(&'static str, String)> {
    let bodies = [
        (
            "acme",
            json!({"kind": "company", "company_name": "Acme", "industry": "retail", "vat_number": "UA1",
                        "address": {"country": "UA", "city": "Kyiv"}, "lifecycle_stage": "customer", "tags": ["vip"]}),
        ),
        (
            "bolt",
            json!({"kind": "company", "company_name": "Bolt", "industry": "retail",
                        "address": {"country": "PL"}, "lifecycle_stage": "customer", "tags": ["vip"]}),
        ),
        (
            "cora",
            json!({"kind": "company", "company_name": "Cora", "industry": "retail", "vat_number": "PL9",
                        "address": {"country": "PL", "city": "Krakow"}, "lifecycle_stage": "lead", "tags": ["vip", "eu"]}),
        ),
        (
            "dana",
            json!({"kind": "person", "first_name": "Dana", "address": {"country": "UA", "city": "Kyiv"},
                        "lifecycle_stage": "customer", "tags": ["vip"], "owner_id": app.user_id}),
        ),
        (
            "emil",
            json!({"kind": "company", "company_name": "Emil", "industry": "logistics", "vat_number": "EE7",
                        "address": {"country": "EE"}, "lifecycle_stage": "churned"}),
        ),
    ];
    let mut out = Vec::new();
    for (name, body) in bodies {
        out.push((name, id_of(&app.post_customer(&body).await)));
    }
    out
}

fn named(population: &[(&'static str, String)], names: &[&str]) -> BTreeSet<String> {
    population.iter().filter(|(n, _)| names.contains(n)).map(|(_, id)| id.clone()).collect()
}

async fn crud_versions_and_history(app: TestApp) {
    let body = json!({"name": " VIP retail ", "description": "Our best shops", "filter": {"tags": ["vip"], "industry": "retail"}});
    let response = app.post_json("/v1/segments", &body).await;
    let location = header(response.headers(), "location");
    assert_eq!(header(response.headers(), "etag").as_deref(), Some("\"1\""));
    let segment = assert_json(response, 201).await;
    let path = format!("/v1/segments/{}", id_of(&segment));
    assert_eq!(location.as_deref(), Some(path.as_str()));
    assert_eq!(segment["name"], "VIP retail", "trimmed: {segment}");
    assert_eq!(segment["filter"], json!({"tags": ["vip"], "industry": "retail"}), "{segment}");
    assert_eq!(assert_json(app.get(&path).await, 200).await, segment);

    let stale = app.request(Method::PATCH, &path).header("If-Match", "\"9\"").json(&json!({"name": "x"}));
    assert_problem(send(stale).await, 412, "version_mismatch").await;
    let patch = app
        .request(Method::PATCH, &path)
        .header("If-Match", "\"1\"")
        .json(&json!({"filter": {"industry": null, "country": ["pl"]}}));
    let patched = assert_json(send(patch).await, 200).await;
    assert_eq!(patched["filter"], json!({"tags": ["vip"], "country": ["PL"]}), "filter members merge: {patched}");
    assert_eq!(patched["version"], 2, "{patched}");
    let unchanged = assert_json(app.patch_json(&path, &json!({"name": "VIP retail"})).await, 200).await;
    assert_eq!(unchanged["version"], 2, "a no-op patch keeps the version: {unchanged}");

    let listed = app.admin().list_all("/v1/segments?limit=1").await;
    assert_eq!(ids(&listed), BTreeSet::from([id_of(&segment)]));
    assert_no_content(app.delete(&path).await).await;
    assert_problem(app.get(&path).await, 404, "not_found").await;
    assert!(app.admin().list_all("/v1/segments").await.is_empty());
    assert_eq!(ids(&app.admin().list_all("/v1/segments?deleted=true").await), BTreeSet::from([id_of(&segment)]));
    let restored = assert_json(app.post_json(&format!("{path}/restore"), &json!({})).await, 200).await;
    assert!(restored["deleted_at"].is_null(), "{restored}");

    let history = app.admin().list_all(&format!("{path}/history")).await;
    let actions: Vec<&str> = history.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["restore", "delete", "update", "create"]);
    let change = &history[2]["changes"];
    assert!(change.as_array().is_some_and(|c| c.iter().any(|c| c["field"] == "filter.industry")), "{change}");
}
both_backends!(crud_versions_and_history);

async fn members_and_count_match_the_customer_list(app: TestApp) {
    let people = population(&app).await;
    let by_owner = format!("owner_id={}", app.user_id);
    let cases: Vec<(Value, &str, Vec<&str>)> = vec![
        (
            json!({"kind": "company", "industry": "retail"}),
            "kind=company&industry=retail",
            vec!["acme", "bolt", "cora"],
        ),
        (json!({"vat_registered": true}), "vat_registered=true", vec!["acme", "cora", "emil"]),
        (json!({"vat_registered": false}), "vat_registered=false", vec!["bolt", "dana"]),
        (
            json!({"country": ["UA", "PL"], "lifecycle_stage": ["customer"]}),
            "country=ua,PL&lifecycle_stage=customer",
            vec!["acme", "bolt", "dana"],
        ),
        (json!({"tags": ["vip", "eu"]}), "tag=vip,eu", vec!["cora"]),
        (json!({"city": "Kyiv"}), "city=Kyiv", vec!["acme", "dana"]),
        (json!({"owner_id": [app.user_id]}), &by_owner, vec!["dana"]),
        (json!({"lifecycle_stage": ["lead", "churned"]}), "lifecycle_stage=lead,churned", vec!["cora", "emil"]),
        (json!({}), "", vec!["acme", "bolt", "cora", "dana", "emil"]),
    ];
    for (filter, query, expected) in cases {
        let expected = named(&people, &expected);
        let segment = assert_json(
            app.post_json("/v1/segments", &json!({"name": format!("by {query}"), "filter": filter})).await,
            201,
        )
        .await;
        let path = format!("/v1/segments/{}", id_of(&segment));
        let members = ids(&app.admin().list_all(&format!("{path}/customers?limit=2")).await);
        assert_eq!(members, expected, "segment {filter}");
        let count = assert_json(app.get(&format!("{path}/count")).await, 200).await;
        assert_eq!(count, json!({"segment_id": segment["id"], "count": expected.len()}), "count of {filter}");
        let listed = ids(&app.admin().list_all(&format!("/v1/customers?{query}")).await);
        assert_eq!(listed, expected, "GET /v1/customers?{query}");
    }

    // Members are computed live: a new matching customer joins at once.
    let segment =
        assert_json(app.post_json("/v1/segments", &json!({"name": "EE", "filter": {"country": ["EE"]}})).await, 201)
            .await;
    let count_path = format!("/v1/segments/{}/count", id_of(&segment));
    assert_eq!(assert_json(app.get(&count_path).await, 200).await["count"], 1);
    app.post_customer(&json!({"kind": "person", "first_name": "Eva", "address": {"country": "EE"}})).await;
    assert_eq!(assert_json(app.get(&count_path).await, 200).await["count"], 2);
}
both_backends!(members_and_count_match_the_customer_list);

async fn sorted_members_page_with_a_cursor(app: TestApp) {
    let people = population(&app).await;
    let segment = assert_json(app.post_json("/v1/segments", &json!({"name": "all"})).await, 201).await;
    let path = format!("/v1/segments/{}/customers", id_of(&segment));
    let ascending: Vec<String> =
        app.admin().list_all(&format!("{path}?sort=created_at&limit=2")).await.iter().map(id_of).collect();
    let created: Vec<String> = people.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(ascending, created, "oldest first across pages");
    let first = assert_json(app.get(&format!("{path}?sort=created_at&limit=2")).await, 200).await;
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let wrong_sort = app.get(&format!("{path}?sort=-created_at&cursor={cursor}")).await;
    assert_problem(wrong_sort, 400, "invalid_cursor").await;
    assert_problem(app.get(&format!("{path}?sort=name")).await, 400, "invalid_parameter").await;
    assert_problem(app.get(&format!("{path}?limit=0")).await, 400, "invalid_parameter").await;
    assert_problem(app.get(&format!("{path}?segment=1")).await, 400, "invalid_parameter").await;
}
both_backends!(sorted_members_page_with_a_cursor);

async fn bad_criteria_are_rejected(app: TestApp) {
    let cases = [
        (json!({"name": "x", "filter": {"country": ["XX"]}}), "filter.country", "invalid_value"),
        (
            json!({"name": "x", "filter": {"lead_score_min": 5, "lead_score_max": 1}}),
            "filter.lead_score_max",
            "out_of_range",
        ),
        (
            json!({"name": "x", "filter": {"created_after": "2026-02-01T00:00:00Z", "created_before": "2026-01-01T00:00:00Z"}}),
            "filter.created_before",
            "out_of_range",
        ),
        (json!({"name": " "}), "name", "required"),
        (json!({"name": "x", "filter": {"city": "a\u{0}b"}}), "filter.city", "invalid_characters"),
        (json!({"name": "x", "filter": {"tags": ["x".repeat(65)]}}), "filter.tags[0]", "too_long"),
        (json!({"name": "x", "filter": {"tags": ["vip", " "]}}), "filter.tags[1]", "required"),
    ];
    for (body, field, code) in cases {
        assert_field_error(app.post_json("/v1/segments", &body).await, field, code).await;
    }
    for body in [
        json!({"name": "x", "filter": {"colour": "red"}}),
        json!({"name": "x", "filter": {"lifecycle_stage": ["vip"]}}),
        json!({"name": "x", "filter": {"lead_score_min": 1e30}}),
        json!({"name": "x", "version": 3}),
    ] {
        assert_problem(app.post_json("/v1/segments", &body).await, 422, "validation_failed").await;
    }
    let segment = assert_json(app.post_json("/v1/segments", &json!({"name": "ok"})).await, 201).await;
    let path = format!("/v1/segments/{}", id_of(&segment));
    assert_field_error(
        app.patch_json(&path, &json!({"filter": {"country": ["ZZ"]}})).await,
        "filter.country",
        "invalid_value",
    )
    .await;
    assert_problem(app.patch_json(&path, &json!({"id": "x"})).await, 422, "validation_failed").await;
    assert_problem(app.get("/v1/segments/not-an-id").await, 400, "invalid_parameter").await;

    for query in [
        "lifecycle_stage=vip",
        "country=XX",
        "owner_id=nope",
        "lead_score_min=5&lead_score_max=1",
        "vat_registered=maybe",
        "lead_score_min=99999999999",
    ] {
        assert_problem(app.get(&format!("/v1/customers?{query}")).await, 400, "invalid_parameter").await;
    }
}
both_backends!(bad_criteria_are_rejected);

async fn scopes_and_workspaces(app: TestApp) {
    app.post_customer(&json!({"kind": "person", "first_name": "Mine"})).await;
    let segment = assert_json(app.post_json("/v1/segments", &json!({"name": "all"})).await, 201).await;
    let path = format!("/v1/segments/{}", id_of(&segment));

    let reader = app.create_api_key(&["segments:read", "customers:read"]).await;
    let reader = app.with_key(&reader);
    assert_json(reader.get(&format!("{path}/customers")).await, 200).await;
    assert_problem(reader.post_json("/v1/segments", &json!({"name": "x"})).await, 403, "forbidden").await;
    assert_problem(reader.patch_json(&path, &json!({"name": "x"})).await, 403, "forbidden").await;
    assert_problem(reader.delete(&path).await, 403, "forbidden").await;
    let blind = app.create_api_key(&["segments:write"]).await;
    let blind = app.with_key(&blind);
    assert_json(blind.get(&path).await, 200).await;
    assert_problem(blind.get(&format!("{path}/customers")).await, 403, "forbidden").await;
    assert_problem(blind.get(&format!("{path}/count")).await, 403, "forbidden").await;
    let viewer = app.create_user("viewer").await;
    let token = app.login(&viewer.email, &viewer.password).await;
    assert_json(app.with_token(&token).get(&format!("{path}/count")).await, 200).await;
    assert_problem(app.with_token(&token).post_json("/v1/segments", &json!({"name": "x"})).await, 403, "forbidden")
        .await;

    let other = app.second_workspace().await;
    let other = app.with_key(&other);
    for sub in ["", "/customers", "/count", "/history"] {
        assert_problem(other.get(&format!("{path}{sub}")).await, 404, "not_found").await;
    }
    assert_problem(other.patch_json(&path, &json!({"name": "x"})).await, 404, "not_found").await;
    assert_problem(other.delete(&path).await, 404, "not_found").await;
    assert_problem(other.post_json(&format!("{path}/restore"), &json!({})).await, 404, "not_found").await;
    let theirs = assert_json(other.post_json("/v1/segments", &json!({"name": "all"})).await, 201).await;
    let count = assert_json(other.get(&format!("/v1/segments/{}/count", id_of(&theirs))).await, 200).await;
    assert_eq!(count["count"], 0, "their segment sees none of our customers: {count}");
    assert!(other.list_all("/v1/segments").await.iter().all(|s| s["id"] != segment["id"]));
}
both_backends!(scopes_and_workspaces);

async fn last_interaction_follows_the_interactions(app: TestApp) {
    let quiet = id_of(&app.post_customer(&json!({"kind": "person", "first_name": "Quiet"})).await);
    let busy = id_of(&app.post_customer(&json!({"kind": "person", "first_name": "Busy"})).await);
    let lapsed = id_of(&app.post_customer(&json!({"kind": "person", "first_name": "Lapsed"})).await);
    let log = |customer: &str, at: &str| json!({"channel": "email", "direction": "outbound", "occurred_at": at, "customer_id": customer});
    assert_json(app.post_json("/v1/interactions", &log(&lapsed, "2026-01-10T00:00:00Z")).await, 201).await;
    assert_json(app.post_json("/v1/interactions", &log(&busy, "2026-01-10T00:00:00Z")).await, 201).await;
    let recent = assert_json(app.post_json("/v1/interactions", &log(&busy, "2026-10-01T00:00:00Z")).await, 201).await;

    let segment = json!({"name": "quiet since summer", "filter": {"last_interaction_before": "2026-06-01T00:00:00Z"}});
    let segment = assert_json(app.post_json("/v1/segments", &segment).await, 201).await;
    let members = format!("/v1/segments/{}/customers", id_of(&segment));
    let expected: BTreeSet<String> = [quiet.clone(), lapsed.clone()].into();
    assert_eq!(ids(&app.admin().list_all(&members).await), expected, "never contacted counts as quiet");
    let active = ids(&app.admin().list_all("/v1/customers?last_interaction_after=2026-06-01T00:00:00Z").await);
    assert_eq!(active, [busy.clone()].into());

    // Deleting Busy's recent email makes Busy quiet again; moving Lapsed's email to now wakes it.
    assert_no_content(app.delete(&format!("/v1/interactions/{}", id_of(&recent))).await).await;
    let lapsed_email = app.admin().list_all(&format!("/v1/interactions?customer_id={lapsed}")).await;
    let path = format!("/v1/interactions/{}", id_of(&lapsed_email[0]));
    let now = chrono::Utc::now().to_rfc3339();
    assert_json(app.patch_json(&path, &json!({"occurred_at": now})).await, 200).await;
    let expected: BTreeSet<String> = [quiet, busy].into();
    assert_eq!(ids(&app.admin().list_all(&members).await), expected);
}
both_backends!(last_interaction_follows_the_interactions);
