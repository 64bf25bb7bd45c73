//! Purchases: create and read with line items, totals checked to the cent, huge numbers, bad
//! input, re-sent orders (also racing), list filters and cursors, refunds (full, by amount, by
//! items, too much, twice, stale `If-Match`, concurrent), the history, batches, the timeline
//! and scopes.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_field_error, assert_json, assert_problem, both_backends, has_field_error, header, id_of, ids, send,
};

async fn customer(app: &TestApp) -> String {
    id_of(&app.post_customer(&json!({"kind": "person", "first_name": "Olena"})).await)
}

/// A valid purchase body: 2 × 4500 + 1 × 1200 = 10200.
fn order(customer: &str) -> Value {
    json!({
        "customer_id": customer, "channel": "web", "currency": "EUR",
        "items": [{"sku": "TEA", "name": "Green tea", "category": "tea", "quantity": 2, "unit_price_minor": 4500},
                  {"sku": "CUP", "name": "Cup", "quantity": 1, "unit_price_minor": 1200}],
        "total_minor": 10200
    })
}

fn with(mut body: Value, extra: Value) -> Value {
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
    body
}

async fn post(app: &TestApp, body: &Value) -> Value {
    assert_json(app.post_json("/v1/purchases", body).await, 201).await
}

fn path_of(p: &Value) -> String {
    format!("/v1/purchases/{}", id_of(p))
}

async fn refund(app: &TestApp, purchase: &Value, body: &Value) -> reqwest::Response {
    app.post_keyed(&format!("{}/refund", path_of(purchase)), body).await
}

async fn create_and_read(app: TestApp) {
    let customer = customer(&app).await;
    let body = with(
        order(&customer),
        json!({"external_order_id": "SHOP-1", "occurred_at": "2026-11-20T14:30:00Z", "discount_minor": 1000,
               "tax_minor": 100, "shipping_minor": 490, "total_minor": 9790, "coupon_code": "WELCOME",
               "metadata": {"store": "kyiv-1"}}),
    );
    let response = app.post_json("/v1/purchases", &body).await;
    let location = header(response.headers(), "location");
    let etag = header(response.headers(), "etag");
    let created = assert_json(response, 201).await;
    assert_eq!(location, Some(path_of(&created)));
    assert_eq!(etag.as_deref(), Some("\"1\""));
    let expected = json!({
        "id": created["id"], "customer_id": customer, "external_order_id": "SHOP-1", "channel": "web",
        "occurred_at": "2026-11-20T14:30:00Z", "currency": "EUR",
        "items": [
            {"sku": "TEA", "name": "Green tea", "category": "tea", "quantity": 2, "unit_price_minor": 4500,
             "line_total_minor": 9000, "refunded_quantity": 0},
            {"sku": "CUP", "name": "Cup", "category": null, "quantity": 1, "unit_price_minor": 1200,
             "line_total_minor": 1200, "refunded_quantity": 0}
        ],
        "subtotal_minor": 10200, "discount_minor": 1000, "tax_minor": 100, "shipping_minor": 490,
        "total_minor": 9790, "refunded_minor": 0, "status": "completed", "coupon_code": "WELCOME",
        "metadata": {"store": "kyiv-1"}, "points_earned": 0, "points_reversed": 0, "refunds": [], "version": 1,
        "created_at": created["created_at"], "updated_at": created["created_at"]
    });
    assert_eq!(created, expected);
    let fetched = app.get(&path_of(&created)).await;
    assert_eq!(header(fetched.headers(), "etag").as_deref(), Some("\"1\""));
    assert_eq!(assert_json(fetched, 200).await, created);

    // occurred_at defaults to now; defaults for the optional amounts are 0.
    let plain = post(&app, &order(&customer)).await;
    assert!(plain["occurred_at"].is_string(), "{plain}");
    assert_eq!((&plain["discount_minor"], &plain["external_order_id"]), (&json!(0), &Value::Null));

    let history = app.admin().list_all(&format!("{}/history", path_of(&created))).await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!((&history[0]["action"], &history[0]["entity_type"]), (&json!("create"), &json!("purchase")));
    let random = uuid::Uuid::now_v7();
    assert_problem(app.get(&format!("/v1/purchases/{random}")).await, 404, "not_found").await;
    // A purchase is a fact: no PATCH, no DELETE.
    assert_problem(app.patch_json(&path_of(&created), &json!({"total_minor": 1})).await, 405, "method_not_allowed")
        .await;
    assert_problem(app.delete(&path_of(&created)).await, 405, "method_not_allowed").await;
}
both_backends!(create_and_read);

