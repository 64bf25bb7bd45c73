//! Bulk owner handover: open records move with a reason in each history; the rest stay.

use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_field_error, assert_json, assert_no_content, assert_problem, both_backends, id_of,
};

async fn open_records_move_with_their_history(app: TestApp) {
    let leaving = app.create_user("sales").await;
    let taking = app.create_user("sales").await;
    let owned = |name: &str| json!({"kind": "person", "first_name": name, "owner_id": leaving.id});
    let mut moved = Vec::new();
    for i in 0..3 {
        moved.push(app.post_customer(&owned(&format!("Moved {i}"))).await);
    }
    let deleted = app.post_customer(&owned("Deleted")).await;
    assert_no_content(app.delete(&format!("/v1/customers/{}", id_of(&deleted))).await).await;
    let someone_else =
        app.post_customer(&json!({"kind": "person", "first_name": "Other", "owner_id": app.user_id})).await;
    let lead = |name: &str, extra: Value| {
        let mut body = json!({"source": "other", "first_name": name, "owner_id": leaving.id});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        body
    };
    let open_lead = assert_json(app.post_json("/v1/leads", &lead("Open", json!({}))).await, 201).await;
    let lost_lead = lead("Lost", json!({"status": "disqualified", "lost_reason": "no budget"}));
    let lost_lead = assert_json(app.post_json("/v1/leads", &lost_lead).await, 201).await;
    let sales = crate::pipelines::default_pipeline(&app).await;
    let deal = |title: &str, stage: &str| {
        json!({"title": title, "customer_id": moved[0]["id"], "owner_id": leaving.id,
               "stage_id": crate::pipelines::stage_id(&sales, stage)})
    };
    let open_deal = assert_json(app.post_json("/v1/deals", &deal("Open", "Proposal")).await, 201).await;
    let won_deal = assert_json(app.post_json("/v1/deals", &deal("Won", "Won")).await, 201).await;

    let body = json!({"from_owner_id": leaving.id, "to_owner_id": taking.id, "reason": "Left in November"});
    let counts = assert_json(app.post_json("/v1/reassignments", &body).await, 200).await;
    assert_eq!(counts, json!({"customers": 3, "leads": 1, "deals": 1}));
    for (path, owner) in [
        (format!("/v1/leads/{}", id_of(&open_lead)), &taking.id),
        (format!("/v1/leads/{}", id_of(&lost_lead)), &leaving.id),
        (format!("/v1/deals/{}", id_of(&open_deal)), &taking.id),
        (format!("/v1/deals/{}", id_of(&won_deal)), &leaving.id),
    ] {
        let record = assert_json(app.get(&path).await, 200).await;
        assert_eq!(record["owner_id"], json!(owner), "{path}: {record}");
    }
    let history = assert_json(app.get(&format!("/v1/deals/{}/history", id_of(&open_deal))).await, 200).await;
    assert_eq!(history["data"][0]["reason"], "Left in November", "{history}");
    for customer in &moved {
        let path = format!("/v1/customers/{}", id_of(customer));
        let now = assert_json(app.get(&path).await, 200).await;
        assert_eq!(now["owner_id"], json!(taking.id), "{now}");
        assert_eq!(now["version"], 2, "{now}");
        let history = assert_json(app.get(&format!("{path}/history")).await, 200).await;
        assert_eq!(history["data"][0]["action"], "reassign", "{history}");
        assert_eq!(history["data"][0]["reason"], "Left in November", "{history}");
    }
    let path = format!("/v1/customers/{}?include_deleted=true", id_of(&deleted));
    assert_eq!(assert_json(app.get(&path).await, 200).await["owner_id"], json!(leaving.id), "deleted stays");
    let path = format!("/v1/customers/{}", id_of(&someone_else));
    assert_eq!(assert_json(app.get(&path).await, 200).await["version"], 1, "other owners untouched");

    let again = assert_json(app.post_json("/v1/reassignments", &body).await, 200).await;
    assert_eq!(again, json!({"customers": 0, "leads": 0, "deals": 0}), "nothing left to move");
}
both_backends!(open_records_move_with_their_history);

async fn bad_requests_and_permissions(app: TestApp) {
    let user = app.create_user("sales").await;
    let same = json!({"from_owner_id": user.id, "to_owner_id": user.id, "reason": "x"});
    assert_field_error(app.post_json("/v1/reassignments", &same).await, "to_owner_id", "same_owner").await;
    let nobody = json!({"from_owner_id": user.id, "to_owner_id": uuid::Uuid::now_v7(), "reason": "x"});
    assert_field_error(app.post_json("/v1/reassignments", &nobody).await, "to_owner_id", "not_found").await;
    let blank = json!({"from_owner_id": user.id, "to_owner_id": app.user_id, "reason": ""});
    assert_field_error(app.post_json("/v1/reassignments", &blank).await, "reason", "required").await;
    let unknown = json!({"from_owner_id": user.id, "to_owner_id": app.user_id, "reason": "x", "only": "deals"});
    assert_problem(app.post_json("/v1/reassignments", &unknown).await, 422, "validation_failed").await;
    assert_problem(app.post_json("/v1/reassignments", &json!({"from_owner_id": "x"})).await, 422, "validation_failed")
        .await;

    let body = json!({"from_owner_id": user.id, "to_owner_id": app.user_id, "reason": "x"});
    let customers_only = app.create_api_key(&["customers:write"]).await;
    assert_problem(app.with_key(&customers_only).post_json("/v1/reassignments", &body).await, 403, "forbidden").await;
    let support = app.create_user("support").await;
    let token = app.login(&support.email, &support.password).await;
    assert_problem(app.with_token(&token).post_json("/v1/reassignments", &body).await, 403, "forbidden").await;
    let other = app.second_workspace().await;
    let response = app.with_key(&other).post_json("/v1/reassignments", &body).await;
    assert_field_error(response, "to_owner_id", "not_found").await;
}
both_backends!(bad_requests_and_permissions);
