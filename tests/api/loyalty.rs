//! Loyalty points over HTTP: the program and its validation, the welcome bonus, adjustments,
//! tiers at their thresholds, redemptions (required idempotency, concurrency that never
//! overdraws), expiry by the CLI and by the server's own loop, the audit, every 4xx path.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_any_problem, assert_field_error, assert_json, assert_problem, both_backends, header, send,
};

pub async fn put_program(app: &TestApp, body: &Value) -> Value {
    let response = send(app.request(Method::PUT, "/v1/loyalty/program").json(body)).await;
    assert_json(response, 200).await
}

/// A program: 1 point per 100 cents of EUR, shoes double, three tiers, no expiry.
pub fn program() -> Value {
    json!({
        "active": true, "currency": "EUR", "points_per_unit": 1, "unit_minor": 100,
        "category_multipliers": {"shoes": 200},
        "tiers": [{"name": "Member", "threshold": 0, "multiplier_percent": 100},
                  {"name": "Silver", "threshold": 100, "multiplier_percent": 120},
                  {"name": "Gold", "threshold": 300, "multiplier_percent": 150}]
    })
}

pub async fn customer(app: &TestApp) -> String {
    let customer = app.post_customer(&json!({"kind": "person", "first_name": "Olha"})).await;
    customer["id"].as_str().unwrap().to_owned()
}

pub async fn adjust(app: &TestApp, customer: &str, body: &Value) -> Value {
    assert_json(app.post_keyed(&format!("/v1/customers/{customer}/loyalty/adjust"), body).await, 201).await
}

pub async fn summary(app: &TestApp, customer: &str) -> Value {
    assert_json(app.get(&format!("/v1/customers/{customer}/loyalty")).await, 200).await
}

pub async fn redeem(app: &TestApp, customer: &str, key: &str, body: &Value) -> reqwest::Response {
    let path = format!("/v1/customers/{customer}/loyalty/redeem");
    send(app.request(Method::POST, &path).header("Idempotency-Key", key).json(body)).await
}

pub async fn audit_ok(app: &TestApp) -> Value {
    let report = assert_json(app.get("/v1/loyalty/audit").await, 200).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["mismatches"], json!([]), "{report}");
    report
}

fn in_seconds(seconds: i64) -> String {
    (Utc::now() + chrono::Duration::seconds(seconds)).to_rfc3339_opts(SecondsFormat::Micros, true)
}

