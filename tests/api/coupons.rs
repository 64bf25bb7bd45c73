//! Coupons: validation, normalised codes, lists, terms fixed once redeemed, every refusal of
//! `validate` and `redeem`, the segment restriction, idempotent redemption (replay, reuse,
//! crash) and the overall and per-customer limits under concurrent redemptions.

use std::collections::BTreeSet;

use futures_util::future::join_all;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::conventions::{execute_sql, lose_stored_responses};
use crate::helpers::{
    TestApp, assert_field_error, assert_json, assert_no_content, assert_problem, both_backends, header, id_of, ids,
    send,
};

async fn post(app: &TestApp, body: &Value) -> Value {
    assert_json(app.post_json("/v1/coupons", body).await, 201).await
}

fn path_of(item: &Value) -> String {
    format!("/v1/coupons/{}", id_of(item))
}

async fn customer(app: &TestApp, tags: &[&str]) -> String {
    id_of(&app.post_customer(&json!({"kind": "person", "first_name": "Olena", "tags": tags})).await)
}

fn redeem_with(app: &TestApp, code: &str, key: &str, body: &Value) -> RequestBuilder {
    app.request(Method::POST, &format!("/v1/coupons/{code}/redeem")).header("Idempotency-Key", key).json(body)
}

/// Redeems with a fresh Idempotency-Key.
async fn redeem(app: &TestApp, code: &str, body: &Value) -> reqwest::Response {
    send(redeem_with(app, code, &Uuid::now_v7().to_string(), body)).await
}

async fn validate(app: &TestApp, code: &str, body: &Value) -> Value {
    assert_json(app.post_json(&format!("/v1/coupons/{code}/validate"), body).await, 200).await
}

