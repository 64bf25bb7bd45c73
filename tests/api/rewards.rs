//! The rewards catalogue: CRUD with versions and soft delete, redemption of rewards (cost,
//! stock taken in the same transaction, inactive and deleted ones refused), stock under
//! concurrent redemptions, every 4xx path.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_any_problem, assert_field_error, assert_json, assert_no_content, assert_problem, both_backends,
    header, id_of, send,
};
use crate::loyalty::{adjust, audit_ok, customer, program, put_program, redeem, summary};

async fn post(app: &TestApp, body: &Value) -> Value {
    assert_json(app.post_json("/v1/rewards", body).await, 201).await
}

async fn catalogue_crud(app: TestApp) {
    let response = app.post_json("/v1/rewards", &json!({"name": " Coffee ", "cost_points": 500, "stock": 3})).await;
    let (location, etag) = (header(response.headers(), "location"), header(response.headers(), "etag"));
    let coffee = assert_json(response, 201).await;
    let id = id_of(&coffee);
    assert_eq!(location, Some(format!("/v1/rewards/{id}")));
    assert_eq!(etag.as_deref(), Some("\"1\""));
    let expected = json!({"id": id, "name": "Coffee", "description": null, "cost_points": 500, "stock": 3,
                          "active": true, "version": 1, "created_at": coffee["created_at"],
                          "updated_at": coffee["created_at"], "deleted_at": null});
    assert_eq!(coffee, expected);
    let path = format!("/v1/rewards/{id}");
    assert_eq!(assert_json(app.get(&path).await, 200).await, coffee);
    let mug = post(&app, &json!({"name": "Mug", "cost_points": 900, "active": false})).await;
    let tote = post(&app, &json!({"name": "Tote", "cost_points": 300, "stock": 0})).await;

    let all = app.admin().list_all("/v1/rewards?limit=1").await;
    assert_eq!(all.iter().map(id_of).collect::<Vec<_>>(), [id.clone(), id_of(&mug), id_of(&tote)], "oldest first");
    let newest = app.admin().list_all("/v1/rewards?sort=-created_at").await;
    assert_eq!(newest.first().map(id_of), Some(id_of(&tote)));
    let available = app.admin().list_all("/v1/rewards?available=true").await;
    assert_eq!(available.iter().map(id_of).collect::<Vec<_>>(), [id.as_str()]);
    assert_eq!(app.admin().list_all("/v1/rewards?available=false").await.len(), 2);
    assert_eq!(app.admin().list_all("/v1/rewards?active=false").await.len(), 1);

    let stale = send(app.request(Method::PATCH, &path).header("If-Match", "\"7\"").json(&json!({"stock": 10}))).await;
    assert_problem(stale, 412, "version_mismatch").await;
    let patched = send(
        app.request(Method::PATCH, &path)
            .header("If-Match", "\"1\"")
            .json(&json!({"stock": null, "description": "Any size"})),
    )
    .await;
    let patched = assert_json(patched, 200).await;
    assert_eq!(
        (&patched["stock"], &patched["description"], &patched["version"]),
        (&json!(null), &json!("Any size"), &json!(2))
    );
    assert_field_error(app.patch_json(&path, &json!({"cost_points": 0})).await, "cost_points", "out_of_range").await;
    assert_field_error(app.patch_json(&path, &json!({"version": 5})).await, "version", "unknown_field").await;

    assert_problem(send(app.request(Method::DELETE, &path).header("If-Match", "\"1\"")).await, 412, "version_mismatch")
        .await;
    assert_no_content(app.delete(&path).await).await;
    assert_problem(app.get(&path).await, 404, "not_found").await;
    assert_problem(app.delete(&path).await, 404, "not_found").await;
    assert!(assert_json(app.get(&format!("{path}?include_deleted=true")).await, 200).await["deleted_at"].is_string());
    assert_eq!(app.admin().list_all("/v1/rewards?deleted=true").await.len(), 1);
    let restored = assert_json(app.post_json(&format!("{path}/restore"), &json!({})).await, 200).await;
    assert_eq!((&restored["deleted_at"], &restored["version"]), (&json!(null), &json!(4)));

    let rebuilt = crate::conventions::assert_retry_after_crash_rebuilds(
        &app,
        "/v1/rewards",
        &json!({"name": "Pen", "cost_points": 5}),
    )
    .await;
    assert_eq!(rebuilt["name"], "Pen");
}
both_backends!(catalogue_crud);

