//! Lead scoring: rule CRUD and validation, scores and reasons stored on every lead change,
//! rescoring of every live lead when the rules change, score sort and filters, and who may
//! configure rules.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_field_error, assert_json, assert_no_content, assert_problem, both_backends, send,
};
use crate::leads::post_lead;

async fn post_rule(app: &TestApp, body: &Value) -> Value {
    assert_json(app.post_json("/v1/scoring-rules", body).await, 201).await
}

fn path_of(item: &Value, base: &str) -> String {
    format!("{base}/{}", item["id"].as_str().expect("an id"))
}

async fn lead(app: &TestApp, path: &str) -> Value {
    assert_json(app.get(path).await, 200).await
}

async fn rules_crud_and_validation(app: TestApp) {
    let response = app
        .post_json(
            "/v1/scoring-rules",
            &json!({"field": "industry", "operator": "eq", "value": "retail",
        "points": 10, "description": "Retail"}),
        )
        .await;
    let location = crate::helpers::header(response.headers(), "location");
    let rule = assert_json(response, 201).await;
    let path = path_of(&rule, "/v1/scoring-rules");
    assert_eq!(location, Some(path.clone()));
    assert_eq!(
        (rule["field"].as_str(), rule["operator"].as_str(), rule["points"].as_i64(), rule["version"].as_i64()),
        (Some("industry"), Some("eq"), Some(10), Some(1))
    );
    assert_eq!(assert_json(app.get(&path).await, 200).await, rule);

    let invalid = [
        (json!({"field": "shoe_size", "operator": "eq", "value": "x", "points": 1}), "field", "invalid_value"),
        (json!({"field": "industry", "operator": "gt", "value": 3, "points": 1}), "operator", "invalid_value"),
        (json!({"field": "source", "operator": "eq", "value": "tv", "points": 1}), "value", "invalid_type"),
        (
            json!({"field": "form_data.budget", "operator": "gte", "value": "lots", "points": 1}),
            "value",
            "invalid_type",
        ),
        (json!({"field": "phone", "operator": "exists", "points": 1001}), "points", "out_of_range"),
        (json!({"field": "phone", "operator": "like", "points": 1}), "operator", "invalid_value"),
        (json!({"field": "phone", "operator": "exists", "points": 1, "id": "x"}), "id", "unknown_field"),
    ];
    for (body, field, code) in invalid {
        assert_field_error(app.post_json("/v1/scoring-rules", &body).await, field, code).await;
    }

    let patched = assert_json(app.patch_json(&path, &json!({"points": 15, "description": null})).await, 200).await;
    assert_eq!((patched["points"].as_i64(), patched["version"].as_i64()), (Some(15), Some(2)));
    assert!(patched["description"].is_null(), "{patched}");
    assert_field_error(app.patch_json(&path, &json!({"operator": "gt"})).await, "operator", "invalid_value").await;
    let stale = send(app.request(Method::PATCH, &path).header("If-Match", "\"1\"").json(&json!({"points": 1}))).await;
    assert_problem(stale, 412, "version_mismatch").await;
    let listed = app.admin().list_all("/v1/scoring-rules?limit=1").await;
    assert_eq!(listed, vec![patched]);

    let stale = send(app.request(Method::DELETE, &path).header("If-Match", "\"1\"")).await;
    assert_problem(stale, 412, "version_mismatch").await;
    assert_no_content(app.delete(&path).await).await;
    assert_problem(app.get(&path).await, 404, "not_found").await;
    assert_problem(app.delete(&path).await, 404, "not_found").await;
    assert_problem(app.patch_json(&path, &json!({"points": 1})).await, 404, "not_found").await;
    assert!(app.admin().list_all("/v1/scoring-rules").await.is_empty());
}
both_backends!(rules_crud_and_validation);