async fn bad_input_is_rejected(app: TestApp) {
    let customer = customer(&app).await;
    let base = order(&customer);
    let mismatch = assert_field_error(
        app.post_json("/v1/purchases", &with(base.clone(), json!({"total_minor": 10000}))).await,
        "total_minor",
        "total_mismatch",
    )
    .await;
    assert!(mismatch.to_string().contains("10200"), "the message states the computed total: {mismatch}");
    let max = i64::MAX;
    // Amounts stop at 10^15 minor units, so that sums over many purchases stay in 64 bits.
    let cap = 1_000_000_000_000_000_i64;
    let cases = [
        (json!({"discount_minor": 10201, "total_minor": 0}), "discount_minor", "out_of_range"),
        (
            json!({"items": [{"sku": "A", "name": "x", "quantity": 2, "unit_price_minor": max}], "total_minor": max}),
            "items[0].unit_price_minor",
            "too_large",
        ),
        (
            json!({"items": [{"sku": "A", "name": "x", "quantity": 9000, "unit_price_minor": cap},
                          {"sku": "B", "name": "x", "quantity": 9000, "unit_price_minor": cap}], "total_minor": cap}),
            "items",
            "too_large",
        ),
        (
            json!({"items": [{"sku": "A", "name": "x", "quantity": 1, "unit_price_minor": cap + 1}], "total_minor": 1}),
            "items[0].unit_price_minor",
            "out_of_range",
        ),
        (json!({"shipping_minor": max, "total_minor": max}), "shipping_minor", "out_of_range"),
        (json!({"total_minor": cap + 1}), "total_minor", "out_of_range"),
        (
            json!({"items": [{"sku": "A", "name": "x", "quantity": max, "unit_price_minor": 1}], "total_minor": 1}),
            "items[0].quantity",
            "out_of_range",
        ),
        (json!({"total_minor": 1e30}), "total_minor", "invalid_type"),
        (
            json!({"items": [{"sku": "A\u{0}B", "name": "x", "quantity": 1, "unit_price_minor": 1}], "total_minor": 1}),
            "items[0].sku",
            "invalid_characters",
        ),
        (
            json!({"items": [{"sku": "A", "name": "x", "quantity": 1, "unit_price_minor": 1, "colour": "red"}],
                "total_minor": 1}),
            "items[0].colour",
            "unknown_field",
        ),
        (json!({"id": customer}), "id", "unknown_field"),
        (json!({"version": 3}), "version", "unknown_field"),
        (json!({"items": []}), "items", "required"),
        (json!({"currency": "EURO"}), "currency", "invalid_value"),
        (json!({"channel": "fax"}), "channel", "invalid_value"),
        (json!({"customer_id": "not-a-uuid"}), "customer_id", "invalid_value"),
        (json!({"customer_id": uuid::Uuid::now_v7()}), "customer_id", "not_found"),
        (json!({"external_order_id": "x".repeat(201)}), "external_order_id", "too_long"),
        (json!({"metadata": {"k": "a\u{0}"}}), "metadata", "invalid_characters"),
        (json!({"occurred_at": "2999-01-01T00:00:00Z"}), "occurred_at", "in_future"),
    ];
    for (extra, field, code) in cases {
        let body = with(base.clone(), extra.clone());
        let problem = assert_any_problem_422(app.post_json("/v1/purchases", &body).await).await;
        assert!(has_field_error(&problem, field, code), "{extra}: expected {field}/{code}, got {problem}");
    }
    // A deleted customer cannot buy.
    let gone = customer_deleted(&app).await;
    assert_field_error(app.post_json("/v1/purchases", &order(&gone)).await, "customer_id", "not_found").await;
    // Bad ids in the path are 400; malformed JSON 400.
    assert_problem(app.get("/v1/purchases/nope").await, 400, "invalid_parameter").await;
    assert_problem(app.post_json("/v1/purchases/nope/refund", &json!({})).await, 400, "invalid_parameter").await;
    let raw =
        send(app.request(Method::POST, "/v1/purchases").header("content-type", "application/json").body("{")).await;
    assert_problem(raw, 400, "malformed_json").await;
    assert!(app.admin().list_all("/v1/purchases").await.is_empty(), "nothing was recorded");
}
both_backends!(bad_input_is_rejected);