async fn program_is_validated_and_versioned(app: TestApp) {
    let response = app.get("/v1/loyalty/program").await;
    assert_eq!(header(response.headers(), "etag").as_deref(), Some("\"0\""));
    let default = assert_json(response, 200).await;
    assert_eq!(
        (&default["active"], &default["version"], &default["updated_at"]),
        (&json!(false), &json!(0), &json!(null))
    );

    let put = |body: Value| send(app.request(Method::PUT, "/v1/loyalty/program").json(&body));
    let with = |patch: Value| {
        let mut body = program();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (
            with(json!({"tiers": [{"name": "Gold", "threshold": 300, "multiplier_percent": 150},
                                {"name": "Silver", "threshold": 100, "multiplier_percent": 120}]})),
            "tiers[1].threshold",
            "not_ascending",
        ),
        (
            with(json!({"tiers": [{"name": "A", "threshold": 0, "multiplier_percent": 100},
                                {"name": "a", "threshold": 1, "multiplier_percent": 100}]})),
            "tiers[1].name",
            "duplicate",
        ),
        (
            with(json!({"tiers": [{"name": "A", "threshold": 0, "multiplier_percent": 50}]})),
            "tiers[0].multiplier_percent",
            "out_of_range",
        ),
        (
            with(json!({"tiers": [{"name": "A\u{0}", "threshold": 0, "multiplier_percent": 100}]})),
            "tiers[0].name",
            "invalid_characters",
        ),
        (
            with(json!({"tiers": [{"name": "A", "threshold": 0, "multiplier_percent": 100, "x": 1}]})),
            "tiers[0].x",
            "unknown_field",
        ),
        (with(json!({"category_multipliers": {"shoes": 1001}})), "category_multipliers.shoes", "out_of_range"),
        (with(json!({"category_multipliers": {"shoes": -1}})), "category_multipliers.shoes", "out_of_range"),
        (with(json!({"points_per_unit": 1e30})), "points_per_unit", "invalid_type"),
        (with(json!({"points_per_unit": 9_223_372_036_854_775_807_i64})), "points_per_unit", "out_of_range"),
        (with(json!({"unit_minor": 0})), "unit_minor", "out_of_range"),
        (with(json!({"expiry_months": 121})), "expiry_months", "out_of_range"),
        (with(json!({"welcome_bonus": -5})), "welcome_bonus", "out_of_range"),
        (with(json!({"currency": "EURO"})), "currency", "invalid_format"),
        (with(json!({"version": 2})), "version", "unknown_field"),
        (json!({"active": true}), "currency", "required"),
    ];
    for (body, field, code) in cases {
        assert_field_error(put(body).await, field, code).await;
    }
    assert_eq!(assert_json(app.get("/v1/loyalty/program").await, 200).await["version"], 0, "nothing saved");

    let response = put(program()).await;
    assert_eq!(header(response.headers(), "etag").as_deref(), Some("\"1\""));
    let saved = assert_json(response, 200).await;
    assert_eq!(
        (&saved["version"], &saved["currency"], &saved["tiers"][2]["name"]),
        (&json!(1), &json!("EUR"), &json!("Gold"))
    );
    assert_eq!(assert_json(app.get("/v1/loyalty/program").await, 200).await, saved);

    let stale =
        send(app.request(Method::PUT, "/v1/loyalty/program").header("If-Match", "\"0\"").json(&program())).await;
    assert_problem(stale, 412, "version_mismatch").await;
    let garbage =
        send(app.request(Method::PUT, "/v1/loyalty/program").header("If-Match", "soon").json(&program())).await;
    assert_problem(garbage, 400, "invalid_header").await;
    let next = with(json!({"welcome_bonus": 25}));
    let fresh = send(app.request(Method::PUT, "/v1/loyalty/program").header("If-Match", "\"1\"").json(&next)).await;
    assert_eq!(assert_json(fresh, 200).await["version"], 2);
    assert_eq!(put_program(&app, &next).await["version"], 2, "the same program again changes nothing");

    let reader = app.create_api_key(&["loyalty:write"]).await;
    let reader = app.with_key(&reader);
    assert_json(reader.get("/v1/loyalty/program").await, 200).await;
    let forbidden = send(reader.request(Method::PUT, "/v1/loyalty/program").json(&program())).await;
    assert_problem(forbidden, 403, "forbidden").await;
    assert_problem(reader.get("/v1/loyalty/audit").await, 403, "forbidden").await;
    let other = app.second_workspace().await;
    assert_eq!(assert_json(app.with_key(&other).get("/v1/loyalty/program").await, 200).await["version"], 0);
}
both_backends!(program_is_validated_and_versioned);

