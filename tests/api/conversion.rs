//! Lead conversion: customer (new or linked) and optional deal in one transaction, the lead
//! marked converted, its score kept for segments, and every refusal.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_field_error, assert_json, assert_problem, both_backends, header, id_of, send};
use crate::pipelines::{default_pipeline, stage_id};

async fn lead(app: &TestApp, body: Value) -> Value {
    assert_json(app.post_json("/v1/leads", &body).await, 201).await
}

fn convert_path(lead: &Value) -> String {
    format!("/v1/leads/{}/convert", id_of(lead))
}

async fn a_lead_becomes_a_customer_once(app: TestApp) {
    let rule = json!({"field": "source", "operator": "eq", "value": "referral", "points": 20});
    assert_json(app.post_json("/v1/scoring-rules", &rule).await, 201).await;
    let ivan = lead(
        &app,
        json!({"source": "referral", "first_name": "Ivan", "last_name": "Petrenko",
                                "email": "ivan@example.com", "company_name": "Acme", "country": "UA",
                                "owner_id": app.user_id, "tags": ["expo"]}),
    )
    .await;
    assert_eq!(ivan["score"], 20, "{ivan}");

    let response = app.post_json(&convert_path(&ivan), &json!({})).await;
    assert_eq!(header(response.headers(), "etag").as_deref(), Some("\"2\""));
    let done = assert_json(response, 200).await;
    let customer = &done["customer"];
    assert_eq!(done["customer_created"], true, "{done}");
    assert!(done["deal"].is_null(), "{done}");
    assert_eq!(customer["kind"], "person", "{customer}");
    assert_eq!(customer["email"], "ivan@example.com", "{customer}");
    assert_eq!(customer["company_name"], "Acme", "{customer}");
    assert_eq!(customer["lifecycle_stage"], "customer", "{customer}");
    assert_eq!(customer["owner_id"], json!(app.user_id), "{customer}");
    assert_eq!(customer["tags"], json!(["expo"]), "{customer}");
    assert_eq!(customer["address"]["country"], "UA", "{customer}");
    assert_eq!(done["lead"]["status"], "converted", "{done}");
    assert_eq!(done["lead"]["converted_customer_id"], customer["id"], "{done}");
    assert!(done["lead"]["converted_at"].is_string(), "{done}");

    let stored = assert_json(app.get(&format!("/v1/leads/{}", id_of(&ivan))).await, 200).await;
    assert_eq!(stored, done["lead"], "the stored lead is the answer");
    let history = assert_json(app.get(&format!("/v1/leads/{}/history", id_of(&ivan))).await, 200).await;
    let fields: Vec<&str> =
        history["data"][0]["changes"].as_array().into_iter().flatten().filter_map(|c| c["field"].as_str()).collect();
    assert!(fields.contains(&"status") && fields.contains(&"converted_customer_id"), "{history}");

    let scored = crate::helpers::ids(&app.admin().list_all("/v1/customers?lead_score_min=20").await);
    assert_eq!(scored, [id_of(customer)].into(), "the lead's score follows the customer");
    assert!(app.admin().list_all("/v1/customers?lead_score_min=21").await.is_empty());

    assert_problem(app.post_json(&convert_path(&ivan), &json!({})).await, 409, "already_converted").await;
    let patch = app.patch_json(&format!("/v1/leads/{}", id_of(&ivan)), &json!({"status": "new"})).await;
    crate::helpers::assert_any_problem(patch).await;
}
both_backends!(a_lead_becomes_a_customer_once);

async fn with_a_deal_in_one_transaction(app: TestApp) {
    let sales = default_pipeline(&app).await;
    let acme = lead(&app, json!({"source": "event", "company_name": "Acme Retail", "industry": "retail"})).await;
    let body =
        json!({"deal": {"amount_minor": 1_250_000, "currency": "eur", "stage_id": stage_id(&sales, "Proposal")}});
    let done = assert_json(app.post_json(&convert_path(&acme), &body).await, 200).await;
    let (customer, deal) = (&done["customer"], &done["deal"]);
    assert_eq!(customer["kind"], "company", "{customer}");
    assert_eq!(customer["industry"], "retail", "{customer}");
    assert_eq!(customer["lifecycle_stage"], "lead", "a deal is open: {customer}");
    assert_eq!(deal["customer_id"], customer["id"], "{deal}");
    assert_eq!(deal["title"], "Acme Retail", "defaults to the customer's name: {deal}");
    assert_eq!(deal["currency"], "EUR", "{deal}");
    assert_eq!(deal["stage_id"], json!(stage_id(&sales, "Proposal")), "{deal}");
    assert_eq!(done["lead"]["converted_deal_id"], deal["id"], "{done}");
    assert_eq!(assert_json(app.get(&format!("/v1/deals/{}", id_of(deal))).await, 200).await, *deal);
    let timeline = app.admin().list_all(&format!("/v1/customers/{}/timeline", id_of(customer))).await;
    assert!(timeline.iter().any(|e| e["kind"] == "deal_stage_change"), "{timeline:?}");

    // A bad deal sinks the whole conversion: no customer, lead untouched.
    let beta = lead(&app, json!({"source": "event", "company_name": "Beta", "email": "beta@example.com"})).await;
    let bad = json!({"deal": {"stage_id": uuid::Uuid::now_v7()}});
    assert_field_error(app.post_json(&convert_path(&beta), &bad).await, "stage_id", "not_in_pipeline").await;
    let bad = json!({"deal": {"amount_minor": 5}});
    assert_field_error(app.post_json(&convert_path(&beta), &bad).await, "currency", "required").await;
    assert!(app.admin().list_all("/v1/customers?email=beta@example.com").await.is_empty());
    let beta_now = assert_json(app.get(&format!("/v1/leads/{}", id_of(&beta))).await, 200).await;
    assert_eq!((&beta_now["status"], &beta_now["version"]), (&json!("new"), &json!(1)), "{beta_now}");
}
both_backends!(with_a_deal_in_one_transaction);