async fn assert_any_problem_422(response: reqwest::Response) -> Value {
    assert_problem(response, 422, "validation_failed").await
}

async fn customer_deleted(app: &TestApp) -> String {
    let id = customer(app).await;
    let response = app.delete(&format!("/v1/customers/{id}")).await;
    assert_eq!(response.status().as_u16(), 204);
    id
}

async fn a_resent_order_is_recorded_once(app: TestApp) {
    let customer = customer(&app).await;
    let body = with(order(&customer), json!({"external_order_id": "SHOP-7"}));
    let first = post(&app, &body).await;
    let again = app.post_json("/v1/purchases", &with(body.clone(), json!({"channel": "store"}))).await;
    assert_eq!(header(again.headers(), "location"), Some(path_of(&first)));
    assert_eq!(assert_json(again, 200).await, first, "the stored purchase, not the re-sent body");

    // Ten creates of one new order at once: exactly one row.
    let racing = with(order(&customer), json!({"external_order_id": "SHOP-RACE"}));
    let attempts = (0..10).map(|_| app.post_json("/v1/purchases", &racing));
    let mut statuses = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for response in join_all(attempts).await {
        let status = response.status().as_u16();
        let purchase: Value = response.json().await.expect("a purchase");
        statuses.push(status);
        seen.insert(id_of(&purchase));
    }
    statuses.sort_unstable();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 201), "{statuses:?}");
    assert_eq!(seen.len(), 1, "every answer is the same purchase");
    let listed = app.admin().list_all("/v1/purchases?external_order_id=SHOP-RACE").await;
    assert_eq!(ids(&listed), seen);

    // The order number is per workspace.
    let other = app.second_workspace().await;
    let other_customer = assert_json(
        app.with_key(&other).post_json("/v1/customers", &json!({"kind": "person", "first_name": "X"})).await,
        201,
    )
    .await;
    let theirs = with(order(&id_of(&other_customer)), json!({"external_order_id": "SHOP-7"}));
    assert_json(app.with_key(&other).post_json("/v1/purchases", &theirs).await, 201).await;
    assert_problem(app.with_key(&other).get(&path_of(&first)).await, 404, "not_found").await;
}
both_backends!(a_resent_order_is_recorded_once);

async fn lists_filter_and_page(app: TestApp) {
    let (a, b) = (customer(&app).await, customer(&app).await);
    let mut made = Vec::new();
    for (i, (who, channel)) in
        [(&a, "web"), (&a, "store"), (&b, "web"), (&a, "marketplace"), (&b, "phone")].into_iter().enumerate()
    {
        let at = format!("2026-11-0{}T10:00:00Z", i + 1);
        let body =
            with(order(who), json!({"channel": channel, "occurred_at": at, "external_order_id": format!("O-{i}")}));
        made.push(post(&app, &body).await);
    }
    let all = app.admin().list_all("/v1/purchases?limit=2").await;
    let order_ids: Vec<&str> = all.iter().map(|p| p["external_order_id"].as_str().unwrap()).collect();
    assert_eq!(order_ids, ["O-4", "O-3", "O-2", "O-1", "O-0"], "newest first across pages");
    let oldest_first = app.admin().list_all("/v1/purchases?sort=occurred_at&limit=3").await;
    assert_eq!(oldest_first[0]["external_order_id"], "O-0");
    assert_eq!(app.admin().list_all("/v1/purchases?sort=-created_at&limit=1").await.len(), 5);
    assert_eq!(app.admin().list_all("/v1/purchases?sort=created_at&limit=4").await.len(), 5);

    let of_a = app.admin().list_all(&format!("/v1/purchases?customer_id={a}&limit=1")).await;
    assert_eq!(of_a.len(), 3);
    assert!(of_a.iter().all(|p| p["customer_id"] == a.as_str()));
    let web = app.admin().list_all("/v1/purchases?channel=web,phone").await;
    assert_eq!(web.len(), 3);
    let window = app
        .admin()
        .list_all("/v1/purchases?occurred_after=2026-11-02T00:00:00Z&occurred_before=2026-11-04T00:00:00Z")
        .await;
    assert_eq!(window.iter().map(|p| p["external_order_id"].clone()).collect::<Vec<_>>(), [json!("O-2"), json!("O-1")]);
    assert_eq!(app.admin().list_all("/v1/purchases?status=completed").await.len(), 5);
    assert!(app.admin().list_all("/v1/purchases?status=refunded").await.is_empty());
    let one = app.admin().list_all("/v1/purchases?external_order_id=O-3").await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["items"].as_array().map(Vec::len), Some(2), "lists carry the items");

    for bad in [
        "sort=total_minor",
        "channel=fax",
        "status=lost",
        "limit=0",
        "limit=201",
        "colour=red",
        "customer_id=x",
        "external_order_id=A%00B",
        "occurred_after=%2B10000-01-01T00:00:00Z",
        "occurred_before=-10000-01-01T00:00:00Z",
    ] {
        assert_problem(app.get(&format!("/v1/purchases?{bad}")).await, 400, "invalid_parameter").await;
    }
    let page = assert_json(app.get("/v1/purchases?limit=1").await, 200).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    assert_problem(app.get(&format!("/v1/purchases?sort=occurred_at&cursor={cursor}")).await, 400, "invalid_cursor")
        .await;
}
both_backends!(lists_filter_and_page);

