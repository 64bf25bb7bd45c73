//! Deals: create with pipeline defaults, moves (recorded, closing and reopening), merge
//! patches, lifecycle, lists, scopes and isolation, stage deletion with deals, the board,
//! the forecast (exact numbers) and concurrent moves.

use chrono::{Datelike, Months, NaiveDate, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_field_error, assert_json, assert_no_content, assert_problem, both_backends, header, send,
};
use crate::pipelines::{default_pipeline, stage_id};

async fn customer(app: &TestApp) -> String {
    let created = app.post_customer(&json!({"kind": "company", "company_name": "Acme"})).await;
    created["id"].as_str().unwrap().to_owned()
}

async fn deal(app: &TestApp, body: Value) -> Value {
    assert_json(app.post_json("/v1/deals", &body).await, 201).await
}

fn path_of(deal: &Value) -> String {
    format!("/v1/deals/{}", deal["id"].as_str().expect("a deal id"))
}

async fn move_to(app: &TestApp, deal: &Value, body: Value) -> reqwest::Response {
    app.post_json(&format!("{}/move", path_of(deal)), &body).await
}

async fn create_uses_the_default_pipeline(app: TestApp) {
    let customer_id = customer(&app).await;
    let sales = default_pipeline(&app).await;
    let body = json!({"title": " Annual plan ", "customer_id": customer_id, "amount_minor": 120000, "currency": "eur",
                      "expected_close_date": "2026-12-15", "owner_id": app.user_id, "tags": ["upsell"]});
    let response = app.post_json("/v1/deals", &body).await;
    let location = header(response.headers(), "location");
    let etag = header(response.headers(), "etag");
    let created = assert_json(response, 201).await;
    assert_eq!(location, Some(path_of(&created)));
    assert_eq!(etag.as_deref(), Some("\"1\""));
    assert_eq!(created["title"], "Annual plan");
    assert_eq!(created["pipeline_id"], sales["id"]);
    assert_eq!(created["stage_id"], stage_id(&sales, "Qualified").as_str());
    assert_eq!(created["status"], "open");
    assert_eq!(created["currency"], "EUR");
    assert_eq!(created["amount_minor"], 120000);
    assert_eq!(created["expected_close_date"], "2026-12-15");
    assert_eq!(created["tags"], json!(["upsell"]));
    assert!(created["closed_at"].is_null() && created["lost_reason"].is_null() && created["deleted_at"].is_null());
    assert_eq!(created["stage_entered_at"], created["created_at"]);
    assert_eq!(assert_json(app.get(&path_of(&created)).await, 200).await, created);

    let changes = app.admin().list_all(&format!("{}/stage-changes", path_of(&created))).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(changes[0]["from_stage_id"].is_null());
    assert_eq!(changes[0]["to_stage_id"], created["stage_id"]);
    assert_eq!(changes[0]["customer_id"], customer_id.as_str());
    assert_eq!(changes[0]["actor"]["type"], "api_key");

    // Straight into a won stage: closed on creation.
    let won =
        deal(&app, json!({"title": "Done", "customer_id": customer_id, "stage_id": stage_id(&sales, "Won")})).await;
    assert_eq!(won["status"], "won");
    assert_eq!(won["closed_at"], won["created_at"]);
}
both_backends!(create_uses_the_default_pipeline);