async fn links_to_existing_customers(app: TestApp) {
    let known =
        app.post_customer(&json!({"kind": "person", "first_name": "Olena", "email": "olena@example.com"})).await;
    let olena = lead(&app, json!({"source": "web_form", "first_name": "O.", "email": "olena@example.com"})).await;
    let done = assert_json(app.post_json(&convert_path(&olena), &json!({})).await, 200).await;
    assert_eq!(done["customer_created"], false, "{done}");
    assert_eq!(done["customer"]["id"], known["id"], "linked by email: {done}");
    assert_eq!(done["customer"]["first_name"], "Olena", "the customer keeps its own data: {done}");

    let other = app.post_customer(&json!({"kind": "company", "company_name": "Zeta"})).await;
    let zed = lead(&app, json!({"source": "other", "first_name": "Zed", "email": "zed@example.com"})).await;
    let body = json!({"customer_id": other["id"], "deal": {"title": "Zeta renewal"}});
    let done = assert_json(app.post_json(&convert_path(&zed), &body).await, 200).await;
    assert_eq!(done["customer"]["id"], other["id"], "{done}");
    assert_eq!(done["deal"]["customer_id"], other["id"], "{done}");
    assert_eq!(done["deal"]["title"], "Zeta renewal", "{done}");

    let nobody = lead(&app, json!({"source": "other", "first_name": "Nobody"})).await;
    let missing = json!({"customer_id": uuid::Uuid::now_v7()});
    assert_field_error(app.post_json(&convert_path(&nobody), &missing).await, "customer_id", "not_found").await;
    let other_key = app.second_workspace().await;
    let theirs = assert_json(
        app.with_key(&other_key).post_json("/v1/customers", &json!({"kind": "company", "company_name": "T"})).await,
        201,
    )
    .await;
    let foreign = json!({"customer_id": theirs["id"]});
    assert_field_error(app.post_json(&convert_path(&nobody), &foreign).await, "customer_id", "not_found").await;
}
both_backends!(links_to_existing_customers);

async fn refusals(app: TestApp) {
    let gone = lead(
        &app,
        json!({"source": "other", "first_name": "Gone", "status": "disqualified", "lost_reason": "no budget"}),
    )
    .await;
    assert_problem(app.post_json(&convert_path(&gone), &json!({})).await, 409, "lead_disqualified").await;

    let open = lead(&app, json!({"source": "other", "first_name": "Open"})).await;
    let path = convert_path(&open);
    let stale = app.request(Method::POST, &path).header("If-Match", "\"5\"").json(&json!({}));
    assert_problem(send(stale).await, 412, "version_mismatch").await;
    for body in [json!({"customer": {}}), json!({"deal": {"title": 5}}), json!({"deal": {"lost_reason": "x"}})] {
        assert_problem(app.post_json(&path, &body).await, 422, "validation_failed").await;
    }
    let leads_only = app.create_api_key(&["leads:write"]).await;
    assert_problem(app.with_key(&leads_only).post_json(&path, &json!({})).await, 403, "forbidden").await;
    let no_deals = app.create_api_key(&["leads:write", "customers:write"]).await;
    let with_deal = json!({"deal": {"title": "x"}});
    assert_problem(app.with_key(&no_deals).post_json(&path, &with_deal).await, 403, "forbidden").await;
    let other = app.second_workspace().await;
    assert_problem(app.with_key(&other).post_json(&path, &json!({})).await, 404, "not_found").await;
    let missing = format!("/v1/leads/{}/convert", uuid::Uuid::now_v7());
    assert_problem(app.post_json(&missing, &json!({})).await, 404, "not_found").await;

    let done = assert_json(app.with_key(&no_deals).post_json(&path, &json!({})).await, 200).await;
    assert_eq!(done["lead"]["status"], "converted", "{done}");
}
both_backends!(refusals);