async fn refunds(app: TestApp) {
    let customer = customer(&app).await;
    // Full refund with no body at all.
    let whole = post(&app, &order(&customer)).await;
    let response = send(app.request(Method::POST, &format!("{}/refund", path_of(&whole)))).await;
    let etag = header(response.headers(), "etag");
    let refunded = assert_json(response, 200).await;
    assert_eq!(etag.as_deref(), Some("\"2\""));
    assert_eq!((&refunded["status"], &refunded["refunded_minor"]), (&json!("refunded"), &json!(10200)));
    assert_eq!(refunded["items"][0]["refunded_quantity"], 2, "every unit goes back: {refunded}");
    assert_eq!(refunded["refunds"][0]["amount_minor"], 10200);
    assert_eq!(refunded["refunds"][0]["actor"]["type"], "api_key");
    assert_problem(refund(&app, &whole, &json!({})).await, 409, "already_refunded").await;
    assert_problem(refund(&app, &whole, &json!({"amount_minor": 1})).await, 409, "already_refunded").await;

    // Partial by amount, then by items, then the rest. A partial refund without Idempotency-Key
    // or If-Match is refused: its retry would refund twice. With a key, the retry is a replay.
    let p = post(&app, &order(&customer)).await;
    let path = format!("{}/refund", path_of(&p));
    let first = json!({"amount_minor": 200, "reason": "late delivery"});
    assert_problem(app.post_json(&path, &first).await, 400, "idempotency_key_required").await;
    let keyed = || app.request(Method::POST, &path).header("Idempotency-Key", "refund-1").json(&first);
    let step = assert_json(send(keyed()).await, 200).await;
    let again = send(keyed()).await;
    assert_eq!(header(again.headers(), "idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(assert_json(again, 200).await, step, "the retry refunds nothing more");
    assert_eq!(
        (&step["status"], &step["refunded_minor"], &step["version"]),
        (&json!("partially_refunded"), &json!(200), &json!(2))
    );
    assert_eq!(step["refunds"][0]["reason"], "late delivery");
    assert_eq!(step["refunds"][0]["items"], json!([]));
    let step = assert_json(refund(&app, &p, &json!({"items": [{"sku": "TEA", "quantity": 1}]})).await, 200).await;
    assert_eq!(step["refunded_minor"], 4700);
    assert_eq!(step["items"][0]["refunded_quantity"], 1);
    assert_eq!(step["refunds"][1]["items"], json!([{"sku": "TEA", "quantity": 1, "amount_minor": 4500}]));
    let exceeded = assert_problem(
        refund(&app, &p, &json!({"items": [{"sku": "TEA", "quantity": 2}]})).await,
        422,
        "refund_exceeds_remaining",
    )
    .await;
    assert!(has_field_error(&exceeded, "items[0].quantity", "refund_exceeds_remaining"), "{exceeded}");
    let exceeded =
        assert_problem(refund(&app, &p, &json!({"amount_minor": 5501})).await, 422, "refund_exceeds_remaining").await;
    assert!(has_field_error(&exceeded, "amount_minor", "refund_exceeds_remaining"), "{exceeded}");
    assert_field_error(
        refund(&app, &p, &json!({"items": [{"sku": "NOPE", "quantity": 1}]})).await,
        "items[0].sku",
        "not_found",
    )
    .await;
    assert_field_error(
        refund(&app, &p, &json!({"amount_minor": 1, "items": [{"sku": "TEA", "quantity": 1}]})).await,
        "amount_minor",
        "invalid_combination",
    )
    .await;
    assert_field_error(refund(&app, &p, &json!({"amount_minor": 0})).await, "amount_minor", "out_of_range").await;
    assert_field_error(
        refund(&app, &p, &json!({"amount_minor": i64::MAX, "colour": 1})).await,
        "colour",
        "unknown_field",
    )
    .await;
    assert_field_error(refund(&app, &p, &json!({"reason": "r\u{0}"})).await, "reason", "invalid_characters").await;

    // If-Match: a stale version is 412 and changes nothing; the current one works.
    let stale = app
        .request(Method::POST, &format!("{}/refund", path_of(&p)))
        .header("if-match", "\"2\"")
        .json(&json!({"amount_minor": 1}));
    assert_problem(send(stale).await, 412, "version_mismatch").await;
    let fresh =
        app.request(Method::POST, &format!("{}/refund", path_of(&p))).header("if-match", "\"3\"").json(&json!({}));
    let done = assert_json(send(fresh).await, 200).await;
    assert_eq!(
        (&done["status"], &done["refunded_minor"], &done["version"]),
        (&json!("refunded"), &json!(10200), &json!(4))
    );
    assert_eq!(done["refunds"].as_array().map(Vec::len), Some(3));
    assert_eq!(done["items"][1]["refunded_quantity"], 1);
    let listed = app.admin().list_all("/v1/purchases?status=refunded,partially_refunded").await;
    assert_eq!(listed.len(), 2);

    // Each refund is in the purchase's history, with its reason.
    let history = app.admin().list_all(&format!("{}/history", path_of(&p))).await;
    let actions: Vec<&str> = history.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["refund", "refund", "refund", "create"], "newest first");
    assert_eq!(history[2]["reason"], "late delivery");
    let money = history[2]["changes"].as_array().unwrap();
    assert!(money.iter().any(|c| c["field"] == "refunded_minor" && c["from"] == 0 && c["to"] == 200), "{money:?}");

    // A JSON `null` body is no body: everything left.
    let nulled = post(&app, &order(&customer)).await;
    let request = app.request(Method::POST, &format!("{}/refund", path_of(&nulled))).json(&Value::Null);
    assert_eq!(assert_json(send(request).await, 200).await["status"], "refunded");

    let random = uuid::Uuid::now_v7();
    assert_problem(app.post_json(&format!("/v1/purchases/{random}/refund"), &json!({})).await, 404, "not_found").await;
}
both_backends!(refunds);

/// A partial refund whose response was lost (a crash after its commit) is answered, not made
/// again, when retried with its key.
async fn retry_after_a_crash_does_not_refund_twice(app: TestApp) {
    let customer = customer(&app).await;
    let p = post(&app, &order(&customer)).await;
    let path = format!("{}/refund", path_of(&p));
    let body = json!({"amount_minor": 300});
    let post = || send(app.request(Method::POST, &path).header("Idempotency-Key", "crash-refund").json(&body));
    let first = assert_json(post().await, 200).await;
    crate::conventions::lose_stored_responses(&app).await;
    let retry = post().await;
    assert_eq!(header(retry.headers(), "idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(header(retry.headers(), "etag").as_deref(), Some("\"2\""));
    assert_eq!(assert_json(retry, 200).await, first, "the purchase as the first attempt answered it");
    let now = assert_json(app.get(&path_of(&p)).await, 200).await;
    assert_eq!((&now["refunded_minor"], now["refunds"].as_array().map(Vec::len)), (&json!(300), Some(1)));
    // The key stays bound to that refund.
    let other = send(app.request(Method::POST, &path).header("Idempotency-Key", "crash-refund").json(&json!({}))).await;
    assert_problem(other, 422, "idempotency_key_reused").await;
}
both_backends!(retry_after_a_crash_does_not_refund_twice);

async fn concurrent_refunds_never_exceed_the_total(app: TestApp) {
    let customer = customer(&app).await;
    let p = post(&app, &order(&customer)).await;
    let path = format!("{}/refund", path_of(&p));
    let body = json!({"amount_minor": 3000});
    let attempts = (0..6).map(|_| app.post_keyed(&path, &body));
    let statuses: Vec<u16> = join_all(attempts).await.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 3, "3 × 3000 fit in 10200: {statuses:?}");
    let after = assert_json(app.get(&path_of(&p)).await, 200).await;
    assert_eq!(after["refunded_minor"], 9000, "{after}");
    assert_eq!(after["refunds"].as_array().map(Vec::len), Some(3));
}
both_backends!(concurrent_refunds_never_exceed_the_total);