async fn invalid_deals_are_rejected(app: TestApp) {
    let customer_id = customer(&app).await;
    let sales = default_pipeline(&app).await;
    let other = app.post_json("/v1/pipelines", &json!({"name": "Other"})).await;
    let other = assert_json(other, 201).await;
    let base = json!({"title": "x", "customer_id": customer_id});
    let with = |extra: Value| {
        let mut body = base.clone();
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let cases = [
        (with(json!({"customer_id": uuid::Uuid::now_v7()})), "customer_id", "not_found"),
        (with(json!({"owner_id": uuid::Uuid::now_v7()})), "owner_id", "not_found"),
        (with(json!({"pipeline_id": uuid::Uuid::now_v7()})), "pipeline_id", "not_found"),
        (with(json!({"stage_id": stage_id(&other, "Proposal")})), "stage_id", "not_in_pipeline"),
        (with(json!({"stage_id": stage_id(&sales, "Lost")})), "lost_reason", "required"),
        (with(json!({"amount_minor": 5})), "currency", "required"),
        (with(json!({"amount_minor": 1_000_000_000_000_001_i64, "currency": "EUR"})), "amount_minor", "out_of_range"),
        (with(json!({"amount_minor": 1e30})), "amount_minor", "invalid_type"),
        (with(json!({"currency": "EURO"})), "currency", "invalid_value"),
        (with(json!({"title": " "})), "title", "required"),
        (with(json!({"title": "a\u{0}b"})), "title", "invalid_characters"),
        (with(json!({"expected_close_date": "0100-01-01"})), "expected_close_date", "out_of_range"),
        (with(json!({"status": "won"})), "status", "unknown_field"),
        (json!({"title": "x"}), "customer_id", "required"),
    ];
    for (body, field, code) in cases {
        assert_field_error(app.post_json("/v1/deals", &body).await, field, code).await;
    }
    // The stage of another pipeline, named together with that pipeline, is fine.
    let body = with(json!({"pipeline_id": other["id"], "stage_id": stage_id(&other, "Proposal")}));
    assert_eq!(deal(&app, body).await["pipeline_id"], other["id"]);

    let foreign = app.second_workspace().await;
    let foreign_customer = assert_json(
        app.with_key(&foreign).post_json("/v1/customers", &json!({"kind": "person", "first_name": "F"})).await,
        201,
    )
    .await;
    let response = app.post_json("/v1/deals", &with(json!({"customer_id": foreign_customer["id"]}))).await;
    assert_field_error(response, "customer_id", "not_found").await;
}
both_backends!(invalid_deals_are_rejected);

async fn moves_are_recorded_and_close_and_reopen(app: TestApp) {
    let customer_id = customer(&app).await;
    let sales = default_pipeline(&app).await;
    let created = deal(&app, json!({"title": "x", "customer_id": customer_id})).await;

    let moved =
        assert_json(move_to(&app, &created, json!({"stage_id": stage_id(&sales, "Proposal")})).await, 200).await;
    assert_eq!((moved["status"].clone(), moved["version"].clone()), (json!("open"), json!(2)));
    assert_ne!(moved["stage_entered_at"], created["stage_entered_at"]);

    let won = assert_json(move_to(&app, &moved, json!({"stage_id": stage_id(&sales, "Won")})).await, 200).await;
    assert_eq!(won["status"], "won");
    assert_eq!(won["closed_at"], won["updated_at"]);

    let lost_without = move_to(&app, &won, json!({"stage_id": stage_id(&sales, "Lost")})).await;
    assert_field_error(lost_without, "lost_reason", "required").await;
    let lost = move_to(&app, &won, json!({"stage_id": stage_id(&sales, "Lost"), "lost_reason": " price "})).await;
    let lost = assert_json(lost, 200).await;
    assert_eq!((lost["status"].clone(), lost["lost_reason"].clone()), (json!("lost"), json!("price")));
    assert_eq!(lost["closed_at"], lost["updated_at"]);

    let reopened =
        assert_json(move_to(&app, &lost, json!({"stage_id": stage_id(&sales, "Negotiation")})).await, 200).await;
    assert_eq!(reopened["status"], "open");
    assert!(reopened["closed_at"].is_null() && reopened["lost_reason"].is_null(), "{reopened}");
    assert_eq!(reopened["version"], 5);

    let changes = app.admin().list_all(&format!("{}/stage-changes?limit=2", path_of(&created))).await;
    let hops: Vec<(Value, Value)> =
        changes.iter().map(|c| (c["from_stage_id"].clone(), c["to_stage_id"].clone())).collect();
    let s = |name: &str| json!(stage_id(&sales, name));
    assert_eq!(
        hops,
        [
            (s("Lost"), s("Negotiation")),
            (s("Won"), s("Lost")),
            (s("Proposal"), s("Won")),
            (s("Qualified"), s("Proposal")),
            (Value::Null, s("Qualified")),
        ]
    );

    // The same stage again is no move and no new version.
    let same =
        assert_json(move_to(&app, &created, json!({"stage_id": stage_id(&sales, "Negotiation")})).await, 200).await;
    assert_eq!(same["version"], 5);
    let unknown = move_to(&app, &created, json!({"stage_id": uuid::Uuid::now_v7()})).await;
    assert_field_error(unknown, "stage_id", "not_found").await;
    let stale = send(
        app.request(Method::POST, &format!("{}/move", path_of(&created)))
            .header("If-Match", "\"2\"")
            .json(&json!({"stage_id": stage_id(&sales, "Qualified")})),
    )
    .await;
    assert_problem(stale, 412, "version_mismatch").await;
    assert_field_error(move_to(&app, &created, json!({"stage": "x"})).await, "stage", "unknown_field").await;

    // Another pipeline's stage moves the deal into that pipeline.
    let other = assert_json(app.post_json("/v1/pipelines", &json!({"name": "Other"})).await, 201).await;
    let across =
        assert_json(move_to(&app, &created, json!({"stage_id": stage_id(&other, "Proposal")})).await, 200).await;
    assert_eq!(across["pipeline_id"], other["id"]);
}
both_backends!(moves_are_recorded_and_close_and_reopen);

async fn patch_delete_restore_reassign_and_history(app: TestApp) {
    let customer_id = customer(&app).await;
    let sales = default_pipeline(&app).await;
    let created =
        deal(&app, json!({"title": "x", "customer_id": customer_id, "amount_minor": 10, "currency": "USD"})).await;
    let path = path_of(&created);

    let patched = app.patch_json(&path, &json!({"title": "Bigger", "amount_minor": 99, "currency": null})).await;
    assert_field_error(patched, "currency", "required").await;
    let patched = assert_json(app.patch_json(&path, &json!({"title": "Bigger", "amount_minor": 99})).await, 200).await;
    assert_eq!(
        (patched["title"].clone(), patched["amount_minor"].clone(), patched["version"].clone()),
        (json!("Bigger"), json!(99), json!(2))
    );

    // A stage change through PATCH is a recorded move.
    let lost = app.patch_json(&path, &json!({"stage_id": stage_id(&sales, "Lost"), "lost_reason": "budget"})).await;
    let lost = assert_json(lost, 200).await;
    assert_eq!(lost["status"], "lost");
    assert!(lost["closed_at"].is_string());
    let cleared = app.patch_json(&path, &json!({"lost_reason": null})).await;
    assert_field_error(cleared, "lost_reason", "required").await;
    let reopened =
        assert_json(app.patch_json(&path, &json!({"stage_id": stage_id(&sales, "Proposal")})).await, 200).await;
    assert!(reopened["closed_at"].is_null() && reopened["lost_reason"].is_null());
    // Only the pipeline changes: the deal enters that pipeline's first open stage.
    let other = assert_json(app.post_json("/v1/pipelines", &json!({"name": "Other"})).await, 201).await;
    let switched = assert_json(app.patch_json(&path, &json!({"pipeline_id": other["id"]})).await, 200).await;
    assert_eq!(switched["stage_id"], stage_id(&other, "Qualified").as_str());
    let mismatch = app.patch_json(&path, &json!({"stage_id": stage_id(&sales, "Won")})).await;
    assert_field_error(mismatch, "stage_id", "not_in_pipeline").await;
    assert_field_error(app.patch_json(&path, &json!({"version": 9})).await, "version", "unknown_field").await;
    let changes = app.admin().list_all(&format!("{path}/stage-changes")).await;
    assert_eq!(changes.len(), 4, "create, lost, proposal, other pipeline: {changes:?}");

    let seller = app.create_user("sales").await;
    let reassign = json!({"owner_id": seller.id, "reason": "territory"});
    let reassigned = assert_json(app.post_json(&format!("{path}/reassign"), &reassign).await, 200).await;
    assert_eq!(reassigned["owner_id"], seller.id.as_str());
    let bad = json!({"owner_id": uuid::Uuid::now_v7(), "reason": "x"});
    assert_field_error(app.post_json(&format!("{path}/reassign"), &bad).await, "owner_id", "not_found").await;
    let blank = json!({"owner_id": seller.id, "reason": " "});
    assert_field_error(app.post_json(&format!("{path}/reassign"), &blank).await, "reason", "required").await;

    let stale = send(app.request(Method::DELETE, &path).header("If-Match", "\"1\"")).await;
    assert_problem(stale, 412, "version_mismatch").await;
    assert_no_content(app.delete(&path).await).await;
    assert_problem(app.get(&path).await, 404, "not_found").await;
    assert_problem(app.delete(&path).await, 404, "not_found").await;
    assert_problem(move_to(&app, &created, json!({"stage_id": stage_id(&sales, "Won")})).await, 404, "not_found").await;
    let fetched = assert_json(app.get(&format!("{path}?include_deleted=true")).await, 200).await;
    assert!(fetched["deleted_at"].is_string(), "{fetched}");
    let deleted = app.admin().list_all("/v1/deals?deleted=true").await;
    assert_eq!(deleted.len(), 1);
    let restored = assert_json(app.post_json(&format!("{path}/restore"), &json!({})).await, 200).await;
    assert!(restored["deleted_at"].is_null());

    let history = app.admin().list_all(&format!("{path}/history")).await;
    let actions: Vec<&str> = history.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["restore", "delete", "reassign", "update", "update", "update", "update", "create"]);
    assert_eq!(history[2]["reason"], "territory");
}
both_backends!(patch_delete_restore_reassign_and_history);