async fn leads_are_scored_on_every_change(app: TestApp) {
    let retail =
        post_rule(&app, &json!({"field": "industry", "operator": "eq", "value": "retail", "points": 10})).await;
    let phone = post_rule(&app, &json!({"field": "phone", "operator": "exists", "points": 5})).await;
    post_rule(&app, &json!({"field": "source", "operator": "eq", "value": "referral", "points": 20})).await;
    post_rule(&app, &json!({"field": "form_data.budget", "operator": "gte", "value": 1000, "points": 7})).await;

    let created = post_lead(
        &app,
        &json!({"first_name": "A", "industry": "Retail", "phone": "+380441234567", "form_data": {"budget": "1500"}}),
    )
    .await;
    assert_eq!(created["score"], 22, "{created}");
    let reasons = created["score_reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 3, "{created}");
    assert_eq!(
        reasons[0],
        json!({"rule_id": retail["id"], "field": "industry", "operator": "eq", "value": "retail",
                                  "points": 10})
    );
    assert_eq!(reasons[1]["rule_id"], phone["id"], "{created}");
    assert!(reasons[1]["value"].is_null(), "{created}");

    let path = path_of(&created, "/v1/leads");
    let updated = assert_json(app.patch_json(&path, &json!({"source": "referral", "phone": null})).await, 200).await;
    assert_eq!(updated["score"], 37, "{updated}");
    assert_eq!(lead(&app, &path).await["score"], 37);
    let history = assert_json(app.get(&format!("{path}/history")).await, 200).await;
    let fields: Vec<&str> =
        history["data"][0]["changes"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["phone", "source"], "the score is derived, not a change: {history}");
}
both_backends!(leads_are_scored_on_every_change);

async fn rule_changes_rescore_every_live_lead(app: TestApp) {
    let retail = post_lead(&app, &json!({"first_name": "R", "industry": "retail"})).await;
    let farm = post_lead(&app, &json!({"first_name": "F", "industry": "farming"})).await;
    let gone = post_lead(&app, &json!({"first_name": "G", "industry": "retail"})).await;
    let (retail, farm, gone) =
        (path_of(&retail, "/v1/leads"), path_of(&farm, "/v1/leads"), path_of(&gone, "/v1/leads"));
    assert_no_content(app.delete(&gone).await).await;

    let rule = post_rule(&app, &json!({"field": "industry", "operator": "eq", "value": "retail", "points": 10})).await;
    let rule_path = path_of(&rule, "/v1/scoring-rules");
    let scored = lead(&app, &retail).await;
    assert_eq!((scored["score"].as_i64(), scored["version"].as_i64()), (Some(10), Some(1)), "rescoring is no edit");
    assert_eq!(lead(&app, &farm).await["score"], 0);
    let deleted = lead(&app, &format!("{gone}?include_deleted=true")).await;
    assert_eq!(deleted["score"], 0, "deleted leads are rescored when restored: {deleted}");

    assert_json(app.patch_json(&rule_path, &json!({"value": "farming", "points": -3})).await, 200).await;
    assert_eq!(lead(&app, &retail).await["score"], 0);
    let farm_lead = lead(&app, &farm).await;
    assert_eq!(farm_lead["score"], -3);
    assert_eq!(farm_lead["score_reasons"][0]["value"], "farming", "{farm_lead}");

    let restored = assert_json(app.post_json(&format!("{gone}/restore"), &json!({})).await, 200).await;
    assert_eq!(restored["score"], 0, "{restored}");
    assert_json(app.patch_json(&rule_path, &json!({"value": "retail"})).await, 200).await;
    assert_eq!(lead(&app, &gone).await["score"], -3);

    assert_no_content(app.delete(&rule_path).await).await;
    for path in [&retail, &farm, &gone] {
        let after = lead(&app, path).await;
        assert_eq!((after["score"].as_i64(), after["score_reasons"].clone()), (Some(0), json!([])), "{path}");
    }
}
both_backends!(rule_changes_rescore_every_live_lead);

async fn lists_sort_and_filter_by_score(app: TestApp) {
    post_rule(&app, &json!({"field": "form_data.size", "operator": "gte", "value": 0, "points": 1})).await;
    post_rule(&app, &json!({"field": "form_data.size", "operator": "gte", "value": 10, "points": 10})).await;
    post_rule(&app, &json!({"field": "tags", "operator": "contains", "value": "hot", "points": 100})).await;
    let mut by_score = Vec::new();
    for (size, tags, score) in [(5, json!([]), 1), (50, json!([]), 11), (1, json!(["hot"]), 101), (7, json!([]), 1)] {
        let created = post_lead(&app, &json!({"first_name": "L", "form_data": {"size": size}, "tags": tags})).await;
        assert_eq!(created["score"], score, "{created}");
        by_score.push((score, created["id"].as_str().unwrap().to_owned()));
    }
    let none = post_lead(&app, &json!({"first_name": "No size"})).await;
    by_score.push((0, none["id"].as_str().unwrap().to_owned()));
    let ids_of = |items: Vec<Value>| items.iter().map(|l| l["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();

    let mut ascending = by_score.clone();
    ascending.sort();
    let expected: Vec<String> = ascending.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(ids_of(app.admin().list_all("/v1/leads?sort=score&limit=2").await), expected);
    let mut descending = by_score.clone();
    descending.sort_by(|a, b| b.cmp(a));
    let expected: Vec<String> = descending.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(ids_of(app.admin().list_all("/v1/leads?sort=-score&limit=2").await), expected);

    let mid = ids_of(app.admin().list_all("/v1/leads?score_min=1&score_max=11&sort=-score").await);
    assert_eq!(mid, vec![by_score[1].1.clone(), by_score[3].1.clone(), by_score[0].1.clone()]);
    let hot = ids_of(app.admin().list_all("/v1/leads?score_min=100").await);
    assert_eq!(hot, vec![by_score[2].1.clone()]);
}
both_backends!(lists_sort_and_filter_by_score);

async fn only_admins_configure_rules(app: TestApp) {
    let rule = post_rule(&app, &json!({"field": "phone", "operator": "exists", "points": 5})).await;
    let path = path_of(&rule, "/v1/scoring-rules");
    let sales = app.create_user("sales").await;
    let token = app.login(&sales.email, &sales.password).await;
    let sales = app.with_token(&token);
    assert_eq!(sales.list_all("/v1/scoring-rules").await.len(), 1);
    assert_json(sales.get(&path).await, 200).await;
    let body = json!({"field": "city", "operator": "exists", "points": 1});
    assert_problem(sales.post_json("/v1/scoring-rules", &body).await, 403, "forbidden").await;
    assert_problem(sales.patch_json(&path, &json!({"points": 1})).await, 403, "forbidden").await;
    assert_problem(sales.delete(&path).await, 403, "forbidden").await;

    let reader = app.create_api_key(&["leads:read"]).await;
    let reader = app.with_key(&reader);
    assert_json(reader.get(&path).await, 200).await;
    assert_problem(reader.post_json("/v1/scoring-rules", &body).await, 403, "forbidden").await;
    let admin_key = app.create_api_key(&["settings:admin"]).await;
    assert_json(app.with_key(&admin_key).post_json("/v1/scoring-rules", &body).await, 201).await;

    let other = app.second_workspace().await;
    let outsider = app.with_key(&other);
    assert_problem(outsider.get(&path).await, 404, "not_found").await;
    assert_problem(outsider.patch_json(&path, &json!({"points": 1})).await, 404, "not_found").await;
    assert_problem(outsider.delete(&path).await, 404, "not_found").await;
    assert!(outsider.list_all("/v1/scoring-rules").await.is_empty());
}
both_backends!(only_admins_configure_rules);