async fn batches(app: TestApp) {
    let customer = customer(&app).await;
    let gone = self::customer(&app).await;
    assert_eq!(app.delete(&format!("/v1/customers/{gone}")).await.status(), 204);
    let mut purchases = Vec::new();
    for i in 0..500 {
        purchases.push(match i % 4 {
            0 => with(order(&gone), json!({"external_order_id": format!("B-{i}")})),
            1 => with(order(&customer), json!({"external_order_id": "B-DUP"})),
            _ => with(order(&customer), json!({"external_order_id": format!("B-{i}")})),
        });
    }

    // One invalid purchase refuses the batch, and every bad field is named by its place.
    let mut invalid = purchases.clone();
    invalid[7] = with(order(&customer), json!({"total_minor": 1}));
    invalid[9] = json!({"nonsense": true});
    invalid[11] = with(order(&customer), json!({"currency": "000*"}));
    let response = app.post_json("/v1/purchases/batch", &json!({"purchases": invalid})).await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert!(has_field_error(&problem, "purchases[9].nonsense", "unknown_field"), "{problem}");
    let response = app.post_json("/v1/purchases/batch", &json!({"purchases": &invalid[..9]})).await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert!(has_field_error(&problem, "purchases[7].total_minor", "total_mismatch"), "{problem}");
    invalid[9] = order(&customer);
    let response = app.post_json("/v1/purchases/batch", &json!({"purchases": invalid})).await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert!(has_field_error(&problem, "purchases[7].total_minor", "total_mismatch"), "{problem}");
    assert!(has_field_error(&problem, "purchases[11].currency", "invalid_value"), "{problem}");
    assert_eq!(app.admin().list_all("/v1/purchases?limit=200").await.len(), 0, "nothing recorded");

    // A valid batch is written purchase by purchase: what only the database can tell is per item.
    let answer = assert_json(app.post_json("/v1/purchases/batch", &json!({"purchases": purchases})).await, 200).await;
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), 500);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["index"], i);
        let status = result["status"].as_u64().unwrap();
        match i % 4 {
            0 => {
                assert_eq!(status, 422, "{result}");
                assert_eq!(result["problem"]["code"], "validation_failed");
                assert!(has_field_error(&result["problem"], "customer_id", "not_found"), "{result}");
            }
            1 if i == 1 => assert_eq!(status, 201, "{result}"),
            1 => assert_eq!(status, 200, "the order was recorded by item 1: {result}"),
            _ => {
                assert_eq!(status, 201, "{result}");
                assert_eq!(result["purchase"]["customer_id"], customer.as_str());
            }
        }
    }
    assert_eq!(app.admin().list_all("/v1/purchases?limit=200").await.len(), 251, "250 good + one de-duplicated");

    // Sent again, the batch records nothing twice.
    let again = assert_json(app.post_json("/v1/purchases/batch", &json!({"purchases": purchases})).await, 200).await;
    assert!(again["results"].as_array().unwrap().iter().all(|r| r["status"] == 200 || r["status"] == 422), "{again}");
    assert_eq!(app.admin().list_all("/v1/purchases?limit=200").await.len(), 251);

    let too_many: Vec<Value> = (0..501).map(|_| order(&customer)).collect();
    assert_field_error(
        app.post_json("/v1/purchases/batch", &json!({"purchases": too_many})).await,
        "purchases",
        "too_many",
    )
    .await;
    assert_field_error(app.post_json("/v1/purchases/batch", &json!({"purchases": []})).await, "purchases", "required")
        .await;
    assert_field_error(app.post_json("/v1/purchases/batch", &json!({"items": []})).await, "items", "unknown_field")
        .await;
    assert_problem(app.get("/v1/purchases/batch").await, 405, "method_not_allowed").await;

    // The batch route takes bodies above the service-wide 1 MiB limit, also through the
    // idempotency gate; other routes do not.
    let padding = "x".repeat(2 * 1024 * 1024);
    let big = json!({"purchases": [with(order(&customer), json!({"metadata": {"pad": padding}}))]});
    let keyed = app.request(Method::POST, "/v1/purchases/batch").header("idempotency-key", "big-batch").json(&big);
    let problem = assert_problem(send(keyed).await, 422, "validation_failed").await;
    assert!(has_field_error(&problem, "purchases[0].metadata", "too_long"), "{problem}");
    assert_problem(app.post_json("/v1/purchases", &big).await, 413, "payload_too_large").await;
}
both_backends!(batches);