async fn lists_filter_sort_and_page(app: TestApp) {
    let customer_id = customer(&app).await;
    let sales = default_pipeline(&app).await;
    let specs = [
        ("Alpha", 300, Some("2026-12-01"), "EUR"),
        ("Beta", 100, None, "EUR"),
        ("Gamma", 200, Some("2026-11-30"), "USD"),
        ("Delta", 100, Some("2026-12-01"), "EUR"),
        ("Epsilon", 500, None, "USD"),
    ];
    for (title, amount, date, currency) in specs {
        deal(
            &app,
            json!({"title": title, "customer_id": customer_id, "amount_minor": amount, "currency": currency,
                          "expected_close_date": date}),
        )
        .await;
    }
    let titles = |items: Vec<Value>| items.iter().map(|d| d["title"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let admin = app.admin();
    assert_eq!(titles(admin.list_all("/v1/deals?limit=2").await), ["Epsilon", "Delta", "Gamma", "Beta", "Alpha"]);
    assert_eq!(
        titles(admin.list_all("/v1/deals?limit=2&sort=amount_minor").await),
        ["Beta", "Delta", "Gamma", "Alpha", "Epsilon"]
    );
    assert_eq!(
        titles(admin.list_all("/v1/deals?limit=2&sort=-amount_minor").await),
        ["Epsilon", "Alpha", "Gamma", "Delta", "Beta"]
    );
    assert_eq!(
        titles(admin.list_all("/v1/deals?limit=1&sort=expected_close_date").await),
        ["Gamma", "Alpha", "Delta", "Beta", "Epsilon"]
    );
    assert_eq!(
        titles(admin.list_all("/v1/deals?limit=1&sort=-expected_close_date").await),
        ["Epsilon", "Beta", "Delta", "Alpha", "Gamma"]
    );
    assert_eq!(titles(admin.list_all("/v1/deals?sort=created_at&currency=usd").await), ["Gamma", "Epsilon"]);
    assert_eq!(
        titles(admin.list_all("/v1/deals?sort=created_at&amount_min=150&amount_max=300").await),
        ["Alpha", "Gamma"]
    );
    assert_eq!(titles(admin.list_all("/v1/deals?q=ELT").await), ["Delta"]);
    let window = "/v1/deals?sort=created_at&expected_close_after=2026-12-01&expected_close_before=2026-12-02";
    assert_eq!(titles(admin.list_all(window).await), ["Alpha", "Delta"]);
    let qualified = stage_id(&sales, "Qualified");
    let filtered = format!(
        "/v1/deals?stage_id={qualified}&status=open&pipeline_id={}&customer_id={customer_id}",
        sales["id"].as_str().unwrap()
    );
    assert_eq!(admin.list_all(&filtered).await.len(), 5);
    assert!(admin.list_all("/v1/deals?status=won").await.is_empty());
    assert!(admin.list_all(&format!("/v1/deals?owner_id={}", app.user_id)).await.is_empty());

    assert_problem(app.get("/v1/deals?sort=title").await, 400, "invalid_parameter").await;
    assert_problem(app.get("/v1/deals?status=maybe").await, 400, "invalid_parameter").await;
    assert_problem(app.get("/v1/deals?colour=red").await, 400, "invalid_parameter").await;
    assert_problem(app.get("/v1/deals?currency=EURO").await, 400, "invalid_parameter").await;
    assert_problem(app.get("/v1/deals?limit=0").await, 400, "invalid_parameter").await;
    let page = assert_json(app.get("/v1/deals?limit=1").await, 200).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    assert_problem(app.get(&format!("/v1/deals?sort=amount_minor&cursor={cursor}")).await, 400, "invalid_cursor").await;
    assert_problem(app.get("/v1/deals/not-a-uuid").await, 400, "invalid_parameter").await;
}
both_backends!(lists_filter_sort_and_page);

async fn scopes_and_workspaces_are_enforced(app: TestApp) {
    let customer_id = customer(&app).await;
    let sales = default_pipeline(&app).await;
    let created = deal(&app, json!({"title": "x", "customer_id": customer_id})).await;
    let path = path_of(&created);
    let reader = app.create_api_key(&["deals:read"]).await;
    let reader = app.with_key(&reader);
    assert_json(reader.get(&path).await, 200).await;
    assert_json(reader.get("/v1/deals").await, 200).await;
    assert_problem(
        reader.post_json("/v1/deals", &json!({"title": "x", "customer_id": customer_id})).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(reader.patch_json(&path, &json!({"title": "y"})).await, 403, "forbidden").await;
    assert_problem(reader.delete(&path).await, 403, "forbidden").await;
    let body = json!({"stage_id": stage_id(&sales, "Won")});
    assert_problem(reader.post_json(&format!("{path}/move"), &body).await, 403, "forbidden").await;
    let customers_only = app.create_api_key(&["customers:write"]).await;
    assert_problem(app.with_key(&customers_only).get(&path).await, 403, "forbidden").await;
    assert_problem(
        app.with_key(&customers_only).get("/v1/deals/forecast?from=2026-01-01&to=2026-12-31").await,
        403,
        "forbidden",
    )
    .await;

    let other = app.second_workspace().await;
    let foreign = app.with_key(&other);
    assert_problem(foreign.get(&path).await, 404, "not_found").await;
    assert_problem(foreign.patch_json(&path, &json!({"title": "y"})).await, 404, "not_found").await;
    assert_problem(foreign.post_json(&format!("{path}/move"), &body).await, 422, "validation_failed").await;
    let theirs = default_pipeline_of(&app, &other).await;
    let their_stage = json!({"stage_id": stage_id(&theirs, "Won")});
    assert_problem(foreign.post_json(&format!("{path}/move"), &their_stage).await, 404, "not_found").await;
    assert_problem(foreign.get(&format!("{path}/stage-changes")).await, 404, "not_found").await;
    assert_problem(foreign.get(&format!("{path}/history")).await, 404, "not_found").await;
    assert_problem(foreign.delete(&path).await, 404, "not_found").await;
    assert_problem(foreign.post_json(&format!("{path}/restore"), &json!({})).await, 404, "not_found").await;
    let reassign = json!({"owner_id": app.user_id, "reason": "x"});
    assert_problem(foreign.post_json(&format!("{path}/reassign"), &reassign).await, 404, "not_found").await;
    assert!(foreign.list_all("/v1/deals").await.is_empty());
    // Another workspace's stage is unknown here.
    assert_field_error(move_to(&app, &created, their_stage).await, "stage_id", "not_found").await;
}
both_backends!(scopes_and_workspaces_are_enforced);

async fn default_pipeline_of(app: &TestApp, key: &str) -> Value {
    let all = app.with_key(key).list_all("/v1/pipelines").await;
    all.into_iter().find(|p| p["is_default"] == true).unwrap()
}

async fn stages_and_pipelines_with_deals_are_protected(app: TestApp) {
    let customer_id = customer(&app).await;
    let sales = default_pipeline(&app).await;
    let path = format!("/v1/pipelines/{}", sales["id"].as_str().unwrap());
    let (qualified, proposal, won) =
        (stage_id(&sales, "Qualified"), stage_id(&sales, "Proposal"), stage_id(&sales, "Won"));
    let live = deal(&app, json!({"title": "live", "customer_id": customer_id})).await;
    let gone = deal(&app, json!({"title": "gone", "customer_id": customer_id})).await;
    assert_no_content(app.delete(&path_of(&gone)).await).await;

    let refused = app.delete(&format!("{path}/stages/{qualified}")).await;
    assert_problem(refused, 409, "stage_not_empty").await;
    let wrong_kind = app.delete(&format!("{path}/stages/{qualified}?move_deals_to={won}")).await;
    assert_field_error(wrong_kind, "move_deals_to", "invalid_value").await;
    let itself = app.delete(&format!("{path}/stages/{qualified}?move_deals_to={qualified}")).await;
    assert_field_error(itself, "move_deals_to", "invalid_value").await;

    let moved =
        assert_json(app.delete(&format!("{path}/stages/{qualified}?move_deals_to={proposal}")).await, 200).await;
    assert_eq!(moved["stages"].as_array().unwrap().len(), 4);
    let live = assert_json(app.get(&path_of(&live)).await, 200).await;
    assert_eq!((live["stage_id"].clone(), live["version"].clone()), (json!(proposal), json!(2)));
    let changes = app.admin().list_all(&format!("{}/stage-changes", path_of(&live))).await;
    assert_eq!(
        (changes[0]["from_stage_id"].clone(), changes[0]["to_stage_id"].clone()),
        (json!(qualified), json!(proposal))
    );
    let gone = assert_json(app.get(&format!("{}?include_deleted=true", path_of(&gone))).await, 200).await;
    assert_eq!(gone["stage_id"], proposal.as_str(), "deleted deals move too");

    let other =
        assert_json(app.post_json("/v1/pipelines", &json!({"name": "Other", "is_default": true})).await, 201).await;
    assert_problem(app.delete(&path).await, 409, "pipeline_not_empty").await;
    let body = json!({"stage_id": stage_id(&other, "Proposal")});
    assert_json(move_to(&app, &live, body.clone()).await, 200).await;
    assert_problem(app.delete(&path).await, 409, "pipeline_not_empty").await;
    assert_json(app.post_json(&format!("{}/restore", path_of(&gone)), &json!({})).await, 200).await;
    assert_json(move_to(&app, &gone, body).await, 200).await;
    assert_no_content(app.delete(&path).await).await;
}
both_backends!(stages_and_pipelines_with_deals_are_protected);

async fn the_board_counts_and_sums_per_stage_and_currency(app: TestApp) {
    let customer_id = customer(&app).await;
    let sales = default_pipeline(&app).await;
    let (qualified, proposal) = (stage_id(&sales, "Qualified"), stage_id(&sales, "Proposal"));
    for (amount, currency, stage) in
        [(1000, "EUR", &qualified), (335, "EUR", &qualified), (5000, "USD", &qualified), (200, "EUR", &proposal)]
    {
        deal(&app, json!({"title": "d", "customer_id": customer_id, "amount_minor": amount, "currency": currency, "stage_id": stage})).await;
    }
    let won = stage_id(&sales, "Won");
    deal(
        &app,
        json!({"title": "won", "customer_id": customer_id, "amount_minor": 9, "currency": "EUR", "stage_id": won}),
    )
    .await;
    let board_path = format!("/v1/pipelines/{}/board?limit=2", sales["id"].as_str().unwrap());
    let board = assert_json(app.get(&board_path).await, 200).await;
    assert_eq!(board["pipeline_id"], sales["id"]);
    let stages = board["stages"].as_array().unwrap();
    let names: Vec<&str> = stages.iter().map(|s| s["stage"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Qualified", "Proposal", "Negotiation"], "open stages only");
    assert_eq!(stages[0]["deal_count"], 3);
    assert_eq!(
        stages[0]["amounts"],
        json!([{"currency": "EUR", "amount_minor": 1335, "weighted_minor": 134},
               {"currency": "USD", "amount_minor": 5000, "weighted_minor": 500}])
    );
    assert_eq!(stages[0]["deals"].as_array().unwrap().len(), 2);
    let cursor = stages[0]["next_cursor"].as_str().expect("more deals in Qualified");
    let rest =
        app.get(&format!("/v1/deals?stage_id={qualified}&status=open&sort=-updated_at&limit=2&cursor={cursor}")).await;
    let rest = assert_json(rest, 200).await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["data"][0]["amount_minor"], 1000, "the oldest comes last");
    assert_eq!(stages[1]["deal_count"], 1);
    assert_eq!(stages[1]["amounts"], json!([{"currency": "EUR", "amount_minor": 200, "weighted_minor": 80}]));
    assert!(stages[1]["next_cursor"].is_null());
    assert_eq!((stages[2]["deal_count"].clone(), stages[2]["amounts"].clone()), (json!(0), json!([])));

    let mine = format!("/v1/pipelines/{}/board?owner_id={}", sales["id"].as_str().unwrap(), app.user_id);
    let mine = assert_json(app.get(&mine).await, 200).await;
    assert_eq!(mine["stages"][0]["deal_count"], 0);
    let unknown = format!("/v1/pipelines/{}/board", uuid::Uuid::now_v7());
    assert_problem(app.get(&unknown).await, 404, "not_found").await;
    assert_problem(app.get(&format!("{board_path}&limit=500")).await, 400, "invalid_parameter").await;
}
both_backends!(the_board_counts_and_sums_per_stage_and_currency);

fn day(d: NaiveDate, plus: u64) -> String {
    (d + chrono::Days::new(plus)).to_string()
}

async fn the_forecast_is_exact(app: TestApp) {
    let customer_id = customer(&app).await;
    let sales = default_pipeline(&app).await;
    let seller = app.create_user("sales").await;
    let (a, b) = (app.user_id.clone(), seller.id.clone());
    let today = Utc::now().date_naive();
    let m0 = today.with_day(1).unwrap();
    let m1 = m0 + Months::new(1);
    let m2 = m0 + Months::new(2);
    let s = |name: &str| stage_id(&sales, name);
    let specs = [
        (1000, "EUR", s("Qualified"), day(m1, 9), Some(&a)),
        (335, "EUR", s("Proposal"), day(m1, 19), Some(&b)),
        (2001, "EUR", s("Negotiation"), day(m0, 0), Some(&a)),
        (5000, "USD", s("Qualified"), day(m1, 0), None),
        (999, "EUR", s("Qualified"), day(m2, 0), Some(&a)),
    ];
    for (amount, currency, stage, close, owner) in specs {
        deal(
            &app,
            json!({"title": "f", "customer_id": customer_id, "amount_minor": amount, "currency": currency,
                          "stage_id": stage, "expected_close_date": close, "owner_id": owner}),
        )
        .await;
    }
    let won = deal(
        &app,
        json!({"title": "w", "customer_id": customer_id, "amount_minor": 7000, "currency": "EUR",
                                "expected_close_date": day(m1, 0), "owner_id": b}),
    )
    .await;
    assert_json(move_to(&app, &won, json!({"stage_id": s("Won")})).await, 200).await;
    let lost = deal(
        &app,
        json!({"title": "l", "customer_id": customer_id, "amount_minor": 3, "currency": "EUR",
                                 "expected_close_date": day(m1, 0)}),
    )
    .await;
    assert_json(move_to(&app, &lost, json!({"stage_id": s("Lost"), "lost_reason": "no"})).await, 200).await;
    let other = assert_json(app.post_json("/v1/pipelines", &json!({"name": "Other"})).await, 201).await;
    deal(
        &app,
        json!({"title": "o", "customer_id": customer_id, "amount_minor": 100, "currency": "EUR",
                      "pipeline_id": other["id"], "expected_close_date": day(m1, 0)}),
    )
    .await;

    let (from, to) = (m0.to_string(), (m2 - chrono::Days::new(1)).to_string());
    let pipeline = sales["id"].as_str().unwrap();
    let url = format!("/v1/deals/forecast?pipeline_id={pipeline}&from={from}&to={to}&group_by=month");
    let month = assert_json(app.get(&url).await, 200).await;
    let (p0, p1) = (m0.format("%Y-%m").to_string(), m1.format("%Y-%m").to_string());
    assert_eq!(month["group_by"], "month");
    assert_eq!(
        month["rows"],
        json!([
            {"period": p0, "currency": "EUR", "open_count": 1, "open_amount_minor": 2001, "weighted_amount_minor": 1401,
             "won_count": 1, "won_amount_minor": 7000},
            {"period": p1, "currency": "EUR", "open_count": 2, "open_amount_minor": 1335, "weighted_amount_minor": 234,
             "won_count": 0, "won_amount_minor": 0},
            {"period": p1, "currency": "USD", "open_count": 1, "open_amount_minor": 5000, "weighted_amount_minor": 500,
             "won_count": 0, "won_amount_minor": 0},
        ])
    );

    let url = format!("/v1/deals/forecast?pipeline_id={pipeline}&from={from}&to={to}&group_by=owner");
    let owner = assert_json(app.get(&url).await, 200).await;
    let mut expected = vec![
        json!({"period": a, "currency": "EUR", "open_count": 2, "open_amount_minor": 3001, "weighted_amount_minor": 1501,
               "won_count": 0, "won_amount_minor": 0}),
        json!({"period": b, "currency": "EUR", "open_count": 1, "open_amount_minor": 335, "weighted_amount_minor": 134,
               "won_count": 1, "won_amount_minor": 7000}),
    ];
    expected.sort_by_key(|r| r["period"].as_str().unwrap().to_owned());
    expected.push(json!({"period": null, "currency": "USD", "open_count": 1, "open_amount_minor": 5000,
                         "weighted_amount_minor": 500, "won_count": 0, "won_amount_minor": 0}));
    assert_eq!(owner["rows"], Value::Array(expected));

    // Every pipeline: the other pipeline's deal joins next month's euros (Qualified, 10 %).
    let all = assert_json(app.get(&format!("/v1/deals/forecast?from={from}&to={to}")).await, 200).await;
    assert_eq!(all["rows"][1]["open_count"], 3);
    assert_eq!(all["rows"][1]["weighted_amount_minor"], 244);

    for bad in [
        format!("/v1/deals/forecast?from={to}&to={from}"),
        "/v1/deals/forecast?from=2026-01-01".to_owned(),
        "/v1/deals/forecast?from=2026-01-01&to=2026-13-01".to_owned(),
        "/v1/deals/forecast?from=2026-01-01&to=2026-02-01&group_by=week".to_owned(),
        format!("/v1/deals/forecast?from=2026-01-01&to=2026-02-01&pipeline_id={}", uuid::Uuid::now_v7()),
        "/v1/deals/forecast?from=2000-01-01&to=2026-02-01".to_owned(),
    ] {
        assert_problem(app.get(&bad).await, 400, "invalid_parameter").await;
    }
}
both_backends!(the_forecast_is_exact);

async fn parallel_moves_with_one_version_let_one_win(app: TestApp) {
    let customer_id = customer(&app).await;
    let sales = default_pipeline(&app).await;
    for round in 0..3 {
        let created = deal(&app, json!({"title": "race", "customer_id": customer_id})).await;
        let path = format!("{}/move", path_of(&created));
        let attempt = |stage: String| {
            send(app.request(Method::POST, &path).header("If-Match", "\"1\"").json(&json!({"stage_id": stage})))
        };
        let (a, b) = tokio::join!(attempt(stage_id(&sales, "Proposal")), attempt(stage_id(&sales, "Negotiation")));
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        let bodies = [a.text().await.unwrap(), b.text().await.unwrap()];
        assert_eq!(statuses, [200, 412], "round {round}: {bodies:?}");
        let changes = app.admin().list_all(&format!("{}/stage-changes", path_of(&created))).await;
        assert_eq!(changes.len(), 2, "round {round}: creation and one move: {changes:?}");
        let fetched = assert_json(app.get(&path_of(&created)).await, 200).await;
        assert_eq!(fetched["version"], 2);
        assert_eq!(fetched["stage_id"], changes[0]["to_stage_id"]);
    }
}
both_backends!(parallel_moves_with_one_version_let_one_win);

/// The board and forecast figures recomputed in the test from every live deal (`GET /v1/deals`)
/// and the pipelines' stages: what the rollups must always add up to.
struct Expected {
    probability: std::collections::HashMap<String, i64>,
}

impl Expected {
    async fn load(app: &TestApp) -> Expected {
        let mut probability = std::collections::HashMap::new();
        for pipeline in app.admin().list_all("/v1/pipelines").await {
            for stage in pipeline["stages"].as_array().unwrap() {
                probability
                    .insert(stage["id"].as_str().unwrap().to_owned(), stage["win_probability"].as_i64().unwrap());
            }
        }
        Expected { probability }
    }

    fn weighted(&self, deal: &Value) -> i64 {
        (deal["amount_minor"].as_i64().unwrap() * self.probability[deal["stage_id"].as_str().unwrap()] + 50) / 100
    }

    fn forecast(&self, deals: &[Value], pipeline: Option<&str>, (from, to): (&str, &str), by_owner: bool) -> Value {
        type Key = (Option<String>, Option<String>);
        let mut rows: std::collections::BTreeMap<(bool, Key, bool), [i64; 5]> = Default::default();
        for d in deals.iter().filter(|d| pipeline.is_none_or(|p| d["pipeline_id"] == p)) {
            let (open, day) = match d["status"].as_str().unwrap() {
                "open" => (true, d["expected_close_date"].as_str().map(str::to_owned)),
                "won" => (false, d["closed_at"].as_str().map(|t| t[..10].to_owned())),
                _ => continue,
            };
            let Some(day) = day.filter(|day| (from..=to).contains(&day.as_str())) else { continue };
            let period = if by_owner { d["owner_id"].as_str().map(str::to_owned) } else { Some(day[..7].to_owned()) };
            let currency = d["currency"].as_str().map(str::to_owned);
            let row = rows.entry((period.is_none(), (period, currency.clone()), currency.is_none())).or_insert([0; 5]);
            let amount = d["amount_minor"].as_i64().unwrap();
            if open {
                row[0] += 1;
                row[1] += amount;
                row[2] += self.weighted(d);
            } else {
                row[3] += 1;
                row[4] += amount;
            }
        }
        let mut sorted: Vec<_> = rows.into_iter().collect();
        sorted.sort_by(|((pn, (p, c), cn), _), ((qn, (q, e), en), _)| (pn, p, cn, c).cmp(&(qn, q, en, e)));
        Value::Array(
            sorted
                .into_iter()
                .map(|((_, (period, currency), _), n)| {
                    json!({"period": period, "currency": currency, "open_count": n[0], "open_amount_minor": n[1],
                           "weighted_amount_minor": n[2], "won_count": n[3], "won_amount_minor": n[4]})
                })
                .collect(),
        )
    }

    /// `[(stage id, deal_count, amounts)]` of the pipeline's open stages.
    fn board(&self, deals: &[Value], pipeline: &Value, owner: Option<&str>) -> Vec<(String, i64, Value)> {
        let open_stages = pipeline["stages"].as_array().unwrap().iter().filter(|s| s["kind"] == "open");
        open_stages
            .map(|stage| {
                let mut sums: std::collections::BTreeMap<(bool, Option<String>), (i64, i64)> = Default::default();
                let mut count = 0;
                for d in deals.iter().filter(|d| {
                    d["stage_id"] == stage["id"] && d["status"] == "open" && owner.is_none_or(|o| d["owner_id"] == o)
                }) {
                    count += 1;
                    let currency = d["currency"].as_str().map(str::to_owned);
                    let sum = sums.entry((currency.is_none(), currency)).or_insert((0, 0));
                    sum.0 += d["amount_minor"].as_i64().unwrap();
                    sum.1 += self.weighted(d);
                }
                let amounts = sums
                    .into_iter()
                    .map(|((_, currency), (amount, weighted))| {
                        json!({"currency": currency, "amount_minor": amount, "weighted_minor": weighted})
                    })
                    .collect();
                (stage["id"].as_str().unwrap().to_owned(), count, Value::Array(amounts))
            })
            .collect()
    }
}

/// Compares the forecast (by month and owner, all pipelines and one) and the boards (all
/// owners and one) with the figures recomputed from the deals.
async fn assert_rollups(app: &TestApp, step: &str, (from, to): (&str, &str), owner: &str) {
    let deals = app.admin().list_all("/v1/deals?limit=200").await;
    let expected = Expected::load(app).await;
    let pipelines = app.admin().list_all("/v1/pipelines").await;
    for pipeline in &pipelines {
        let id = pipeline["id"].as_str().unwrap();
        for group in ["month", "owner"] {
            for filter in [None, Some(id)] {
                let mut url = format!("/v1/deals/forecast?from={from}&to={to}&group_by={group}");
                if let Some(p) = filter {
                    url.push_str(&format!("&pipeline_id={p}"));
                }
                let got = assert_json(app.get(&url).await, 200).await;
                let want = expected.forecast(&deals, filter, (from, to), group == "owner");
                assert_eq!(got["rows"], want, "{step}: {url}");
            }
        }
        for who in [None, Some(owner)] {
            let mut url = format!("/v1/pipelines/{id}/board?limit=1");
            if let Some(o) = who {
                url.push_str(&format!("&owner_id={o}"));
            }
            let got = assert_json(app.get(&url).await, 200).await;
            let got: Vec<(String, i64, Value)> = got["stages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["stage"]["id"].as_str().unwrap().to_owned(),
                        s["deal_count"].as_i64().unwrap(),
                        s["amounts"].clone(),
                    )
                })
                .collect();
            assert_eq!(got, expected.board(&deals, pipeline, who), "{step}: {url}");
        }
    }
}

/// A deterministic pseudo-random sequence (an LCG): the same steps on every run.
struct Steps(u64);

impl Steps {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

async fn rollups_follow_every_deal_write(app: TestApp) {
    let customer_id = customer(&app).await;
    let sales = default_pipeline(&app).await;
    let seller = app.create_user("sales").await;
    let owners = [Some(app.user_id.clone()), Some(seller.id.clone()), None];
    let other = assert_json(app.post_json("/v1/pipelines", &json!({"name": "Other"})).await, 201).await;
    let other_id = other["id"].as_str().unwrap().to_owned();
    let extra = json!({"name": "Extra", "win_probability": 55, "kind": "open"});
    let other = assert_json(app.post_json(&format!("/v1/pipelines/{other_id}/stages"), &extra).await, 201).await;
    let extra_stage = stage_id(&other, "Extra");
    let today = Utc::now().date_naive();
    let (from, to) = (day(today - chrono::Days::new(40), 0), day(today, 120));
    let range = (from.as_str(), to.as_str());
    let close = |k: usize| if k == 0 { Value::Null } else { json!(day(today - chrono::Days::new(60), (k * 7) as u64)) };
    let stages: Vec<(String, String)> = [&sales, &other]
        .iter()
        .flat_map(|p| p["stages"].as_array().unwrap().iter())
        .map(|s| (s["id"].as_str().unwrap().to_owned(), s["kind"].as_str().unwrap().to_owned()))
        .collect();
    let mut rng = Steps(20261125);
    let mut live: Vec<Value> = Vec::new();
    let mut deleted: Vec<Value> = Vec::new();
    let mut seen = [0; 9];
    for step in 0..60 {
        let op = if live.len() < 4 { 0 } else { rng.next(9) };
        let label = format!("step {step} op {op}");
        let restored_from = deleted.len();
        match op {
            0 => {
                let (stage, kind) = &stages[rng.next(stages.len())];
                let currency = ["EUR", "USD"].get(rng.next(3));
                // An amount needs a currency.
                let amount = if currency.is_some() { 100 + rng.next(100_000) as i64 } else { 0 };
                let mut body = json!({"title": "r", "customer_id": customer_id, "stage_id": stage,
                    "pipeline_id": if sales["stages"].to_string().contains(stage.as_str()) { &sales["id"] } else { &other["id"] },
                    "amount_minor": amount, "currency": currency,
                    "expected_close_date": close(rng.next(30)), "owner_id": owners[rng.next(3)]});
                if kind == "lost" {
                    body["lost_reason"] = json!("price");
                }
                live.push(deal(&app, body).await);
            }
            1 => {
                let i = rng.next(live.len());
                let pipeline = if live[i]["pipeline_id"] == sales["id"] { &sales } else { &other };
                let target = &pipeline["stages"][rng.next(pipeline["stages"].as_array().unwrap().len())];
                let mut body = json!({"stage_id": target["id"]});
                if target["kind"] == "lost" {
                    body["lost_reason"] = json!("timing");
                }
                live[i] = assert_json(move_to(&app, &live[i], body).await, 200).await;
            }
            2 | 3 => {
                let i = rng.next(live.len());
                let patch = match rng.next(5) {
                    0 => {
                        let currency = live[i]["currency"].as_str().unwrap_or("CHF");
                        json!({"amount_minor": rng.next(50_000) as i64, "currency": currency})
                    }
                    1 => json!({"owner_id": owners[rng.next(3)]}),
                    2 => json!({"expected_close_date": close(rng.next(30))}),
                    3 => {
                        let currency = ["EUR", "USD", "GBP"].get(rng.next(4));
                        match currency {
                            Some(c) => json!({"currency": c}),
                            None => json!({"currency": null, "amount_minor": 0}),
                        }
                    }
                    _ => {
                        json!({"pipeline_id": if live[i]["pipeline_id"] == sales["id"] { &other["id"] } else { &sales["id"] }})
                    }
                };
                live[i] = assert_json(app.patch_json(&path_of(&live[i]), &patch).await, 200).await;
            }
            4 => {
                let gone = live.swap_remove(rng.next(live.len()));
                assert_no_content(app.delete(&path_of(&gone)).await).await;
                deleted.push(gone);
            }
            5 if !deleted.is_empty() => {
                let back = deleted.swap_remove(rng.next(deleted.len()));
                live.push(
                    assert_json(app.post_json(&format!("{}/restore", path_of(&back)), &json!({})).await, 200).await,
                );
            }
            5 | 6 => {
                let i = rng.next(live.len());
                let owner = owners[rng.next(2)].clone();
                let body = json!({"owner_id": owner, "reason": "territory"});
                live[i] =
                    assert_json(app.post_json(&format!("{}/reassign", path_of(&live[i])), &body).await, 200).await;
            }
            7 => {
                let (a, b) = if rng.next(2) == 0 { (0, 1) } else { (1, 0) };
                let body = json!({"from_owner_id": owners[a], "to_owner_id": owners[b], "reason": "leaving"});
                assert_json(app.post_json("/v1/reassignments", &body).await, 200).await;
                live = app.admin().list_all("/v1/deals?limit=200").await;
            }
            _ => {
                let (stage, _) = &stages[rng.next(3)];
                let patch = json!({"win_probability": rng.next(101)});
                let path = format!("/v1/pipelines/{}/stages/{stage}", sales["id"].as_str().unwrap());
                assert_json(app.patch_json(&path, &patch).await, 200).await;
            }
        }
        seen[if op == 5 && deleted.len() == restored_from { 6 } else { op }] += 1;
        assert_rollups(&app, &label, range, &seller.id).await;
    }
    assert!(seen.iter().all(|n| *n > 0), "every kind of write ran: {seen:?}");
    // The extra stage goes, its deals (deleted ones too) to the other pipeline's first stage.
    let first = other["stages"][0]["id"].as_str().unwrap();
    let path = format!("/v1/pipelines/{other_id}/stages/{extra_stage}?move_deals_to={first}");
    assert_json(app.delete(&path).await, 200).await;
    assert_rollups(&app, "stage deleted", range, &seller.id).await;
    let counted =
        assert_json(app.get(&format!("/v1/pipelines/{}/board", sales["id"].as_str().unwrap())).await, 200).await;
    assert!(counted["stages"].as_array().unwrap().iter().any(|s| s["deal_count"].as_i64().unwrap() > 0), "{counted}");
}
both_backends!(rollups_follow_every_deal_write);