async fn create_read_and_list(app: TestApp) {
    let response =
        app.post_json("/v1/coupons", &json!({"code": "  winter-15 ", "name": "Winter sale", "percent_off": 15})).await;
    let location = header(response.headers(), "location");
    let etag = header(response.headers(), "etag");
    let coupon = assert_json(response, 201).await;
    let id = id_of(&coupon);
    assert_eq!(location, Some(format!("/v1/coupons/{id}")));
    assert_eq!(etag.as_deref(), Some("\"1\""));
    let expected = json!({
        "id": id, "code": "WINTER-15", "name": "Winter sale", "description": null, "discount_type": "percent",
        "percent_off": 15, "amount_off_minor": null, "currency": null, "min_order_minor": null,
        "valid_from": null, "valid_until": null, "max_redemptions": null, "max_redemptions_per_customer": null,
        "segment_id": null, "active": true, "redemption_count": 0, "version": 1,
        "created_at": coupon["created_at"], "updated_at": coupon["created_at"], "deleted_at": null
    });
    assert_eq!(coupon, expected);
    assert_eq!(assert_json(app.get(&path_of(&coupon)).await, 200).await, coupon);

    let amount = post(
        &app,
        &json!({"code": "TENOFF", "name": "Ten off", "discount_type": "amount", "amount_off_minor": 1000,
                "currency": "eur", "active": false, "max_redemptions": 100, "valid_until": "2999-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!((&amount["currency"], &amount["active"]), (&json!("EUR"), &json!(false)), "{amount}");
    let taken = app.post_json("/v1/coupons", &json!({"code": "Winter-15", "percent_off": 5})).await;
    assert_problem(taken, 409, "coupon_code_taken").await;

    let (w, t) = (id_of(&coupon), id_of(&amount));
    for (query, expected) in [
        ("", vec![&w, &t]),
        ("active=true", vec![&w]),
        ("active=false", vec![&t]),
        ("code=winter-15", vec![&w]),
        ("q=ten", vec![&t]),
        ("q=SALE", vec![&w]),
        ("deleted=true", vec![]),
    ] {
        let listed = ids(&app.admin().list_all(&format!("/v1/coupons?{query}")).await);
        assert_eq!(listed, expected.into_iter().cloned().collect::<BTreeSet<String>>(), "?{query}");
    }
    let newest: Vec<String> = app.admin().list_all("/v1/coupons?limit=1").await.iter().map(id_of).collect();
    assert_eq!(newest, [t.clone(), w.clone()]);
    let oldest: Vec<String> =
        app.admin().list_all("/v1/coupons?limit=1&sort=created_at").await.iter().map(id_of).collect();
    assert_eq!(oldest, [w.clone(), t.clone()]);
    for query in
        ["sort=code", "active=maybe", "code=no%20way", "q=%00", "limit=0", "limit=201", "bogus=1", "segment_id=1"]
    {
        assert_problem(app.get(&format!("/v1/coupons?{query}")).await, 400, "invalid_parameter").await;
    }
    assert_problem(app.get("/v1/coupons?cursor=AAAA").await, 400, "invalid_cursor").await;
}
both_backends!(create_read_and_list);

async fn invalid_input_is_422(app: TestApp) {
    let cases = [
        (json!({"percent_off": 5}), "code", "required"),
        (json!({"code": " ", "percent_off": 5}), "code", "required"),
        (json!({"code": "ab", "percent_off": 5}), "code", "invalid_format"),
        (json!({"code": "NO WAY", "percent_off": 5}), "code", "invalid_format"),
        (json!({"code": "BAD!", "percent_off": 5}), "code", "invalid_format"),
        (json!({"code": "ÄPFEL", "percent_off": 5}), "code", "invalid_format"),
        (json!({"code": "NUL\u{0}X", "percent_off": 5}), "code", "invalid_format"),
        (json!({"code": "X".repeat(65), "percent_off": 5}), "code", "invalid_format"),
        (json!({"code": "ABC"}), "percent_off", "required"),
        (json!({"code": "ABC", "percent_off": 0}), "percent_off", "out_of_range"),
        (json!({"code": "ABC", "percent_off": 101}), "percent_off", "out_of_range"),
        (json!({"code": "ABC", "percent_off": 1e30}), "percent_off", "invalid_type"),
        (json!({"code": "ABC", "percent_off": "10"}), "percent_off", "invalid_type"),
        (json!({"code": "ABC", "discount_type": "amount", "amount_off_minor": 500}), "currency", "required"),
        (json!({"code": "ABC", "discount_type": "amount", "currency": "EUR"}), "amount_off_minor", "required"),
        (
            json!({"code": "ABC", "discount_type": "amount", "amount_off_minor": 9_000_000_000_000_000_000_i64, "currency": "EUR"}),
            "amount_off_minor",
            "out_of_range",
        ),
        (
            json!({"code": "ABC", "discount_type": "amount", "amount_off_minor": 18_446_744_073_709_551_615_u64, "currency": "EUR"}),
            "amount_off_minor",
            "invalid_value",
        ),
        (
            json!({"code": "ABC", "discount_type": "amount", "amount_off_minor": 5, "currency": "EURO"}),
            "currency",
            "invalid_value",
        ),
        (
            json!({"code": "ABC", "percent_off": 5, "amount_off_minor": 5, "currency": "EUR"}),
            "amount_off_minor",
            "not_allowed",
        ),
        (json!({"code": "ABC", "discount_type": "bogo"}), "discount_type", "invalid_value"),
        (json!({"code": "ABC", "percent_off": 5, "min_order_minor": 100}), "currency", "required"),
        (
            json!({"code": "ABC", "percent_off": 5, "valid_from": "2026-12-02T00:00:00Z", "valid_until": "2026-12-01T00:00:00Z"}),
            "valid_until",
            "out_of_range",
        ),
        (json!({"code": "ABC", "percent_off": 5, "valid_until": "soon"}), "valid_until", "invalid_value"),
        (json!({"code": "ABC", "percent_off": 5, "max_redemptions": 0}), "max_redemptions", "out_of_range"),
        (
            json!({"code": "ABC", "percent_off": 5, "max_redemptions_per_customer": -1}),
            "max_redemptions_per_customer",
            "out_of_range",
        ),
        (json!({"code": "ABC", "percent_off": 5, "name": "a\u{0}b"}), "name", "invalid_characters"),
        (json!({"code": "ABC", "percent_off": 5, "description": "d".repeat(2001)}), "description", "too_long"),
        (json!({"code": "ABC", "percent_off": 5, "segment_id": Uuid::now_v7()}), "segment_id", "not_found"),
        (json!({"code": "ABC", "percent_off": 5, "segment_id": "42"}), "segment_id", "invalid_value"),
        (json!({"code": "ABC", "percent_off": 5, "id": Uuid::now_v7()}), "id", "unknown_field"),
        (json!({"code": "ABC", "percent_off": 5, "redemption_count": 3}), "redemption_count", "unknown_field"),
        (json!({"code": "ABC", "percent_off": 5, "version": 2}), "version", "unknown_field"),
    ];
    for (body, field, code) in cases {
        assert_field_error(app.post_json("/v1/coupons", &body).await, field, code).await;
    }
    assert!(app.admin().list_all("/v1/coupons").await.is_empty(), "nothing was created");

    let coupon = post(&app, &json!({"code": "SPRING", "percent_off": 10})).await;
    let path = path_of(&coupon);
    assert_field_error(app.patch_json(&path, &json!({"percent_off": 101})).await, "percent_off", "out_of_range").await;
    assert_field_error(app.patch_json(&path, &json!({"code": null})).await, "code", "required").await;
    assert_field_error(
        app.patch_json(&path, &json!({"redemption_count": 0})).await,
        "redemption_count",
        "unknown_field",
    )
    .await;
    let to_amount = app.patch_json(&path, &json!({"discount_type": "amount", "amount_off_minor": 500})).await;
    assert_field_error(to_amount, "percent_off", "not_allowed").await;
    let stale = app.request(Method::PATCH, &path).header("If-Match", "\"7\"").json(&json!({"name": "x"}));
    assert_problem(send(stale).await, 412, "version_mismatch").await;
    let fresh = app
        .request(Method::PATCH, &path)
        .header("If-Match", "\"1\"")
        .json(&json!({"discount_type": "amount", "percent_off": null, "amount_off_minor": 500, "currency": "EUR"}));
    let changed = assert_json(send(fresh).await, 200).await;
    assert_eq!((&changed["amount_off_minor"], &changed["version"]), (&json!(500), &json!(2)), "{changed}");
    assert_eq!(assert_json(app.get(&path).await, 200).await, changed, "rejected patches changed nothing");

    assert_problem(app.get("/v1/coupons/SPRING").await, 400, "invalid_parameter").await;
    assert_problem(app.get(&format!("/v1/coupons/{}", Uuid::now_v7())).await, 404, "not_found").await;
    assert_problem(app.patch_json(&format!("/v1/coupons/{}", Uuid::now_v7()), &json!({})).await, 404, "not_found")
        .await;
    assert_problem(app.get(&format!("/v1/coupons/{}/redemptions", Uuid::now_v7())).await, 404, "not_found").await;
    assert_problem(app.get("/v1/coupons/42/redemptions").await, 400, "invalid_parameter").await;
}
both_backends!(invalid_input_is_422);

async fn redeem_percent_and_amount(app: TestApp) {
    let olena = customer(&app, &[]).await;
    let percent = post(&app, &json!({"code": "Fifteen", "percent_off": 15})).await;
    let body =
        json!({"customer_id": olena, "order_amount_minor": 999, "currency": "eur", "external_order_id": " SHOP-1 "});

    let check =
        validate(&app, "fifteen", &json!({"customer_id": olena, "order_amount_minor": 999, "currency": "eur"})).await;
    let expected = json!({"valid": true, "coupon_id": percent["id"], "code": "FIFTEEN", "discount_type": "percent",
                          "discount_minor": 150, "currency": "EUR", "reason": null, "message": null});
    assert_eq!(check, expected, "149.85 rounds half up");
    let unknown_total = validate(&app, "FIFTEEN", &json!({"customer_id": olena})).await;
    assert_eq!((&unknown_total["valid"], &unknown_total["discount_minor"]), (&json!(true), &Value::Null));
    assert_eq!(assert_json(app.get(&path_of(&percent)).await, 200).await, percent, "validate changes nothing");

    let response = redeem(&app, "fifteen", &body).await;
    let location = header(response.headers(), "location");
    let redemption = assert_json(response, 201).await;
    let rid = id_of(&redemption);
    assert_eq!(location, Some(format!("{}/redemptions/{rid}", path_of(&percent))));
    let expected = json!({
        "id": rid, "coupon_id": percent["id"], "code": "FIFTEEN", "customer_id": olena, "order_amount_minor": 999,
        "currency": "EUR", "discount_minor": 150, "purchase_id": null, "external_order_id": "SHOP-1",
        "actor": {"type": "api_key", "id": redemption["actor"]["id"]}, "created_at": redemption["created_at"],
        "voided_at": null, "void_reason": null
    });
    assert_eq!(redemption, expected);
    assert_eq!(assert_json(app.get(&location.unwrap()).await, 200).await, redemption);
    let after = assert_json(app.get(&path_of(&percent)).await, 200).await;
    assert_eq!((&after["redemption_count"], &after["version"]), (&json!(1), &json!(1)), "{after}");
    let again = redeem(&app, "FIFTEEN", &body).await;
    assert_problem(again, 409, "coupon_already_redeemed").await;
    let no_total = redeem(&app, "FIFTEEN", &json!({"customer_id": olena})).await;
    assert_field_error(no_total, "order_amount_minor", "required").await;

    let amount =
        post(&app, &json!({"code": "TENOFF", "discount_type": "amount", "amount_off_minor": 1000, "currency": "EUR"}))
            .await;
    let small = json!({"customer_id": olena, "order_amount_minor": 600, "currency": "EUR"});
    let capped = assert_json(redeem(&app, "TENOFF", &small).await, 201).await;
    assert_eq!(capped["discount_minor"], 600, "capped at the order: {capped}");
    let whole = assert_json(redeem(&app, "TENOFF", &json!({"customer_id": olena})).await, 201).await;
    assert_eq!((&whole["discount_minor"], &whole["currency"]), (&json!(1000), &json!("EUR")), "{whole}");

    let listed = app.admin().list_all(&format!("{}/redemptions?limit=1", path_of(&amount))).await;
    assert_eq!(listed.iter().map(id_of).collect::<Vec<_>>(), [id_of(&whole), id_of(&capped)], "newest first");
    let theirs =
        app.admin().list_all(&format!("{}/redemptions?customer_id={}", path_of(&amount), Uuid::now_v7())).await;
    assert!(theirs.is_empty());
    let wrong_coupon = format!("{}/redemptions/{rid}", path_of(&amount));
    assert_problem(app.get(&wrong_coupon).await, 404, "not_found").await;
    let history = app.admin().list_all(&format!("{}/history", path_of(&amount))).await;
    assert_eq!(history.len(), 1, "redemptions are not edits: {history:?}");
}
both_backends!(redeem_percent_and_amount);

async fn every_refusal_of_validate_and_redeem(app: TestApp) {
    let olena = customer(&app, &["vip"]).await;
    let taras = customer(&app, &["newsletter"]).await;
    let order = |who: &str| json!({"customer_id": who, "order_amount_minor": 10_000, "currency": "EUR"});
    let segment = json!({"name": "VIPs", "filter": {"tags": ["vip"]}});
    let segment = assert_json(app.post_json("/v1/segments", &segment).await, 201).await;
    let coupons = [
        ("EXPIRED", json!({"valid_from": "2020-01-01T00:00:00Z", "valid_until": "2020-02-01T00:00:00Z"})),
        ("LATER", json!({"valid_from": "2999-01-01T00:00:00Z"})),
        ("PAUSED", json!({"active": false})),
        ("BIGSPEND", json!({"min_order_minor": 20_000, "currency": "EUR"})),
        ("ZLOTY", json!({"currency": "PLN"})),
        ("VIPONLY", json!({"segment_id": segment["id"]})),
        ("ONCE", json!({"max_redemptions_per_customer": 1})),
        ("ONE", json!({"max_redemptions": 1})),
    ];
    for (code, extra) in &coupons {
        let mut body = json!({"code": code, "percent_off": 10});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        post(&app, &body).await;
    }
    for (code, status, reason) in [
        ("EXPIRED", 422, "coupon_expired"),
        ("LATER", 422, "coupon_not_yet_valid"),
        ("PAUSED", 422, "coupon_inactive"),
        ("BIGSPEND", 422, "min_order_not_met"),
        ("ZLOTY", 422, "currency_mismatch"),
    ] {
        let check = validate(&app, code, &order(&olena)).await;
        assert_eq!((&check["valid"], &check["reason"]), (&json!(false), &json!(reason)), "{code}: {check}");
        assert!(check["discount_minor"].is_null() && check["message"].is_string(), "{check}");
        assert_problem(redeem(&app, code, &order(&olena)).await, status, reason).await;
    }
    let no_total = validate(&app, "BIGSPEND", &json!({"customer_id": olena})).await;
    assert_eq!(no_total["reason"], "min_order_not_met", "{no_total}");

    // The segment restriction: Olena has the tag, Taras does not — until he gets it.
    assert_eq!(validate(&app, "VIPONLY", &order(&taras)).await["reason"], "coupon_not_eligible");
    assert_problem(redeem(&app, "VIPONLY", &order(&taras)).await, 422, "coupon_not_eligible").await;
    assert_eq!(validate(&app, "VIPONLY", &order(&olena)).await["valid"], true);
    assert_json(redeem(&app, "VIPONLY", &order(&olena)).await, 201).await;
    let taras_path = format!("/v1/customers/{taras}");
    assert_json(app.patch_json(&taras_path, &json!({"tags": ["newsletter", "vip"]})).await, 200).await;
    assert_json(redeem(&app, "VIPONLY", &order(&taras)).await, 201).await;

    assert_json(redeem(&app, "ONCE", &order(&olena)).await, 201).await;
    assert_eq!(validate(&app, "ONCE", &order(&olena)).await["reason"], "coupon_limit_reached");
    assert_problem(redeem(&app, "ONCE", &order(&olena)).await, 409, "coupon_limit_reached").await;
    assert_json(redeem(&app, "ONCE", &order(&taras)).await, 201).await;
    assert_json(redeem(&app, "ONE", &order(&olena)).await, 201).await;
    assert_eq!(validate(&app, "ONE", &order(&taras)).await["reason"], "coupon_exhausted");
    assert_problem(redeem(&app, "ONE", &order(&taras)).await, 409, "coupon_exhausted").await;

    // Unknown codes and customers, bad bodies, a missing key.
    for code in ["NOPE", "no%20way", "%00AB", "ab"] {
        assert_problem(redeem(&app, code, &order(&olena)).await, 404, "not_found").await;
        let response = app.post_json(&format!("/v1/coupons/{code}/validate"), &order(&olena)).await;
        assert_problem(response, 404, "not_found").await;
    }
    let ghost = Uuid::now_v7().to_string();
    assert_field_error(redeem(&app, "ONCE", &order(&ghost)).await, "customer_id", "not_found").await;
    let response = app.post_json("/v1/coupons/ONCE/validate", &order(&ghost)).await;
    assert_field_error(response, "customer_id", "not_found").await;
    for (body, field, code) in [
        (json!({}), "customer_id", "required"),
        (json!({"customer_id": "42"}), "customer_id", "invalid_value"),
        (json!({"customer_id": taras, "order_amount_minor": 100}), "currency", "required"),
        (
            json!({"customer_id": taras, "order_amount_minor": -1, "currency": "EUR"}),
            "order_amount_minor",
            "out_of_range",
        ),
        (
            json!({"customer_id": taras, "order_amount_minor": 1e20, "currency": "EUR"}),
            "order_amount_minor",
            "invalid_type",
        ),
        (json!({"customer_id": taras, "currency": "E\u{0}R"}), "currency", "invalid_value"),
        (json!({"customer_id": taras, "external_order_id": "a\u{0}"}), "external_order_id", "invalid_characters"),
        (json!({"customer_id": taras, "purchase_id": Uuid::now_v7()}), "purchase_id", "not_found"),
        (json!({"customer_id": taras, "coupon_id": Uuid::now_v7()}), "coupon_id", "unknown_field"),
    ] {
        assert_field_error(redeem(&app, "ONCE", &body).await, field, code).await;
    }
    let validate_extra = json!({"customer_id": taras, "external_order_id": "x"});
    let response = app.post_json("/v1/coupons/ONCE/validate", &validate_extra).await;
    assert_field_error(response, "external_order_id", "unknown_field").await;
    let keyless = app.post_json("/v1/coupons/ONCE/redeem", &order(&taras)).await;
    assert_problem(keyless, 400, "idempotency_key_required").await;
    let bad_key =
        app.request(Method::POST, "/v1/coupons/ONCE/redeem").header("Idempotency-Key", "").json(&order(&taras));
    assert_problem(send(bad_key).await, 400, "invalid_header").await;
    let malformed = app
        .request(Method::POST, "/v1/coupons/ONCE/redeem")
        .header("Idempotency-Key", "m-1")
        .header("content-type", "application/json")
        .body("{");
    assert_problem(send(malformed).await, 400, "malformed_json").await;

    // Scopes: reading is enough to validate, not to redeem.
    let reader = app.create_api_key(&["coupons:read"]).await;
    let reader = app.with_key(&reader);
    assert_json(reader.post_json("/v1/coupons/ONE/validate", &order(&olena)).await, 200).await;
    let denied = reader.request(Method::POST, "/v1/coupons/ONE/redeem").header("Idempotency-Key", "r-1");
    assert_problem(send(denied.json(&order(&olena))).await, 403, "forbidden").await;
    assert_problem(reader.post_json("/v1/coupons", &json!({"code": "ABC", "percent_off": 5})).await, 403, "forbidden")
        .await;
    let unrelated = app.create_api_key(&["customers:read"]).await;
    assert_problem(app.with_key(&unrelated).get("/v1/coupons").await, 403, "forbidden").await;
    assert_problem(app.anonymous().post_json("/v1/coupons/ONE/validate", &order(&olena)).await, 401, "unauthorized")
        .await;

    // Another workspace sees none of it, and may use the same codes.
    let other = app.second_workspace().await;
    let other = app.with_key(&other);
    assert_problem(other.post_json("/v1/coupons/ONCE/validate", &order(&olena)).await, 404, "not_found").await;
    let theirs = other.request(Method::POST, "/v1/coupons/ONCE/redeem").header("Idempotency-Key", "o-1");
    assert_problem(send(theirs.json(&order(&olena))).await, 404, "not_found").await;
    assert_json(other.post_json("/v1/coupons", &json!({"code": "ONCE", "percent_off": 50})).await, 201).await;
    assert!(other.list_all("/v1/coupons?code=ONE").await.is_empty());
}
both_backends!(every_refusal_of_validate_and_redeem);

async fn terms_are_fixed_once_redeemed(app: TestApp) {
    let olena = customer(&app, &[]).await;
    let coupon = post(&app, &json!({"code": "FIXED", "percent_off": 10, "max_redemptions": 5})).await;
    let path = path_of(&coupon);
    let unused = assert_json(app.patch_json(&path, &json!({"percent_off": 12})).await, 200).await;
    assert_eq!(unused["percent_off"], 12, "{unused}");
    let body = json!({"customer_id": olena, "order_amount_minor": 1000, "currency": "EUR"});
    for _ in 0..2 {
        assert_json(redeem(&app, "FIXED", &body).await, 201).await;
    }
    for patch in [json!({"percent_off": 20}), json!({"code": "FIXED2"}), json!({"currency": "EUR"})] {
        assert_problem(app.patch_json(&path, &patch).await, 409, "coupon_in_use").await;
    }
    let below = app.patch_json(&path, &json!({"max_redemptions": 1})).await;
    assert_field_error(below, "max_redemptions", "out_of_range").await;
    let edited =
        assert_json(app.patch_json(&path, &json!({"name": "Fixed", "max_redemptions": 2, "active": false})).await, 200)
            .await;
    assert_eq!((&edited["redemption_count"], &edited["version"]), (&json!(2), &json!(3)), "{edited}");
    let reopened = assert_json(app.patch_json(&path, &json!({"active": true})).await, 200).await;
    assert_eq!(reopened["active"], true);
    assert_problem(redeem(&app, "FIXED", &body).await, 409, "coupon_exhausted").await;

    // Delete: not redeemable, its code free; restoring it then conflicts.
    let stale = send(app.request(Method::DELETE, &path).header("If-Match", "\"1\"")).await;
    assert_problem(stale, 412, "version_mismatch").await;
    assert_no_content(app.delete(&path).await).await;
    assert_problem(app.get(&path).await, 404, "not_found").await;
    assert_problem(app.delete(&path).await, 404, "not_found").await;
    assert_problem(redeem(&app, "FIXED", &body).await, 404, "not_found").await;
    let deleted = assert_json(app.get(&format!("{path}?include_deleted=true")).await, 200).await;
    assert!(deleted["deleted_at"].is_string(), "{deleted}");
    assert_eq!(app.admin().list_all(&format!("{path}/redemptions")).await.len(), 2, "history stays readable");
    assert_eq!(ids(&app.admin().list_all("/v1/coupons?deleted=true").await), BTreeSet::from([id_of(&coupon)]));
    let successor = post(&app, &json!({"code": "fixed", "percent_off": 30})).await;
    assert_problem(app.post_json(&format!("{path}/restore"), &json!({})).await, 409, "coupon_code_taken").await;
    assert_no_content(app.delete(&path_of(&successor)).await).await;
    let restored = assert_json(app.post_json(&format!("{path}/restore"), &json!({})).await, 200).await;
    assert!(restored["deleted_at"].is_null(), "{restored}");
    let actions: Vec<String> = app
        .admin()
        .list_all(&format!("{path}/history"))
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(actions, ["restore", "delete", "update", "update", "update", "create"]);

    // `/v1/coupons/{id}` and `/v1/coupons/{code}/redeem` route apart, whatever the code.
    let id_like = post(&app, &json!({"code": id_of(&successor), "percent_off": 5})).await;
    let by_code = assert_json(redeem(&app, &id_of(&successor), &body).await, 201).await;
    assert_eq!(by_code["coupon_id"], id_like["id"], "{by_code}");
    post(&app, &json!({"code": "REDEEM", "percent_off": 5})).await;
    assert_problem(app.get("/v1/coupons/REDEEM").await, 400, "invalid_parameter").await;
    assert_json(redeem(&app, "redeem", &body).await, 201).await;
    assert_problem(send(app.request(Method::GET, "/v1/coupons/REDEEM/redeem")).await, 405, "method_not_allowed").await;
}
both_backends!(terms_are_fixed_once_redeemed);

async fn redeem_is_idempotent(app: TestApp) {
    let olena = customer(&app, &[]).await;
    let coupon = post(&app, &json!({"code": "AGAIN", "percent_off": 10})).await;
    let body = json!({"customer_id": olena, "order_amount_minor": 2000, "currency": "EUR"});
    let first = send(redeem_with(&app, "AGAIN", "k-1", &body)).await;
    let location = header(first.headers(), "location");
    let first = assert_json(first, 201).await;
    let other_path = send(redeem_with(&app, "again", "k-1", &body)).await;
    assert_problem(other_path, 422, "idempotency_key_reused").await;
    let retry = send(redeem_with(&app, "AGAIN", "k-1", &body)).await;
    assert_eq!(header(retry.headers(), "idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(header(retry.headers(), "location"), location);
    assert_eq!(assert_json(retry, 201).await, first);
    let other_body = json!({"customer_id": olena, "order_amount_minor": 3000, "currency": "EUR"});
    let reused = send(redeem_with(&app, "AGAIN", "k-1", &other_body)).await;
    assert_problem(reused, 422, "idempotency_key_reused").await;

    // A crash after the commit lost the answer: the retry rebuilds it and redeems nothing more.
    let crashed = assert_json(send(redeem_with(&app, "AGAIN", "k-2", &other_body)).await, 201).await;
    lose_stored_responses(&app).await;
    let rebuilt = send(redeem_with(&app, "AGAIN", "k-2", &other_body)).await;
    assert_eq!(header(rebuilt.headers(), "idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(assert_json(rebuilt, 201).await, crashed);
    let count = assert_json(app.get(&path_of(&coupon)).await, 200).await["redemption_count"].clone();
    assert_eq!(count, 2, "k-1 and k-2 once each");
    assert_eq!(app.admin().list_all(&format!("{}/redemptions", path_of(&coupon))).await.len(), 2);

    // A refusal is replayed as the refusal, even after the coupon would accept.
    execute_sql(&app, "UPDATE coupons SET active = false").await;
    let refused = send(redeem_with(&app, "AGAIN", "k-3", &body)).await;
    assert_problem(refused, 422, "coupon_inactive").await;
    execute_sql(&app, "UPDATE coupons SET active = true").await;
    let replayed = send(redeem_with(&app, "AGAIN", "k-3", &body)).await;
    assert_eq!(header(replayed.headers(), "idempotent-replayed").as_deref(), Some("true"));
    assert_problem(replayed, 422, "coupon_inactive").await;
}
both_backends!(redeem_is_idempotent);

fn body_of(customer: &str) -> Value {
    json!({"customer_id": customer, "order_amount_minor": 1000, "currency": "EUR"})
}

/// Sends every request at once and returns the statuses and bodies.
async fn all_at_once(requests: Vec<RequestBuilder>) -> Vec<(u16, Value)> {
    let responses = join_all(requests.into_iter().map(send)).await;
    let mut out = Vec::new();
    for response in responses {
        let status = response.status().as_u16();
        out.push((status, response.json::<Value>().await.unwrap_or_default()));
    }
    out
}

async fn parallel_redemptions_stop_at_the_overall_limit(app: TestApp) {
    let coupon = post(&app, &json!({"code": "FIVE", "percent_off": 10, "max_redemptions": 5})).await;
    let mut requests = Vec::new();
    for _ in 0..20 {
        let body = json!({"customer_id": customer(&app, &[]).await, "order_amount_minor": 1000, "currency": "EUR"});
        requests.push(redeem_with(&app, "FIVE", &Uuid::now_v7().to_string(), &body));
    }
    let results = all_at_once(requests).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let exhausted = results.iter().filter(|(s, b)| *s == 409 && b["code"] == "coupon_exhausted").count();
    assert_eq!((created, exhausted), (5, 15), "{results:?}");
    let after = assert_json(app.get(&path_of(&coupon)).await, 200).await;
    assert_eq!(after["redemption_count"], 5, "{after}");
    assert_eq!(app.admin().list_all(&format!("{}/redemptions", path_of(&coupon))).await.len(), 5);
}
both_backends!(parallel_redemptions_stop_at_the_overall_limit);

async fn parallel_redemptions_by_one_customer_stop_at_their_limit(app: TestApp) {
    let coupon = post(&app, &json!({"code": "TWICE", "percent_off": 10, "max_redemptions_per_customer": 2})).await;
    let olena = customer(&app, &[]).await;
    let body = body_of(&olena);
    let requests = (0..10).map(|_| redeem_with(&app, "TWICE", &Uuid::now_v7().to_string(), &body)).collect();
    let results = all_at_once(requests).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let limited = results.iter().filter(|(s, b)| *s == 409 && b["code"] == "coupon_limit_reached").count();
    assert_eq!((created, limited), (2, 8), "{results:?}");
    let after = assert_json(app.get(&path_of(&coupon)).await, 200).await;
    assert_eq!(after["redemption_count"], 2, "refusals roll the count back: {after}");
    let taras = customer(&app, &[]).await;
    assert_json(redeem(&app, "TWICE", &body_of(&taras)).await, 201).await;
}
both_backends!(parallel_redemptions_by_one_customer_stop_at_their_limit);

async fn a_voided_redemption_frees_the_limits(app: TestApp) {
    let coupon = post(
        &app,
        &json!({"code": "ONCE", "discount_type": "amount", "amount_off_minor": 500, "currency": "EUR",
        "max_redemptions": 1, "max_redemptions_per_customer": 1}),
    )
    .await;
    let olena = customer(&app, &[]).await;
    let order =
        json!({"customer_id": olena, "order_amount_minor": 1000, "currency": "EUR", "external_order_id": "SHOP-1"});
    let first = assert_json(redeem(&app, "ONCE", &order).await, 201).await;
    let taras = customer(&app, &[]).await;
    assert_problem(redeem(&app, "ONCE", &body_of(&taras)).await, 409, "coupon_exhausted").await;

    let void_path = format!("{}/redemptions/{}/void", path_of(&coupon), id_of(&first));
    let reason = json!({"reason": "order SHOP-1 cancelled"});
    let voided = assert_json(app.post_json(&void_path, &reason).await, 200).await;
    assert_eq!(voided["void_reason"], "order SHOP-1 cancelled");
    assert!(voided["voided_at"].is_string(), "{voided}");
    assert_eq!(voided["discount_minor"], first["discount_minor"], "the record stays as it was");
    let read = format!("{}/redemptions/{}", path_of(&coupon), id_of(&first));
    assert_eq!(assert_json(app.get(&read).await, 200).await, voided);
    let after = assert_json(app.get(&path_of(&coupon)).await, 200).await;
    assert_eq!(after["redemption_count"], 0, "{after}");
    let again = assert_json(app.post_json(&void_path, &json!({"reason": "twice"})).await, 200).await;
    assert_eq!(again, voided, "a second void changes nothing");
    assert_eq!(assert_json(app.get(&path_of(&coupon)).await, 200).await["redemption_count"], 0);
    // Voided, the redemption still fixes the terms it was made with.
    let terms = app.patch_json(&path_of(&coupon), &json!({"code": "TWICE-NOW"})).await;
    assert_problem(terms, 409, "coupon_in_use").await;
    assert_eq!(assert_json(app.get(&read).await, 200).await["code"], "ONCE");

    // The same customer and the same external order may redeem again.
    let second = assert_json(redeem(&app, "ONCE", &order).await, 201).await;
    assert_ne!(second["id"], first["id"]);
    assert!(second["voided_at"].is_null());
    assert_problem(redeem(&app, "ONCE", &body_of(&taras)).await, 409, "coupon_exhausted").await;
    let listed = app.admin().list_all(&format!("{}/redemptions", path_of(&coupon))).await;
    assert_eq!(listed.len(), 2, "the voided one stays on record: {listed:?}");

    // Every refusal.
    let unknown = format!("{}/redemptions/{}/void", path_of(&coupon), Uuid::now_v7());
    assert_problem(app.post_json(&unknown, &json!({})).await, 404, "not_found").await;
    let other = post(&app, &json!({"code": "OTHER", "percent_off": 5})).await;
    let elsewhere = format!("{}/redemptions/{}/void", path_of(&other), id_of(&second));
    assert_problem(app.post_json(&elsewhere, &json!({})).await, 404, "not_found").await;
    let second_void = format!("{}/redemptions/{}/void", path_of(&coupon), id_of(&second));
    assert_field_error(app.post_json(&second_void, &json!({"reason": "x".repeat(501)})).await, "reason", "too_long")
        .await;
    assert_field_error(app.post_json(&second_void, &json!({"why": "no"})).await, "why", "unknown_field").await;
    assert_field_error(
        app.post_json(&second_void, &json!({"reason": "a\u{0}b"})).await,
        "reason",
        "invalid_characters",
    )
    .await;
    let bad_id = format!("{}/redemptions/not-an-id/void", path_of(&coupon));
    assert_problem(app.post_json(&bad_id, &json!({})).await, 400, "invalid_parameter").await;
    let reader = app.create_api_key(&["coupons:read"]).await;
    let forbidden = app.with_key(&reader).request(Method::POST, &second_void).json(&json!({}));
    assert_problem(send(forbidden).await, 403, "forbidden").await;
    assert!(assert_json(app.get(&path_of(&coupon)).await, 200).await["redemption_count"] == 1);
}
both_backends!(a_voided_redemption_frees_the_limits);

async fn parallel_voids_of_one_redemption_count_once(app: TestApp) {
    let coupon = post(&app, &json!({"code": "VOIDME", "percent_off": 10})).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(id_of(&assert_json(redeem(&app, "VOIDME", &body_of(&customer(&app, &[]).await)).await, 201).await));
    }
    let void_path = format!("{}/redemptions/{}/void", path_of(&coupon), ids[0]);
    let requests = (0..10).map(|_| app.request(Method::POST, &void_path).json(&json!({}))).collect();
    let results = all_at_once(requests).await;
    assert!(results.iter().all(|(status, _)| *status == 200), "{results:?}");
    let voided_at: BTreeSet<String> = results.iter().map(|(_, body)| body["voided_at"].to_string()).collect();
    assert_eq!(voided_at.len(), 1, "one void, answered to all: {results:?}");
    let after = assert_json(app.get(&path_of(&coupon)).await, 200).await;
    assert_eq!(after["redemption_count"], 1, "counted down once: {after}");
}
both_backends!(parallel_voids_of_one_redemption_count_once);