async fn the_timeline_shows_purchases(app: TestApp) {
    let customer = customer(&app).await;
    let p = post(&app, &with(order(&customer), json!({"occurred_at": "2026-11-20T14:30:00Z"}))).await;
    assert_json(refund(&app, &p, &json!({"amount_minor": 100})).await, 200).await;
    let entries = app.admin().list_all(&format!("/v1/customers/{customer}/timeline?kinds=purchase")).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["kind"], "purchase");
    assert_eq!(entries[0]["id"], p["id"]);
    assert_eq!(entries[0]["occurred_at"], "2026-11-20T14:30:00Z");
    assert_eq!(entries[0]["data"]["refunded_minor"], 100, "the purchase as it is now");
    assert_eq!(entries[0]["data"], assert_json(app.get(&path_of(&p)).await, 200).await, "as its endpoint returns it");
    assert_eq!(entries[0]["summary"], "purchase (web, partially_refunded): 3 items, 10200 EUR (minor units)");
    let everything = app.admin().list_all(&format!("/v1/customers/{customer}/timeline")).await;
    assert!(everything.iter().any(|e| e["kind"] == "purchase"), "{everything:?}");

    // Without purchases:read the timeline leaves purchases out, and asking for them is a 403.
    let reader = app.create_api_key(&["customers:read"]).await;
    let without = app.with_key(&reader).list_all(&format!("/v1/customers/{customer}/timeline")).await;
    assert!(without.iter().all(|e| e["kind"] != "purchase"), "{without:?}");
    let asked = app.with_key(&reader).get(&format!("/v1/customers/{customer}/timeline?kinds=purchase")).await;
    assert_problem(asked, 403, "forbidden").await;
}
both_backends!(the_timeline_shows_purchases);

async fn scopes_guard_purchases(app: TestApp) {
    let customer = customer(&app).await;
    let p = post(&app, &order(&customer)).await;
    let reader = app.create_api_key(&["purchases:read"]).await;
    let reader = app.with_key(&reader);
    assert_json(reader.get(&path_of(&p)).await, 200).await;
    assert_json(reader.get("/v1/purchases").await, 200).await;
    assert_problem(reader.post_json("/v1/purchases", &order(&customer)).await, 403, "forbidden").await;
    assert_problem(reader.post_json(&format!("{}/refund", path_of(&p)), &json!({})).await, 403, "forbidden").await;
    let batch = json!({"purchases": [order(&customer)]});
    assert_problem(reader.post_json("/v1/purchases/batch", &batch).await, 403, "forbidden").await;
    let outsider = app.create_api_key(&["customers:read"]).await;
    assert_problem(app.with_key(&outsider).get("/v1/purchases").await, 403, "forbidden").await;
    let writer = app.create_api_key(&["purchases:write"]).await;
    assert_json(app.with_key(&writer).post_json("/v1/purchases", &order(&customer)).await, 201).await;
    assert_json(app.with_key(&writer).get(&path_of(&p)).await, 200).await;
}
both_backends!(scopes_guard_purchases);