async fn catalogue_rejects_bad_input(app: TestApp) {
    let cases = [
        (json!({"cost_points": 5}), "name", "required"),
        (json!({"name": " ", "cost_points": 5}), "name", "required"),
        (json!({"name": "x".repeat(201), "cost_points": 5}), "name", "too_long"),
        (json!({"name": "a\u{0}", "cost_points": 5}), "name", "invalid_characters"),
        (json!({"name": "x"}), "cost_points", "required"),
        (json!({"name": "x", "cost_points": 0}), "cost_points", "out_of_range"),
        (json!({"name": "x", "cost_points": 1e30}), "cost_points", "invalid_type"),
        (json!({"name": "x", "cost_points": 5, "stock": -1}), "stock", "out_of_range"),
        (json!({"name": "x", "cost_points": 5, "stock": 1_000_000_001}), "stock", "out_of_range"),
        (json!({"name": "x", "cost_points": 5, "active": "yes"}), "active", "invalid_type"),
        (json!({"name": "x", "cost_points": 5, "id": uuid::Uuid::now_v7()}), "id", "unknown_field"),
    ];
    for (body, field, code) in cases {
        assert_field_error(app.post_json("/v1/rewards", &body).await, field, code).await;
    }
    for query in ["limit=0", "sort=name", "cursor=abc", "available=maybe", "color=red"] {
        let problem = assert_any_problem(app.get(&format!("/v1/rewards?{query}")).await).await;
        assert_eq!(problem["status"], 400, "?{query}: {problem}");
    }
    assert_problem(app.get("/v1/rewards/nope").await, 400, "invalid_parameter").await;
    assert_problem(app.get(&format!("/v1/rewards/{}", uuid::Uuid::now_v7())).await, 404, "not_found").await;
    let reward = post(&app, &json!({"name": "x", "cost_points": 5})).await;
    let path = format!("/v1/rewards/{}", id_of(&reward));
    let reader = app.create_api_key(&["loyalty:read"]).await;
    assert_json(app.with_key(&reader).get(&path).await, 200).await;
    assert_problem(app.with_key(&reader).patch_json(&path, &json!({"name": "y"})).await, 403, "forbidden").await;
    assert_problem(
        app.with_key(&reader).post_json("/v1/rewards", &json!({"name": "y", "cost_points": 1})).await,
        403,
        "forbidden",
    )
    .await;
    let other = app.second_workspace().await;
    assert_problem(app.with_key(&other).get(&path).await, 404, "not_found").await;
    assert_eq!(app.admin().list_all("/v1/rewards").await.len(), 1, "nothing else was created");
}
both_backends!(catalogue_rejects_bad_input);

