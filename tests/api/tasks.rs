//! Tasks: defaults, validation, completion rules, delegation in the history, the overdue and
//! `assignee_id=me` filters, keyset lists with undated tasks last, soft delete, scopes and
//! isolation between workspaces.

use std::collections::BTreeSet;

use chrono::{Duration, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_field_error, assert_json, assert_no_content, assert_problem, both_backends, header, id_of, ids,
    send,
};

async fn post(app: &TestApp, body: &Value) -> Value {
    assert_json(app.post_json("/v1/tasks", body).await, 201).await
}

fn path_of(item: &Value) -> String {
    format!("/v1/tasks/{}", id_of(item))
}

fn set(items: &[&String]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// An RFC 3339 instant `hours` from now (negative: in the past).
fn in_hours(hours: i64) -> String {
    (Utc::now() + Duration::hours(hours)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn create_defaults_and_locates(app: TestApp) {
    let response = app.post_json("/v1/tasks", &json!({"title": "  Send the offer "})).await;
    let location = header(response.headers(), "location");
    let etag = header(response.headers(), "etag");
    let task = assert_json(response, 201).await;
    let id = id_of(&task);
    assert_eq!(location, Some(format!("/v1/tasks/{id}")));
    assert_eq!(etag.as_deref(), Some("\"1\""));
    let expected = json!({
        "id": id, "title": "Send the offer", "description": null, "due_at": null, "assignee_id": null,
        "status": "open", "priority": "normal", "progress": 0, "customer_id": null, "deal_id": null,
        "lead_id": null, "completed_at": null, "overdue": false, "version": 1,
        "created_at": task["created_at"], "updated_at": task["created_at"], "deleted_at": null
    });
    assert_eq!(task, expected, "an API key leaves the task unassigned");
    let fetched = send(app.request(Method::GET, &path_of(&task))).await;
    assert_eq!(header(fetched.headers(), "etag").as_deref(), Some("\"1\""));
    assert_eq!(assert_json(fetched, 200).await, task);

    let customer = app.post_customer(&json!({"kind": "person", "first_name": "Olena"})).await;
    let token = app.login(&app.admin_email, &app.admin_password).await;
    let body = json!({"title": "Call back", "description": "About the invoice", "due_at": "2026-12-01T09:00:00Z",
                      "priority": "urgent", "progress": 30, "status": "in_progress", "customer_id": customer["id"]});
    let mine = assert_json(app.with_token(&token).post_json("/v1/tasks", &body).await, 201).await;
    assert_eq!(mine["assignee_id"], json!(app.user_id), "the signed-in user by default: {mine}");
    assert_eq!(
        (&mine["priority"], &mine["progress"], &mine["status"]),
        (&json!("urgent"), &json!(30), &json!("in_progress"))
    );
    assert_eq!(mine["due_at"], "2026-12-01T09:00:00Z", "{mine}");
    assert_eq!(mine["customer_id"], customer["id"], "{mine}");

    let done = post(&app, &json!({"title": "Already done", "status": "done", "progress": 10})).await;
    assert_eq!(done["progress"], 100, "{done}");
    assert!(done["completed_at"].is_string(), "{done}");
}
both_backends!(create_defaults_and_locates);

async fn invalid_input_is_422(app: TestApp) {
    let cases = [
        (json!({}), "title", "required"),
        (json!({"title": "   "}), "title", "required"),
        (json!({"title": "x".repeat(301)}), "title", "too_long"),
        (json!({"title": "a\u{0}b"}), "title", "invalid_characters"),
        (json!({"title": "x", "description": "d\u{0}"}), "description", "invalid_characters"),
        (json!({"title": "x", "description": "d".repeat(20_001)}), "description", "too_long"),
        (json!({"title": "x", "progress": 101}), "progress", "out_of_range"),
        (json!({"title": "x", "progress": -1}), "progress", "invalid_value"),
        (json!({"title": "x", "progress": 1e30}), "progress", "invalid_type"),
        (json!({"title": "x", "status": "paused"}), "status", "invalid_value"),
        (json!({"title": "x", "priority": "critical"}), "priority", "invalid_value"),
        (json!({"title": "x", "due_at": "3000-01-01T00:00:00Z"}), "due_at", "out_of_range"),
        (json!({"title": "x", "due_at": "tomorrow"}), "due_at", "invalid_value"),
        (json!({"title": "x", "assignee_id": uuid::Uuid::now_v7()}), "assignee_id", "not_found"),
        (json!({"title": "x", "customer_id": uuid::Uuid::now_v7()}), "customer_id", "not_found"),
        (json!({"title": "x", "id": uuid::Uuid::now_v7()}), "id", "unknown_field"),
        (json!({"title": "x", "completed_at": "2026-01-01T00:00:00Z"}), "completed_at", "unknown_field"),
        (json!({"title": "x", "overdue": true}), "overdue", "unknown_field"),
        (json!({"title": "x", "version": 2}), "version", "unknown_field"),
    ];
    for (body, field, code) in cases {
        let problem = assert_field_error(app.post_json("/v1/tasks", &body).await, field, code).await;
        assert_eq!(problem["errors"].as_array().map(Vec::len), Some(1), "{body}: {problem}");
    }
    let task = post(&app, &json!({"title": "x"})).await;
    let path = path_of(&task);
    assert_field_error(app.patch_json(&path, &json!({"progress": 101})).await, "progress", "out_of_range").await;
    assert_field_error(app.patch_json(&path, &json!({"title": null})).await, "title", "required").await;
    assert_field_error(app.patch_json(&path, &json!({"overdue": false})).await, "overdue", "unknown_field").await;
    assert_field_error(app.patch_json(&path, &json!({"status": "paused"})).await, "status", "invalid_value").await;
    assert!(app.admin().list_all("/v1/tasks").await.len() == 1, "nothing else was created");
    assert_eq!(assert_json(app.get(&path).await, 200).await, task, "rejected patches change nothing");
}
both_backends!(invalid_input_is_422);

async fn completion_rules_and_versions(app: TestApp) {
    let task = post(&app, &json!({"title": "Prepare demo", "progress": 40})).await;
    let path = path_of(&task);
    let done = assert_json(app.patch_json(&path, &json!({"status": "done"})).await, 200).await;
    assert_eq!((&done["progress"], &done["version"]), (&json!(100), &json!(2)), "{done}");
    let completed_at = done["completed_at"].as_str().expect("completed_at is stamped").to_owned();

    // Progress cannot leave 100 while done: the patch is a no-op.
    let same = assert_json(app.patch_json(&path, &json!({"progress": 50})).await, 200).await;
    assert_eq!((&same["progress"], &same["version"]), (&json!(100), &json!(2)), "{same}");
    let renamed = assert_json(app.patch_json(&path, &json!({"title": "Prepare the demo"})).await, 200).await;
    assert_eq!(renamed["completed_at"], json!(completed_at), "the stamp is kept: {renamed}");

    let stale = app.request(Method::PATCH, &path).header("If-Match", "\"2\"").json(&json!({"status": "open"}));
    assert_problem(send(stale).await, 412, "version_mismatch").await;
    let reopen = app
        .request(Method::PATCH, &path)
        .header("If-Match", "\"3\"")
        .json(&json!({"status": "in_progress", "progress": 90}));
    let reopened = assert_json(send(reopen).await, 200).await;
    assert!(reopened["completed_at"].is_null(), "{reopened}");
    assert_eq!((&reopened["progress"], &reopened["status"]), (&json!(90), &json!("in_progress")), "{reopened}");
    let cancelled = assert_json(app.patch_json(&path, &json!({"status": "cancelled"})).await, 200).await;
    assert!(cancelled["completed_at"].is_null(), "{cancelled}");
    assert_eq!(cancelled["version"], 5, "{cancelled}");
    let cleared = assert_json(app.patch_json(&path, &json!({"due_at": null, "description": "notes"})).await, 200).await;
    assert_eq!(cleared["description"], "notes", "{cleared}");

    let history = app.admin().list_all(&format!("{path}/history")).await;
    let status_change = history
        .iter()
        .find(|e| {
            e["changes"].as_array().is_some_and(|c| c.iter().any(|c| c["field"] == "status" && c["to"] == "done"))
        })
        .unwrap_or_else(|| panic!("no change to done: {history:?}"));
    assert_eq!(status_change["action"], "update", "{status_change}");
}
both_backends!(completion_rules_and_versions);

async fn delegation_is_kept_in_history(app: TestApp) {
    let token = app.login(&app.admin_email, &app.admin_password).await;
    let task = assert_json(app.with_token(&token).post_json("/v1/tasks", &json!({"title": "Visit"})).await, 201).await;
    let path = path_of(&task);
    let delegate = format!("{path}/delegate");
    let taras = app.create_user("sales").await;

    let body = json!({"assignee_id": taras.id, "note": "  You know this customer  "});
    let stale = app.request(Method::POST, &delegate).header("If-Match", "\"5\"").json(&body);
    assert_problem(send(stale).await, 412, "version_mismatch").await;
    let fresh = app.request(Method::POST, &delegate).header("If-Match", "\"1\"").json(&body);
    let moved = assert_json(send(fresh).await, 200).await;
    assert_eq!((&moved["assignee_id"], &moved["version"]), (&json!(taras.id), &json!(2)), "{moved}");

    let events = assert_json(app.get(&format!("{path}/history")).await, 200).await;
    let event = &events["data"][0];
    assert_eq!(event["action"], "reassign", "{events}");
    assert_eq!(event["reason"], "You know this customer", "{events}");
    assert_eq!(event["changes"], json!([{"field": "assignee_id", "from": app.user_id, "to": taras.id}]), "{events}");
    assert_eq!(event["actor"]["type"], "api_key", "{events}");

    let same = app.post_json(&delegate, &json!({"assignee_id": taras.id})).await;
    assert_field_error(same, "assignee_id", "unchanged").await;
    let nobody = app.post_json(&delegate, &json!({"assignee_id": uuid::Uuid::now_v7()})).await;
    assert_field_error(nobody, "assignee_id", "not_found").await;
    let other = app.second_workspace().await;
    let outsiders = app.with_key(&other).list_all("/v1/users").await;
    let outsider = app.post_json(&delegate, &json!({"assignee_id": outsiders[0]["id"]})).await;
    assert_field_error(outsider, "assignee_id", "not_found").await;
    for (body, field, code) in [
        (json!({"assignee_id": app.user_id, "note": "a\u{0}"}), "note", "invalid_characters"),
        (json!({"assignee_id": app.user_id, "note": "x".repeat(501)}), "note", "too_long"),
        (json!({"assignee_id": app.user_id, "reason": "x"}), "reason", "unknown_field"),
        (json!({"note": "x"}), "assignee_id", "required"),
    ] {
        assert_field_error(app.post_json(&delegate, &body).await, field, code).await;
    }

    // Back without a note; then closed tasks cannot be delegated.
    let back = assert_json(app.post_json(&delegate, &json!({"assignee_id": app.user_id})).await, 200).await;
    assert_eq!(back["assignee_id"], json!(app.user_id), "{back}");
    let events = assert_json(app.get(&format!("{path}/history")).await, 200).await;
    assert!(events["data"][0]["reason"].is_null(), "{events}");
    let actions: Vec<&str> = events["data"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["reassign", "reassign", "create"]);
    for status in ["done", "cancelled"] {
        assert_json(app.patch_json(&path, &json!({"status": status})).await, 200).await;
        let closed = app.post_json(&delegate, &json!({"assignee_id": taras.id})).await;
        assert_problem(closed, 409, "task_closed").await;
    }
    let missing = format!("/v1/tasks/{}/delegate", uuid::Uuid::now_v7());
    assert_problem(app.post_json(&missing, &json!({"assignee_id": taras.id})).await, 404, "not_found").await;
    assert_problem(
        app.with_key(&other).post_json(&delegate, &json!({"assignee_id": taras.id})).await,
        404,
        "not_found",
    )
    .await;
    let reader = app.create_api_key(&["tasks:read"]).await;
    let denied = app.with_key(&reader).post_json(&delegate, &json!({"assignee_id": taras.id})).await;
    assert_problem(denied, 403, "forbidden").await;
}
both_backends!(delegation_is_kept_in_history);

async fn overdue_filter_is_exact(app: TestApp) {
    let mut made = Vec::new();
    for (title, due, status) in [
        ("late open", Some(-48), "open"),
        ("late in progress", Some(-1), "in_progress"),
        ("late done", Some(-5), "done"),
        ("late cancelled", Some(-5), "cancelled"),
        ("future", Some(24), "open"),
        ("undated", None, "open"),
    ] {
        let mut body = json!({"title": title, "status": status});
        if let Some(hours) = due {
            body["due_at"] = json!(in_hours(hours));
        }
        let task = post(&app, &body).await;
        let expected_overdue = matches!(title, "late open" | "late in progress");
        assert_eq!(task["overdue"], expected_overdue, "{task}");
        made.push(id_of(&task));
    }
    let [late, late_progress, late_done, late_cancelled, future, undated] = &made[..] else { unreachable!() };
    for (query, expected) in [
        ("overdue=true", set(&[late, late_progress])),
        ("overdue=false", set(&[late_done, late_cancelled, future, undated])),
        ("overdue=true&status=in_progress", set(&[late_progress])),
        ("overdue=false&status=open", set(&[future, undated])),
    ] {
        assert_eq!(ids(&app.admin().list_all(&format!("/v1/tasks?{query}")).await), expected, "?{query}");
    }
    let listed = app.admin().list_all("/v1/tasks?overdue=true&sort=due_at").await;
    assert_eq!(listed.iter().map(id_of).collect::<Vec<_>>(), [late.clone(), late_progress.clone()], "oldest due first");
    assert_problem(app.get("/v1/tasks?overdue=yes").await, 400, "invalid_parameter").await;
}
both_backends!(overdue_filter_is_exact);

async fn assignee_me_needs_a_user(app: TestApp) {
    let token = app.login(&app.admin_email, &app.admin_password).await;
    let me = app.with_token(&token);
    let sales = app.create_user("sales").await;
    let mine_late =
        assert_json(me.post_json("/v1/tasks", &json!({"title": "mine, late", "due_at": in_hours(-3)})).await, 201)
            .await;
    let mine_later =
        assert_json(me.post_json("/v1/tasks", &json!({"title": "mine", "due_at": in_hours(3)})).await, 201).await;
    let theirs = post(&app, &json!({"title": "theirs", "assignee_id": sales.id, "due_at": in_hours(-3)})).await;
    let nobody = post(&app, &json!({"title": "nobody's"})).await;
    let (mine_late, mine_later, theirs, nobody) =
        (id_of(&mine_late), id_of(&mine_later), id_of(&theirs), id_of(&nobody));

    assert_eq!(ids(&me.list_all("/v1/tasks?assignee_id=me").await), set(&[&mine_late, &mine_later]));
    assert_eq!(ids(&me.list_all("/v1/tasks?assignee_id=me&overdue=true").await), set(&[&mine_late]));
    assert_eq!(ids(&me.list_all(&format!("/v1/tasks?assignee_id={}", sales.id)).await), set(&[&theirs]));
    assert_eq!(
        ids(&app.admin().list_all(&format!("/v1/tasks?assignee_id={}", app.user_id)).await),
        set(&[&mine_late, &mine_later])
    );
    assert_eq!(ids(&app.admin().list_all("/v1/tasks").await), set(&[&mine_late, &mine_later, &theirs, &nobody]));
    let sales_token = app.login(&sales.email, &sales.password).await;
    let as_sales = app.with_token(&sales_token).list_all("/v1/tasks?assignee_id=me&overdue=true").await;
    assert_eq!(ids(&as_sales), set(&[&theirs]));

    let problem = assert_problem(app.get("/v1/tasks?assignee_id=me").await, 400, "invalid_parameter").await;
    assert_eq!(problem["errors"][0]["field"], "assignee_id", "{problem}");
    for junk in ["you", "42", ""] {
        let response = me.get(&format!("/v1/tasks?assignee_id={junk}")).await;
        assert_problem(response, 400, "invalid_parameter").await;
    }
}
both_backends!(assignee_me_needs_a_user);

async fn filters_match_exactly(app: TestApp) {
    let olena = app.post_customer(&json!({"kind": "person", "first_name": "Olena"})).await;
    let a = id_of(
        &post(
            &app,
            &json!({"title": "Call Olena", "priority": "high", "due_at": "2026-03-01T00:00:00Z",
                                      "customer_id": olena["id"]}),
        )
        .await,
    );
    let b = id_of(
        &post(
            &app,
            &json!({"title": "Send 50% offer", "priority": "urgent", "status": "in_progress",
                                      "due_at": "2026-03-05T12:00:00Z"}),
        )
        .await,
    );
    let c = id_of(
        &post(
            &app,
            &json!({"title": "Archive", "priority": "low", "status": "done",
                                      "due_at": "2026-04-01T00:00:00Z", "customer_id": olena["id"]}),
        )
        .await,
    );
    let d = id_of(&post(&app, &json!({"title": "Undated"})).await);
    let olena_id = olena["id"].as_str().unwrap();
    let cases: Vec<(String, BTreeSet<String>)> = vec![
        ("status=open".into(), set(&[&a, &d])),
        ("status=open,in_progress".into(), set(&[&a, &b, &d])),
        ("status=done,cancelled".into(), set(&[&c])),
        ("priority=high,urgent".into(), set(&[&a, &b])),
        ("priority=normal".into(), set(&[&d])),
        ("due_after=2026-03-05T12:00:00Z".into(), set(&[&b, &c])),
        ("due_before=2026-03-05T12:00:00Z".into(), set(&[&a])),
        ("due_after=2026-03-01T00:00:01Z&due_before=2026-04-01T00:00:00Z".into(), set(&[&b])),
        (format!("customer_id={olena_id}"), set(&[&a, &c])),
        (format!("customer_id={olena_id}&status=open"), set(&[&a])),
        ("q=olena".into(), set(&[&a])),
        ("q=50%25".into(), set(&[&b])),
        ("q=ARCH".into(), set(&[&c])),
        ("deleted=true".into(), set(&[])),
    ];
    for (query, expected) in cases {
        assert_eq!(ids(&app.admin().list_all(&format!("/v1/tasks?{query}")).await), expected, "?{query}");
    }
    for query in [
        "status=paused",
        "status=open,",
        "priority=critical",
        "sort=priority",
        "sort=title",
        "due_after=soon",
        "customer_id=1",
        "limit=0",
        "limit=500",
        "bogus=1",
        "deleted=1x",
        "q=%00",
    ] {
        assert_problem(app.get(&format!("/v1/tasks?{query}")).await, 400, "invalid_parameter").await;
    }
    assert_problem(app.get("/v1/tasks?cursor=AAAA").await, 400, "invalid_cursor").await;
}
both_backends!(filters_match_exactly);

async fn pagination_puts_undated_tasks_last(app: TestApp) {
    let dues = [
        Some("2026-05-03T00:00:00Z"),
        None,
        Some("2026-05-01T00:00:00Z"),
        Some("2026-05-03T00:00:00Z"),
        None,
        Some("2026-05-02T00:00:00Z"),
        Some("2026-05-04T00:00:00Z"),
    ];
    let mut created = Vec::new();
    for (i, due) in dues.iter().enumerate() {
        let mut body = json!({"title": format!("T{i}")});
        if let Some(due) = due {
            body["due_at"] = json!(due);
        }
        created.push((due.unwrap_or("9999"), id_of(&post(&app, &body).await)));
    }
    let mut by_due = created.clone();
    by_due.sort();
    let ascending: Vec<String> = by_due.iter().map(|(_, id)| id.clone()).collect();
    let descending: Vec<String> = ascending.iter().rev().cloned().collect();
    let creation: Vec<String> = created.iter().map(|(_, id)| id.clone()).collect();
    let newest: Vec<String> = creation.iter().rev().cloned().collect();
    for (query, expected) in [
        ("limit=2", &ascending),
        ("limit=3&sort=due_at", &ascending),
        ("limit=2&sort=-due_at", &descending),
        ("limit=3&sort=created_at", &creation),
        ("limit=2&sort=-created_at", &newest),
        ("limit=2&sort=updated_at", &creation),
    ] {
        let listed: Vec<String> = app.admin().list_all(&format!("/v1/tasks?{query}")).await.iter().map(id_of).collect();
        assert_eq!(&listed, expected, "?{query}");
    }
    let first = assert_json(app.get("/v1/tasks?limit=6").await, 200).await;
    assert_eq!(first["data"].as_array().map(Vec::len), Some(6));
    let cursor = first["next_cursor"].as_str().expect("a next cursor");
    let last = assert_json(app.get(&format!("/v1/tasks?limit=6&cursor={cursor}")).await, 200).await;
    assert_eq!(last["data"][0]["id"], json!(ascending[6]), "{last}");
    assert!(last["data"][0]["due_at"].is_null() && last["next_cursor"].is_null(), "{last}");
    let wrong = app.get(&format!("/v1/tasks?sort=-due_at&cursor={cursor}")).await;
    assert_problem(wrong, 400, "invalid_cursor").await;
}
both_backends!(pagination_puts_undated_tasks_last);

async fn delete_restore_and_history(app: TestApp) {
    let kept = post(&app, &json!({"title": "Kept"})).await;
    let task = post(&app, &json!({"title": "Temporary"})).await;
    let path = path_of(&task);
    let stale = send(app.request(Method::DELETE, &path).header("If-Match", "\"9\"")).await;
    assert_problem(stale, 412, "version_mismatch").await;
    assert_no_content(app.delete(&path).await).await;
    assert_problem(app.get(&path).await, 404, "not_found").await;
    assert_problem(app.delete(&path).await, 404, "not_found").await;
    assert_problem(app.patch_json(&path, &json!({"title": "x"})).await, 404, "not_found").await;
    assert_problem(
        app.post_json(&format!("{path}/delegate"), &json!({"assignee_id": app.user_id})).await,
        404,
        "not_found",
    )
    .await;
    let deleted = assert_json(app.get(&format!("{path}?include_deleted=true")).await, 200).await;
    assert!(deleted["deleted_at"].is_string(), "{deleted}");
    assert_eq!(ids(&app.admin().list_all("/v1/tasks").await), set(&[&id_of(&kept)]));
    assert_eq!(ids(&app.admin().list_all("/v1/tasks?deleted=true").await), set(&[&id_of(&task)]));
    let restored = assert_json(app.post_json(&format!("{path}/restore"), &json!({})).await, 200).await;
    assert!(restored["deleted_at"].is_null(), "{restored}");
    assert_eq!(restored["version"], 3, "{restored}");
    let actions: Vec<String> = app
        .admin()
        .list_all(&format!("{path}/history?limit=1"))
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(actions, ["restore", "delete", "create"]);
}
both_backends!(delete_restore_and_history);

async fn other_workspaces_and_unknown_ids_are_404(app: TestApp) {
    let mine = post(&app, &json!({"title": "Mine"})).await;
    let path = path_of(&mine);
    let other = app.second_workspace().await;
    let other = app.with_key(&other);
    assert_problem(other.get(&path).await, 404, "not_found").await;
    assert_problem(other.get(&format!("{path}?include_deleted=true")).await, 404, "not_found").await;
    assert_problem(other.patch_json(&path, &json!({"title": "Hacked"})).await, 404, "not_found").await;
    assert_problem(other.delete(&path).await, 404, "not_found").await;
    assert_problem(other.post_json(&format!("{path}/restore"), &json!({})).await, 404, "not_found").await;
    assert_problem(other.get(&format!("{path}/history")).await, 404, "not_found").await;
    assert!(other.list_all("/v1/tasks").await.is_empty());
    assert!(other.list_all("/v1/tasks?q=mine&deleted=false").await.is_empty());
    let spy = other.post_json("/v1/tasks", &json!({"title": "Spy", "assignee_id": app.user_id})).await;
    assert_field_error(spy, "assignee_id", "not_found").await;
    assert_eq!(assert_json(app.get(&path).await, 200).await, mine, "untouched");

    let unknown = format!("/v1/tasks/{}", uuid::Uuid::now_v7());
    assert_problem(app.get(&unknown).await, 404, "not_found").await;
    assert_problem(app.patch_json(&unknown, &json!({"title": "x"})).await, 404, "not_found").await;
    assert_problem(app.delete(&unknown).await, 404, "not_found").await;
    assert_problem(app.post_json(&format!("{unknown}/restore"), &json!({})).await, 404, "not_found").await;
    assert_problem(app.get(&format!("{unknown}/history")).await, 404, "not_found").await;
    assert_problem(app.get("/v1/tasks/42").await, 400, "invalid_parameter").await;
}
both_backends!(other_workspaces_and_unknown_ids_are_404);

async fn scopes_and_roles_are_enforced(app: TestApp) {
    let task = post(&app, &json!({"title": "Existing"})).await;
    let path = path_of(&task);
    let reader = app.create_api_key(&["tasks:read"]).await;
    let reader = app.with_key(&reader);
    assert_eq!(ids(&reader.list_all("/v1/tasks").await), set(&[&id_of(&task)]));
    assert_json(reader.get(&path).await, 200).await;
    assert_json(reader.get(&format!("{path}/history")).await, 200).await;
    assert_problem(reader.post_json("/v1/tasks", &json!({"title": "x"})).await, 403, "forbidden").await;
    assert_problem(reader.patch_json(&path, &json!({"title": "x"})).await, 403, "forbidden").await;
    assert_problem(reader.delete(&path).await, 403, "forbidden").await;
    assert_problem(reader.post_json(&format!("{path}/restore"), &json!({})).await, 403, "forbidden").await;
    let unrelated = app.create_api_key(&["interactions:write"]).await;
    assert_problem(app.with_key(&unrelated).get("/v1/tasks").await, 403, "forbidden").await;
    assert_problem(app.with_key(&unrelated).get(&path).await, 403, "forbidden").await;

    let viewer = app.create_user("viewer").await;
    let token = app.login(&viewer.email, &viewer.password).await;
    let viewer_caller = app.with_token(&token);
    assert_json(viewer_caller.get(&path).await, 200).await;
    assert!(viewer_caller.list_all("/v1/tasks?assignee_id=me").await.is_empty());
    assert_problem(viewer_caller.post_json("/v1/tasks", &json!({"title": "x"})).await, 403, "forbidden").await;
    assert_problem(viewer_caller.patch_json(&path, &json!({"title": "x"})).await, 403, "forbidden").await;
    assert_problem(viewer_caller.delete(&path).await, 403, "forbidden").await;
    let delegate = viewer_caller.post_json(&format!("{path}/delegate"), &json!({"assignee_id": viewer.id})).await;
    assert_problem(delegate, 403, "forbidden").await;
    assert_problem(app.anonymous().get("/v1/tasks").await, 401, "unauthorized").await;
}
both_backends!(scopes_and_roles_are_enforced);