async fn welcome_bonus_once_and_adjustments(app: TestApp) {
    let mut body = program();
    body["welcome_bonus"] = json!(50);
    put_program(&app, &body).await;
    let id = customer(&app).await;
    let empty = summary(&app, &id).await;
    assert_eq!((&empty["balance"], &empty["program_active"]), (&json!(0), &json!(true)), "{empty}");
    assert_eq!(empty["tier"]["name"], "Member", "the first tier starts at 0: {empty}");

    let path = format!("/v1/customers/{id}/loyalty/adjust");
    let response = app.post_keyed(&path, &json!({"points": 100, "reason": "  Late delivery  "})).await;
    let location = header(response.headers(), "location").unwrap();
    let credited = assert_json(response, 201).await;
    assert_eq!(credited["balance"], 150, "welcome bonus first: {credited}");
    let entry = &credited["entry"];
    assert_eq!(
        (&entry["kind"], &entry["points"], &entry["seq"], &entry["reason"]),
        (&json!("adjust"), &json!(100), &json!(2), &json!("Late delivery"))
    );
    assert_eq!(entry["actor"]["type"], "api_key", "{entry}");
    assert_eq!(location, format!("/v1/customers/{id}/loyalty/ledger/{}", entry["id"].as_str().unwrap()));
    assert_eq!(&assert_json(app.get(&location).await, 200).await, entry);

    let debited = adjust(&app, &id, &json!({"points": -30, "reason": "Goodwill reversed"})).await;
    assert_eq!(debited["balance"], 120);
    assert_problem(
        app.post_keyed(&path, &json!({"points": -121, "reason": "too much"})).await,
        422,
        "insufficient_points",
    )
    .await;

    let ledger = app.admin().list_all(&format!("/v1/customers/{id}/loyalty/ledger?limit=1")).await;
    let rows: Vec<(i64, &str, i64, i64)> = ledger
        .iter()
        .map(|e| {
            (
                e["seq"].as_i64().unwrap(),
                e["kind"].as_str().unwrap(),
                e["points"].as_i64().unwrap(),
                e["balance_after"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, [(3, "adjust", -30, 120), (2, "adjust", 100, 150), (1, "earn", 50, 50)], "newest first");
    assert_eq!(ledger[2]["reference_type"], "welcome");
    let earns = app.admin().list_all(&format!("/v1/customers/{id}/loyalty/ledger?kind=earn,reverse")).await;
    assert_eq!(earns.len(), 1, "the welcome bonus is granted once");

    let after = summary(&app, &id).await;
    assert_eq!(
        (&after["balance"], &after["lifetime_earned"], &after["earned_last_12_months"]),
        (&json!(120), &json!(150), &json!(0)),
        "adjustments don't count toward tiers by default: {after}"
    );
    let timeline = app.admin().list_all(&format!("/v1/customers/{id}/timeline?kinds=points")).await;
    let summaries: Vec<&str> = timeline.iter().map(|e| e["summary"].as_str().unwrap()).collect();
    assert_eq!(
        summaries,
        ["adjust -30 points: Goodwill reversed", "adjust +100 points: Late delivery", "earn +50 points (welcome)"]
    );
    audit_ok(&app).await;
}
both_backends!(welcome_bonus_once_and_adjustments);

async fn adjustments_reject_bad_input(app: TestApp) {
    put_program(&app, &program()).await;
    let id = customer(&app).await;
    let path = format!("/v1/customers/{id}/loyalty/adjust");
    let cases = [
        (json!({"points": 0, "reason": "x"}), "points", "out_of_range"),
        (json!({"points": 1_000_000_000_001_i64, "reason": "x"}), "points", "out_of_range"),
        (json!({"points": 1e30, "reason": "x"}), "points", "invalid_type"),
        (json!({"points": "5", "reason": "x"}), "points", "invalid_type"),
        (json!({"points": 5}), "reason", "required"),
        (json!({"points": 5, "reason": "  "}), "reason", "required"),
        (json!({"points": 5, "reason": "a\u{0}b"}), "reason", "invalid_characters"),
        (json!({"points": 5, "reason": "x".repeat(501)}), "reason", "too_long"),
        (json!({"points": 5, "reason": "x", "expires_at": "2020-01-01T00:00:00Z"}), "expires_at", "out_of_range"),
        (json!({"points": 5, "reason": "x", "expires_at": "soon"}), "expires_at", "invalid_value"),
        (json!({"points": -5, "reason": "x", "expires_at": in_seconds(3600)}), "expires_at", "not_allowed"),
        (json!({"points": 5, "reason": "x", "kind": "earn"}), "kind", "unknown_field"),
    ];
    for (body, field, code) in cases {
        assert_field_error(app.post_keyed(&path, &body).await, field, code).await;
    }
    let ok = json!({"points": 5, "reason": "x"});
    let missing = format!("/v1/customers/{}/loyalty/adjust", uuid::Uuid::now_v7());
    assert_problem(app.post_keyed(&missing, &ok).await, 404, "not_found").await;
    assert_problem(app.post_keyed("/v1/customers/nope/loyalty/adjust", &ok).await, 400, "invalid_parameter").await;
    assert_problem(app.post_json(&path, &ok).await, 400, "idempotency_key_required").await;
    assert_problem(app.get("/v1/customers/nope/loyalty").await, 400, "invalid_parameter").await;
    assert_problem(app.get(&format!("/v1/customers/{}/loyalty", uuid::Uuid::now_v7())).await, 404, "not_found").await;
    let malformed = send(app.request(Method::POST, &path).header("content-type", "application/json").body("{")).await;
    assert_problem(malformed, 400, "malformed_json").await;
    let text = send(app.request(Method::POST, &path).body("points=5")).await;
    assert_problem(text, 415, "unsupported_media_type").await;

    let ledger = format!("/v1/customers/{id}/loyalty/ledger");
    for query in ["kind=bonus", "limit=0", "limit=201", "cursor=abc", "sort=seq"] {
        let problem = assert_any_problem(app.get(&format!("{ledger}?{query}")).await).await;
        assert_eq!(problem["status"], 400, "?{query}: {problem}");
    }
    let entry = format!("{ledger}/{}", uuid::Uuid::now_v7());
    assert_problem(app.get(&entry).await, 404, "not_found").await;

    let reader = app.create_api_key(&["loyalty:read"]).await;
    assert_problem(app.with_key(&reader).post_json(&path, &ok).await, 403, "forbidden").await;
    assert_json(app.with_key(&reader).get(&ledger).await, 200).await;
    let none = app.create_api_key(&["customers:read"]).await;
    assert_problem(app.with_key(&none).get(&ledger).await, 403, "forbidden").await;
    let other = app.second_workspace().await;
    assert_problem(app.with_key(&other).post_keyed(&path, &ok).await, 404, "not_found").await;
    assert_problem(app.with_key(&other).get(&format!("/v1/customers/{id}/loyalty")).await, 404, "not_found").await;

    let deleted = customer(&app).await;
    crate::helpers::assert_no_content(app.delete(&format!("/v1/customers/{deleted}")).await).await;
    let path = format!("/v1/customers/{deleted}/loyalty/adjust");
    assert_problem(app.post_keyed(&path, &ok).await, 404, "not_found").await;
    assert_eq!(assert_json(app.get(&ledger).await, 200).await["data"], json!([]), "nothing was written");
}
both_backends!(adjustments_reject_bad_input);

async fn tiers_change_exactly_at_their_threshold(app: TestApp) {
    put_program(&app, &program()).await;
    let id = customer(&app).await;
    let counted =
        |points: i64| json!({"points": points, "reason": "order recorded by hand", "counts_toward_tier": true});
    adjust(&app, &id, &counted(99)).await;
    let below = summary(&app, &id).await;
    assert_eq!(
        (&below["tier"]["name"], &below["next_tier"]["name"], &below["points_to_next_tier"]),
        (&json!("Member"), &json!("Silver"), &json!(1)),
        "{below}"
    );
    adjust(&app, &id, &counted(1)).await;
    let silver = summary(&app, &id).await;
    assert_eq!(
        (&silver["tier"]["name"], &silver["tier"]["multiplier_percent"], &silver["points_to_next_tier"]),
        (&json!("Silver"), &json!(120), &json!(200)),
        "{silver}"
    );
    adjust(&app, &id, &json!({"points": 500, "reason": "gift"})).await;
    assert_eq!(summary(&app, &id).await["tier"]["name"], "Silver", "a plain adjustment does not count");
    adjust(&app, &id, &counted(-1)).await;
    assert_eq!(summary(&app, &id).await["tier"]["name"], "Member", "one point below the threshold");
    adjust(&app, &id, &counted(201)).await;
    let gold = summary(&app, &id).await;
    assert_eq!(
        (&gold["tier"]["name"], &gold["next_tier"], &gold["points_to_next_tier"], &gold["earned_last_12_months"]),
        (&json!("Gold"), &json!(null), &json!(0), &json!(300)),
        "{gold}"
    );
}
both_backends!(tiers_change_exactly_at_their_threshold);

async fn redeeming_needs_a_key_and_replays(app: TestApp) {
    put_program(&app, &program()).await;
    let id = customer(&app).await;
    adjust(&app, &id, &json!({"points": 100, "reason": "start"})).await;
    let path = format!("/v1/customers/{id}/loyalty/redeem");
    assert_problem(app.post_json(&path, &json!({"points": 10})).await, 400, "idempotency_key_required").await;

    let first = redeem(&app, &id, "r-1", &json!({"points": 40, "reason": "Voucher"})).await;
    let location = header(first.headers(), "location");
    let first = assert_json(first, 201).await;
    assert_eq!(
        (&first["balance"], &first["entry"]["kind"], &first["entry"]["points"]),
        (&json!(60), &json!("redeem"), &json!(-40))
    );
    let again = redeem(&app, &id, "r-1", &json!({"points": 40, "reason": "Voucher"})).await;
    assert_eq!(header(again.headers(), "idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(header(again.headers(), "location"), location);
    assert_eq!(assert_json(again, 201).await, first, "replayed, not spent twice");
    assert_problem(redeem(&app, &id, "r-1", &json!({"points": 41})).await, 422, "idempotency_key_reused").await;
    assert_eq!(summary(&app, &id).await["balance"], 60);

    // A crash between the commit and the stored response: the retry rebuilds the answer.
    let rebuilt = crate::conventions::assert_retry_after_crash_rebuilds(&app, &path, &json!({"points": 10})).await;
    assert_eq!(rebuilt["balance"], 50, "{rebuilt}");
    assert_eq!(summary(&app, &id).await["balance"], 50, "spent once");

    let cases = [
        (json!({}), "points", "required"),
        (json!({"points": 0}), "points", "out_of_range"),
        (json!({"points": -5}), "points", "out_of_range"),
        (json!({"points": 1e30}), "points", "invalid_type"),
        (json!({"points": 5, "reason": "\u{0}"}), "reason", "invalid_characters"),
        (json!({"points": 5, "customer_id": id}), "customer_id", "unknown_field"),
        (json!({"reward_id": uuid::Uuid::now_v7()}), "reward_id", "not_found"),
        (json!({"reward_id": "nope"}), "reward_id", "invalid_value"),
    ];
    for (i, (body, field, code)) in cases.into_iter().enumerate() {
        assert_field_error(redeem(&app, &id, &format!("bad-{i}"), &body).await, field, code).await;
    }
    let problem =
        assert_problem(redeem(&app, &id, "too-much", &json!({"points": 51})).await, 422, "insufficient_points").await;
    assert!(problem["detail"].as_str().unwrap().contains("50"), "{problem}");
    let bad_key =
        send(app.request(Method::POST, &path).header("Idempotency-Key", "").json(&json!({"points": 1}))).await;
    assert_problem(bad_key, 400, "invalid_header").await;
    let missing = uuid::Uuid::now_v7().to_string();
    assert_problem(redeem(&app, &missing, "k", &json!({"points": 1})).await, 404, "not_found").await;
    assert_eq!(summary(&app, &id).await["balance"], 50, "no failed redemption spent anything");
    audit_ok(&app).await;
}
both_backends!(redeeming_needs_a_key_and_replays);

async fn concurrent_redemptions_never_overdraw(app: TestApp) {
    put_program(&app, &program()).await;
    let id = customer(&app).await;
    adjust(&app, &id, &json!({"points": 700, "reason": "batch one"})).await;
    adjust(&app, &id, &json!({"points": 300, "reason": "batch two"})).await;
    let path = format!("/v1/customers/{id}/loyalty/redeem");
    let requests = (0..100).map(|i| {
        send(app.request(Method::POST, &path).header("Idempotency-Key", format!("c-{i}")).json(&json!({"points": 30})))
    });
    let mut succeeded = 0;
    let mut refused = 0;
    for response in join_all(requests).await {
        match response.status().as_u16() {
            201 => {
                let body = assert_json(response, 201).await;
                assert!(body["balance"].as_i64().unwrap() >= 0, "{body}");
                succeeded += 1;
            }
            _ => {
                assert_problem(response, 422, "insufficient_points").await;
                refused += 1;
            }
        }
    }
    assert_eq!((succeeded, refused), (33, 67), "1000 points cover exactly 33 redemptions of 30");
    let after = summary(&app, &id).await;
    assert_eq!(after["balance"], 10, "{after}");
    let ledger = app.admin().list_all(&format!("/v1/customers/{id}/loyalty/ledger?kind=redeem")).await;
    assert_eq!(ledger.len(), 33);
    let mut seqs: Vec<i64> = ledger.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (3..=35).collect::<Vec<i64>>(), "one seq each, no gaps");
    let report = audit_ok(&app).await;
    assert_eq!(report["accounts_checked"], 1);
}
both_backends!(concurrent_redemptions_never_overdraw);

/// Runs `crm admin expire-points` against the app's database.
fn expire_points_cli(app: &TestApp) -> Value {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_crm"))
        .args(["admin", "expire-points"])
        .env("DATABASE_URL", &app.database_url)
        .env("RUST_LOG", "error")
        .output()
        .expect("the crm binary runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}

async fn expiry_by_the_cli_takes_due_lots_once(app: TestApp) {
    let mut body = program();
    body["expiry_months"] = json!(12);
    put_program(&app, &body).await;
    let id = customer(&app).await;
    adjust(&app, &id, &json!({"points": 100, "reason": "short-lived", "expires_at": in_seconds(2)})).await;
    adjust(&app, &id, &json!({"points": 70, "reason": "also short", "expires_at": in_seconds(2)})).await;
    let kept = adjust(&app, &id, &json!({"points": 50, "reason": "a year"})).await;
    assert!(kept["entry"]["expires_at"].is_string(), "the program's 12 months: {kept}");
    let redeemed = redeem(&app, &id, "spend", &json!({"points": 30})).await;
    assert_eq!(assert_json(redeemed, 201).await["balance"], 190, "taken from the soonest expiry");
    let before = summary(&app, &id).await;
    assert_eq!(before["expiring_next_30_days"], 140, "{before}");

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let report = expire_points_cli(&app);
    assert_eq!(report, json!({"customers": 1, "lots_expired": 2, "points_expired": 140}));
    assert_eq!(expire_points_cli(&app), json!({"customers": 0, "lots_expired": 0, "points_expired": 0}), "idempotent");

    let after = summary(&app, &id).await;
    assert_eq!((&after["balance"], &after["expiring_next_30_days"]), (&json!(50), &json!(0)), "{after}");
    let expired = app.admin().list_all(&format!("/v1/customers/{id}/loyalty/ledger?kind=expire")).await;
    assert_eq!(expired.len(), 1);
    assert_eq!(
        (&expired[0]["points"], &expired[0]["balance_after"], &expired[0]["actor"]["type"]),
        (&json!(-140), &json!(50), &json!("system"))
    );
    audit_ok(&app).await;
}
both_backends!(expiry_by_the_cli_takes_due_lots_once);

/// Expiry is not only the job's: points past their date are gone before anything is spent, even
/// when no expiry run has happened since (the job is off in tests).
async fn points_past_their_expiry_cannot_be_spent_before_the_job_runs(app: TestApp) {
    put_program(&app, &program()).await;
    let id = customer(&app).await;
    adjust(&app, &id, &json!({"points": 100, "reason": "short-lived", "expires_at": in_seconds(1)})).await;
    adjust(&app, &id, &json!({"points": 20, "reason": "kept"})).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let refused = redeem(&app, &id, "too-late", &json!({"points": 50})).await;
    assert_problem(refused, 422, "insufficient_points").await;
    let spent = redeem(&app, &id, "in-time", &json!({"points": 20})).await;
    assert_eq!(assert_json(spent, 201).await["balance"], 0);
    let expired = app.admin().list_all(&format!("/v1/customers/{id}/loyalty/ledger?kind=expire")).await;
    assert_eq!(expired.len(), 1, "written once: the refused redeem rolled its expiry back");
    assert_eq!((&expired[0]["points"], &expired[0]["actor"]["type"]), (&json!(-100), &json!("system")));
    assert_eq!(expire_points_cli(&app), json!({"customers": 0, "lots_expired": 0, "points_expired": 0}));
    audit_ok(&app).await;
}
both_backends!(points_past_their_expiry_cannot_be_spent_before_the_job_runs);

fn expiry_every_second(config: &mut crm_api::config::Config) {
    config.points_expiry_interval_secs = 1;
}

async fn the_server_expires_points_in_the_background(app: TestApp) {
    put_program(&app, &program()).await;
    let id = customer(&app).await;
    adjust(&app, &id, &json!({"points": 40, "reason": "soon gone", "expires_at": in_seconds(1)})).await;
    adjust(&app, &id, &json!({"points": 5, "reason": "forever"})).await;
    let mut balance = json!(null);
    for _ in 0..40 {
        balance = summary(&app, &id).await["balance"].clone();
        if balance == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(balance, 5, "the loop expired the due lot");
    audit_ok(&app).await;
}
both_backends!(the_server_expires_points_in_the_background, configure = expiry_every_second);

/// Records a purchase of `items` (`(category, unit price)`, one unit each) and returns it.
async fn purchase(app: &TestApp, customer: &str, currency: &str, items: &[(&str, i64)], discount: i64) -> Value {
    let lines: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, (category, price))| {
            json!({"sku": format!("SKU-{i}"), "name": "item", "category": category, "quantity": 1,
                   "unit_price_minor": price})
        })
        .collect();
    let total: i64 = items.iter().map(|(_, price)| price).sum::<i64>() - discount;
    let body = json!({"customer_id": customer, "channel": "web", "currency": currency, "items": lines,
                      "discount_minor": discount, "total_minor": total});
    assert_json(app.post_json("/v1/purchases", &body).await, 201).await
}

async fn refund(app: &TestApp, purchase: &Value, body: &Value) -> Value {
    let path = format!("/v1/purchases/{}/refund", purchase["id"].as_str().unwrap());
    assert_json(app.post_keyed(&path, body).await, 200).await
}

async fn purchases_earn_and_refunds_reverse_their_share(app: TestApp) {
    put_program(&app, &program()).await;
    let id = customer(&app).await;
    // (50.00 shoes × 2 + 10.00 tea) with a 12.00 order discount spread over both: 110 × 0.8 = 88.
    let shoes = purchase(&app, &id, "EUR", &[("shoes", 5000), ("tea", 1000)], 1200).await;
    assert_eq!(shoes["points_earned"], 88, "{shoes}");
    let member = summary(&app, &id).await;
    assert_eq!((&member["tier"]["name"], &member["points_to_next_tier"]), (&json!("Member"), &json!(12)), "{member}");
    // 12 more reach Silver exactly at its threshold of 100.
    assert_eq!(purchase(&app, &id, "EUR", &[("tea", 1200)], 0).await["points_earned"], 12);
    let silver = summary(&app, &id).await;
    assert_eq!((&silver["tier"]["name"], &silver["earned_last_12_months"]), (&json!("Silver"), &json!(100)));
    assert_eq!(purchase(&app, &id, "EUR", &[("tea", 1000)], 0).await["points_earned"], 12, "Silver earns × 1.2");
    assert_eq!(purchase(&app, &id, "USD", &[("shoes", 10000)], 0).await["points_earned"], 0, "another currency");
    assert_eq!(summary(&app, &id).await["balance"], 112);

    // Half the money back takes half the points; the rest takes the rest.
    let half = refund(&app, &shoes, &json!({"amount_minor": 2400})).await;
    assert_eq!((&half["points_reversed"], &half["refunds"][0]["points_reversed"]), (&json!(44), &json!(44)), "{half}");
    let rest = refund(&app, &shoes, &json!({})).await;
    assert_eq!((&rest["points_reversed"], &rest["refunds"][1]["points_reversed"]), (&json!(88), &json!(44)), "{rest}");
    let after = summary(&app, &id).await;
    assert_eq!(
        (&after["balance"], &after["earned_last_12_months"], &after["tier"]["name"]),
        (&json!(24), &json!(24), &json!("Member")),
        "the refunded purchase no longer counts: {after}"
    );

    // Points already spent are not clawed back: the balance stops at zero.
    let big = purchase(&app, &id, "EUR", &[("tea", 10000)], 0).await;
    assert_eq!(big["points_earned"], 100);
    assert_eq!(assert_json(redeem(&app, &id, "spend", &json!({"points": 120})).await, 201).await["balance"], 4);
    let refunded = refund(&app, &big, &json!({})).await;
    assert_eq!(refunded["points_reversed"], 4, "{refunded}");
    let reversals = app.admin().list_all(&format!("/v1/customers/{id}/loyalty/ledger?kind=reverse")).await;
    assert_eq!((&reversals[0]["points"], &reversals[0]["balance_after"]), (&json!(-4), &json!(0)));
    assert!(reversals[0]["reason"].as_str().unwrap().starts_with("96 of 100 points could not be reversed"));
    let last = summary(&app, &id).await;
    assert_eq!((&last["balance"], &last["earned_last_12_months"]), (&json!(0), &json!(24)), "{last}");
    let timeline = app.admin().list_all(&format!("/v1/customers/{id}/timeline?kinds=purchase,points&limit=3")).await;
    assert_eq!(timeline.iter().filter(|e| e["kind"] == "points").count(), 8, "4 earns, 1 redemption, 3 reversals");
    assert_eq!(timeline.iter().filter(|e| e["kind"] == "purchase").count(), 5);
    let ledger = app.admin().list_all(&format!("/v1/customers/{id}/loyalty/ledger")).await;
    for entry in timeline.iter().filter(|e| e["kind"] == "points") {
        assert!(ledger.contains(&entry["data"]), "the entry as the ledger lists it: {entry}");
    }
    audit_ok(&app).await;
}
both_backends!(purchases_earn_and_refunds_reverse_their_share);