async fn redeeming_rewards_takes_cost_and_stock(app: TestApp) {
    put_program(&app, &program()).await;
    let id = customer(&app).await;
    adjust(&app, &id, &json!({"points": 1000, "reason": "start"})).await;
    let coffee = post(&app, &json!({"name": "Coffee", "cost_points": 300, "stock": 1})).await;
    let unlimited = post(&app, &json!({"name": "Sticker", "cost_points": 10})).await;

    let spent = assert_json(redeem(&app, &id, "k1", &json!({"reward_id": coffee["id"]})).await, 201).await;
    let entry = &spent["entry"];
    assert_eq!(
        (&spent["balance"], &entry["points"], &entry["reference_type"], &entry["reference_id"], &entry["reason"]),
        (&json!(700), &json!(-300), &json!("reward"), &coffee["id"], &json!("Coffee")),
        "{spent}"
    );
    let after = assert_json(app.get(&format!("/v1/rewards/{}", id_of(&coffee))).await, 200).await;
    assert_eq!((&after["stock"], &after["version"]), (&json!(0), &json!(2)));
    assert_problem(redeem(&app, &id, "k2", &json!({"reward_id": coffee["id"]})).await, 409, "reward_out_of_stock")
        .await;

    let both = json!({"reward_id": unlimited["id"], "points": 10, "reason": "for the laptop"});
    let sticker = assert_json(redeem(&app, &id, "k3", &both).await, 201).await;
    assert_eq!((&sticker["balance"], &sticker["entry"]["reason"]), (&json!(690), &json!("for the laptop")));
    let unchanged = assert_json(app.get(&format!("/v1/rewards/{}", id_of(&unlimited))).await, 200).await;
    assert_eq!((&unchanged["stock"], &unchanged["version"]), (&json!(null), &json!(1)), "unlimited stays untouched");
    let mismatch = json!({"reward_id": unlimited["id"], "points": 11});
    assert_field_error(redeem(&app, &id, "k4", &mismatch).await, "points", "mismatch").await;

    let pricey = post(&app, &json!({"name": "Bike", "cost_points": 5000})).await;
    assert_problem(redeem(&app, &id, "k5", &json!({"reward_id": pricey["id"]})).await, 422, "insufficient_points")
        .await;
    let bike = format!("/v1/rewards/{}", id_of(&pricey));
    assert_json(app.patch_json(&bike, &json!({"active": false, "cost_points": 5})).await, 200).await;
    assert_field_error(redeem(&app, &id, "k6", &json!({"reward_id": pricey["id"]})).await, "reward_id", "inactive")
        .await;
    assert_no_content(app.delete(&format!("/v1/rewards/{}", id_of(&unlimited))).await).await;
    assert_field_error(redeem(&app, &id, "k7", &json!({"reward_id": unlimited["id"]})).await, "reward_id", "not_found")
        .await;
    let other = app.second_workspace().await;
    let foreign =
        assert_json(app.with_key(&other).post_json("/v1/rewards", &json!({"name": "F", "cost_points": 1})).await, 201)
            .await;
    assert_field_error(redeem(&app, &id, "k8", &json!({"reward_id": foreign["id"]})).await, "reward_id", "not_found")
        .await;
    assert_eq!(summary(&app, &id).await["balance"], 690);
    audit_ok(&app).await;
}
both_backends!(redeeming_rewards_takes_cost_and_stock);

async fn stock_holds_under_concurrent_redemptions(app: TestApp) {
    put_program(&app, &program()).await;
    let reward = post(&app, &json!({"name": "Limited print", "cost_points": 10, "stock": 5})).await;
    let mut customers = Vec::new();
    for _ in 0..4 {
        let id = customer(&app).await;
        adjust(&app, &id, &json!({"points": 100, "reason": "start"})).await;
        customers.push(id);
    }
    let requests = (0..20).map(|i| {
        let path = format!("/v1/customers/{}/loyalty/redeem", customers[i % customers.len()]);
        send(
            app.request(Method::POST, &path)
                .header("Idempotency-Key", format!("p-{i}"))
                .json(&json!({"reward_id": reward["id"]})),
        )
    });
    let mut succeeded = 0;
    for response in join_all(requests).await {
        if response.status().as_u16() == 201 {
            assert_json(response, 201).await;
            succeeded += 1;
        } else {
            assert_problem(response, 409, "reward_out_of_stock").await;
        }
    }
    assert_eq!(succeeded, 5, "exactly the stock");
    let after = assert_json(app.get(&format!("/v1/rewards/{}", id_of(&reward))).await, 200).await;
    assert_eq!((&after["stock"], &after["version"]), (&json!(0), &json!(6)));
    let mut spent = 0;
    for id in &customers {
        spent += 100 - summary(&app, id).await["balance"].as_i64().unwrap();
    }
    assert_eq!(spent, 50, "only the redemptions that got stock spent points");
    audit_ok(&app).await;
}
both_backends!(stock_holds_under_concurrent_redemptions);
