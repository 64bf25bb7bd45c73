//! Pipelines: the default pipeline of every workspace, creating and configuring pipelines
//! and stages (versioned, audited, admin-only), stage deletion with deals, and the board.

use diesel_async::SimpleAsyncConnection;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_field_error, assert_json, assert_no_content, assert_problem, both_backends, header, send,
};

/// The workspace's default pipeline.
pub async fn default_pipeline(app: &TestApp) -> Value {
    let all = app.admin().list_all("/v1/pipelines").await;
    all.into_iter().find(|p| p["is_default"] == true).expect("a default pipeline")
}

/// The id of the pipeline's stage called `name`.
pub fn stage_id(pipeline: &Value, name: &str) -> String {
    pipeline["stages"]
        .as_array()
        .and_then(|stages| stages.iter().find(|s| s["name"] == name))
        .and_then(|s| s["id"].as_str())
        .unwrap_or_else(|| panic!("no stage {name} in {pipeline}"))
        .to_owned()
}

fn path_of(pipeline: &Value) -> String {
    format!("/v1/pipelines/{}", pipeline["id"].as_str().expect("a pipeline id"))
}

fn summary(pipeline: &Value) -> Vec<(String, i64, String)> {
    pipeline["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .enumerate()
        .map(|(i, s)| {
            assert_eq!(s["position"], i, "positions are 0.. in order: {pipeline}");
            (
                s["name"].as_str().unwrap().to_owned(),
                s["win_probability"].as_i64().unwrap(),
                s["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn triples(items: &[(&str, i64, &str)]) -> Vec<(String, i64, String)> {
    items.iter().map(|(n, p, k)| ((*n).to_owned(), *p, (*k).to_owned())).collect()
}

async fn every_workspace_starts_with_the_sales_pipeline(app: TestApp) {
    let pipelines = app.admin().list_all("/v1/pipelines").await;
    assert_eq!(pipelines.len(), 1, "{pipelines:?}");
    let sales = &pipelines[0];
    assert_eq!(sales["name"], "Sales");
    assert_eq!(sales["is_default"], true);
    assert_eq!(sales["version"], 1);
    assert_eq!(
        summary(sales),
        triples(&[
            ("Qualified", 10, "open"),
            ("Proposal", 40, "open"),
            ("Negotiation", 70, "open"),
            ("Won", 100, "won"),
            ("Lost", 0, "lost")
        ])
    );
    let response = app.get(&path_of(sales)).await;
    assert_eq!(header(response.headers(), "etag").as_deref(), Some("\"1\""));
    assert_eq!(&assert_json(response, 200).await, sales);

    let other = app.second_workspace().await;
    let theirs = app.with_key(&other).list_all("/v1/pipelines").await;
    assert_eq!(theirs.len(), 1);
    assert_ne!(theirs[0]["id"], sales["id"]);
    assert_problem(app.with_key(&other).get(&path_of(sales)).await, 404, "not_found").await;
}
both_backends!(every_workspace_starts_with_the_sales_pipeline);

async fn ensure_defaults_fills_in_workspaces_without_one(app: TestApp) {
    // A workspace from before pipelines existed: drop its pipeline, as an old database lacks it.
    let sales = default_pipeline(&app).await;
    let store = crm_store::Store::open(&app.database_url, None, 1).unwrap();
    let mut conn = store.write().await.unwrap();
    let sql = format!("DELETE FROM pipelines WHERE id = '{}'", sales["id"].as_str().unwrap());
    match &mut conn {
        crm_store::Conn::Pg(c) => c.batch_execute(&sql).await.unwrap(),
        crm_store::Conn::Sqlite(c) => c.batch_execute(&sql).await.unwrap(),
        crm_store::Conn::PgShared(_) => panic!("a write connection is never the shared one"),
    }
    drop(conn);
    assert!(app.admin().list_all("/v1/pipelines").await.is_empty());
    assert_eq!(crm_store::pipelines::ensure_defaults(&store).await.unwrap(), 1);
    assert_eq!(crm_store::pipelines::ensure_defaults(&store).await.unwrap(), 0, "only once");
    let again = default_pipeline(&app).await;
    assert_eq!(again["name"], "Sales");
    assert_eq!(again["stages"].as_array().unwrap().len(), 5);
}
both_backends!(ensure_defaults_fills_in_workspaces_without_one);

async fn create_update_and_delete_a_pipeline(app: TestApp) {
    let body = json!({"name": " Renewals ", "stages": [
        {"name": "Due", "win_probability": 50},
        {"name": "Renewed", "win_probability": 100, "kind": "won"}
    ]});
    let response = app.post_json("/v1/pipelines", &body).await;
    let location = header(response.headers(), "location");
    let created = assert_json(response, 201).await;
    assert_eq!(location, Some(path_of(&created)));
    assert_eq!(created["name"], "Renewals");
    assert_eq!(created["is_default"], false);
    assert_eq!(summary(&created), triples(&[("Due", 50, "open"), ("Renewed", 100, "won")]));

    let defaults = app.post_json("/v1/pipelines", &json!({"name": "Partners"})).await;
    let defaults = assert_json(defaults, 201).await;
    assert_eq!(defaults["stages"].as_array().unwrap().len(), 5, "the default stage set");

    // Making it the default takes the flag from Sales.
    let sales = default_pipeline(&app).await;
    let patched = app.patch_json(&path_of(&created), &json!({"is_default": true, "name": "Renew"})).await;
    let patched = assert_json(patched, 200).await;
    assert_eq!(
        (patched["is_default"].clone(), patched["name"].clone(), patched["version"].clone()),
        (json!(true), json!("Renew"), json!(2))
    );
    let sales = assert_json(app.get(&path_of(&sales)).await, 200).await;
    assert_eq!((sales["is_default"].clone(), sales["version"].clone()), (json!(false), json!(2)));

    // The default can be replaced, never unset or deleted.
    let unset = app.patch_json(&path_of(&patched), &json!({"is_default": false})).await;
    assert_field_error(unset, "is_default", "default_required").await;
    assert_problem(app.delete(&path_of(&patched)).await, 409, "default_pipeline").await;
    let stale =
        send(app.request(Method::PATCH, &path_of(&patched)).header("If-Match", "\"1\"").json(&json!({"name": "x"})));
    assert_problem(stale.await, 412, "version_mismatch").await;
    assert_field_error(app.patch_json(&path_of(&patched), &json!({"stages": []})).await, "stages", "unknown_field")
        .await;

    assert_no_content(app.delete(&path_of(&sales)).await).await;
    assert_problem(app.get(&path_of(&sales)).await, 404, "not_found").await;
    let history = app.admin().list_all(&format!("{}/history", path_of(&patched))).await;
    let actions: Vec<&str> = history.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["update", "create"]);
}
both_backends!(create_update_and_delete_a_pipeline);

async fn invalid_pipelines_are_rejected(app: TestApp) {
    let cases = [
        (json!({"name": ""}), "name", "required"),
        (
            json!({"name": "x", "stages": [{"name": "W", "win_probability": 100, "kind": "won"}]}),
            "stages",
            "open_stage_required",
        ),
        (
            json!({"name": "x", "stages": [{"name": "a", "win_probability": 1}, {"name": "L", "win_probability": 0, "kind": "lost"},
                {"name": "L2", "win_probability": 0, "kind": "lost"}]}),
            "stages",
            "duplicate_kind",
        ),
        (
            json!({"name": "x", "stages": [{"name": "a", "win_probability": 101}]}),
            "stages[0].win_probability",
            "out_of_range",
        ),
        (
            json!({"name": "x", "stages": [{"name": "a", "win_probability": 5, "kind": "maybe"}]}),
            "stages[0].kind",
            "invalid_value",
        ),
        (json!({"name": "x", "id": "nope"}), "id", "unknown_field"),
    ];
    for (body, field, code) in cases {
        assert_field_error(app.post_json("/v1/pipelines", &body).await, field, code).await;
    }
}
both_backends!(invalid_pipelines_are_rejected);

async fn stages_are_added_renamed_reordered_and_deleted(app: TestApp) {
    let sales = default_pipeline(&app).await;
    let path = path_of(&sales);
    let added =
        app.post_json(&format!("{path}/stages"), &json!({"name": "Demo", "win_probability": 25, "position": 1})).await;
    let added = assert_json(added, 201).await;
    assert_eq!(added["version"], 2);
    assert_eq!(
        summary(&added),
        triples(&[
            ("Qualified", 10, "open"),
            ("Demo", 25, "open"),
            ("Proposal", 40, "open"),
            ("Negotiation", 70, "open"),
            ("Won", 100, "won"),
            ("Lost", 0, "lost")
        ])
    );
    let second_won =
        app.post_json(&format!("{path}/stages"), &json!({"name": "W2", "win_probability": 100, "kind": "won"})).await;
    assert_field_error(second_won, "kind", "duplicate_kind").await;

    let demo = stage_id(&added, "Demo");
    let renamed =
        app.patch_json(&format!("{path}/stages/{demo}"), &json!({"name": "Live demo", "win_probability": 30})).await;
    let renamed = assert_json(renamed, 200).await;
    assert_eq!(renamed["version"], 3);
    assert_eq!(summary(&renamed)[1], ("Live demo".to_owned(), 30, "open".to_owned()));
    let kind = app.patch_json(&format!("{path}/stages/{demo}"), &json!({"kind": "won"})).await;
    assert_field_error(kind, "kind", "unknown_field").await;
    let bad = app.patch_json(&format!("{path}/stages/{demo}"), &json!({"win_probability": -1})).await;
    assert_field_error(bad, "win_probability", "out_of_range").await;
    let unknown = app.patch_json(&format!("{path}/stages/{}", uuid::Uuid::now_v7()), &json!({"name": "x"})).await;
    assert_problem(unknown, 404, "not_found").await;

    let mut order: Vec<String> =
        renamed["stages"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect();
    order.reverse();
    let reordered =
        send(app.request(Method::PUT, &format!("{path}/stages/order")).json(&json!({"stage_ids": order}))).await;
    let reordered = assert_json(reordered, 200).await;
    assert_eq!(reordered["version"], 4);
    let names: Vec<String> = summary(&reordered).into_iter().map(|s| s.0).collect();
    assert_eq!(names, ["Lost", "Won", "Negotiation", "Proposal", "Live demo", "Qualified"]);
    let missing =
        send(app.request(Method::PUT, &format!("{path}/stages/order")).json(&json!({"stage_ids": order[1..]}))).await;
    assert_field_error(missing, "stage_ids", "mismatch").await;
    let twice = [&order[..5], &order[..1]].concat();
    let twice =
        send(app.request(Method::PUT, &format!("{path}/stages/order")).json(&json!({"stage_ids": twice}))).await;
    assert_field_error(twice, "stage_ids", "mismatch").await;
    let stale = send(
        app.request(Method::PUT, &format!("{path}/stages/order"))
            .header("If-Match", "\"3\"")
            .json(&json!({"stage_ids": order})),
    )
    .await;
    assert_problem(stale, 412, "version_mismatch").await;

    let deleted = app.delete(&format!("{path}/stages/{demo}")).await;
    let deleted = assert_json(deleted, 200).await;
    assert_eq!(deleted["version"], 5);
    let names: Vec<String> = summary(&deleted).into_iter().map(|s| s.0).collect();
    assert_eq!(names, ["Lost", "Won", "Negotiation", "Proposal", "Qualified"]);
    let history = app.admin().list_all(&format!("{path}/history")).await;
    assert_eq!(history.len(), 5, "create + 4 stage changes: {history:?}");
}
both_backends!(stages_are_added_renamed_reordered_and_deleted);

async fn the_last_open_stage_cannot_go(app: TestApp) {
    let body = json!({"name": "Tiny", "stages": [{"name": "Only", "win_probability": 50}, {"name": "Won", "win_probability": 100, "kind": "won"}]});
    let tiny = assert_json(app.post_json("/v1/pipelines", &body).await, 201).await;
    let only = stage_id(&tiny, "Only");
    let response = app.delete(&format!("{}/stages/{only}", path_of(&tiny))).await;
    assert_field_error(response, "stage_id", "open_stage_required").await;
}
both_backends!(the_last_open_stage_cannot_go);

async fn configuration_needs_settings_admin(app: TestApp) {
    let sales = default_pipeline(&app).await;
    let path = path_of(&sales);
    let sales_user = app.create_user("sales").await;
    let token = app.login(&sales_user.email, &sales_user.password).await;
    let seller = app.with_token(&token);
    assert_json(seller.get(&path).await, 200).await;
    assert_problem(seller.post_json("/v1/pipelines", &json!({"name": "Mine"})).await, 403, "forbidden").await;
    assert_problem(seller.patch_json(&path, &json!({"name": "Mine"})).await, 403, "forbidden").await;
    let add = json!({"name": "x", "win_probability": 5});
    assert_problem(seller.post_json(&format!("{path}/stages"), &add).await, 403, "forbidden").await;
    let qualified = stage_id(&sales, "Qualified");
    assert_problem(seller.delete(&format!("{path}/stages/{qualified}")).await, 403, "forbidden").await;

    let manager = app.create_user("manager").await;
    let token = app.login(&manager.email, &manager.password).await;
    let renamed = app.with_token(&token).patch_json(&path, &json!({"name": "Sales EU"})).await;
    assert_eq!(assert_json(renamed, 200).await["name"], "Sales EU");

    let key = app.create_api_key(&["customers:read"]).await;
    assert_problem(app.with_key(&key).get(&path).await, 403, "forbidden").await;
    let key = app.create_api_key(&["deals:write"]).await;
    assert_json(app.with_key(&key).get("/v1/pipelines").await, 200).await;
    assert_problem(app.with_key(&key).post_json("/v1/pipelines", &json!({"name": "x"})).await, 403, "forbidden").await;

    let other = app.second_workspace().await;
    let foreign = app.with_key(&other);
    assert_problem(foreign.patch_json(&path, &json!({"name": "x"})).await, 404, "not_found").await;
    assert_problem(foreign.post_json(&format!("{path}/stages"), &add).await, 404, "not_found").await;
    assert_problem(foreign.delete(&format!("{path}/stages/{qualified}")).await, 404, "not_found").await;
    assert_problem(foreign.get(&format!("{path}/board")).await, 404, "not_found").await;
    assert_problem(foreign.get(&format!("{path}/history")).await, 404, "not_found").await;
    assert_problem(foreign.delete(&path).await, 404, "not_found").await;
}
both_backends!(configuration_needs_settings_admin);
