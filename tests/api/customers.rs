//! Customers: create with normalisation, read, merge-patch with versions, soft delete and
//! restore, filtered keyset lists, history, and isolation between workspaces.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_field_error, assert_json, assert_no_content, assert_problem, both_backends, has_field_error,
    header, ids, send,
};

fn olena() -> Value {
    json!({
        "kind": "person",
        "first_name": "Olena",
        "last_name": "K",
        "email": "Olena@Example.com",
        "phone": "+380 44 123 45 67",
        "address": {"city": "Kyiv", "country": "UA"},
        "tags": ["vip"],
        "lifecycle_stage": "lead"
    })
}

fn id_of(customer: &Value) -> &str {
    customer["id"].as_str().expect("a customer id")
}

fn path_of(customer: &Value) -> String {
    format!("/v1/customers/{}", id_of(customer))
}

async fn patch_if_match(app: &TestApp, path: &str, version: &str, body: &Value) -> reqwest::Response {
    let request = app.request(Method::PATCH, path).header("If-Match", version).json(body);
    send(request).await
}

async fn create_normalises_and_locates(app: TestApp) {
    let mut body = olena();
    body["address"]["country"] = json!("ua");
    let response = app.post_json("/v1/customers", &body).await;
    let location = header(response.headers(), "location");
    let etag = header(response.headers(), "etag");
    let customer = assert_json(response, 201).await;
    let id = id_of(&customer);
    assert_eq!(location.as_deref(), Some(format!("/v1/customers/{id}").as_str()));
    assert_eq!(etag.as_deref(), Some("\"1\""));
    assert_eq!(customer["version"], 1, "{customer}");
    assert_eq!(customer["kind"], "person", "{customer}");
    assert_eq!(customer["email"], "olena@example.com", "{customer}");
    assert_eq!(customer["phone"], "+380441234567", "{customer}");
    assert_eq!(customer["address"]["city"], "Kyiv", "{customer}");
    assert_eq!(customer["address"]["country"], "UA", "{customer}");
    assert_eq!(customer["display_name"], "Olena K", "{customer}");
    assert_eq!(customer["vat_registered"], false, "{customer}");
    assert_eq!(customer["tags"], json!(["vip"]), "{customer}");
    assert_eq!(customer["lifecycle_stage"], "lead", "{customer}");
    assert!(customer["deleted_at"].is_null(), "{customer}");
    for stamp in ["created_at", "updated_at"] {
        let value = customer[stamp].as_str().unwrap_or_default();
        assert!(chrono::DateTime::parse_from_rfc3339(value).is_ok(), "{stamp}: {customer}");
        assert!(value.ends_with('Z'), "{stamp} in UTC: {customer}");
    }
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{customer}");

    let response = app.get(&format!("/v1/customers/{id}")).await;
    assert_eq!(header(response.headers(), "etag").as_deref(), Some("\"1\""));
    assert_eq!(assert_json(response, 200).await, customer);
}
both_backends!(create_normalises_and_locates);

async fn defaults_and_companies(app: TestApp) {
    let person = app.post_customer(&json!({"kind": "person", "email": "p@example.com"})).await;
    assert_eq!(person["lifecycle_stage"], "prospect", "{person}");
    assert_eq!(person["display_name"], "p@example.com", "{person}");

    let body = json!({"kind": "company", "company_name": "Acme Ltd", "vat_number": "UA123", "industry": "retail",
                      "website": "https://acme.example", "employee_count": 42});
    let company = app.post_customer(&body).await;
    assert_eq!(company["display_name"], "Acme Ltd", "{company}");
    assert_eq!(company["vat_registered"], true, "{company}");
    assert_eq!(company["employee_count"], 42, "{company}");

    let employee = json!({"kind": "person", "first_name": "Ivan", "company_id": company["id"]});
    let employee = app.post_customer(&employee).await;
    assert_eq!(employee["company_id"], company["id"], "{employee}");

    let nameless = json!({"kind": "company", "industry": "retail"});
    let response = app.post_json("/v1/customers", &nameless).await;
    assert_field_error(response, "company_name", "required").await;
}
both_backends!(defaults_and_companies);

async fn person_cannot_have_company_fields(app: TestApp) {
    let body = json!({"kind": "person", "first_name": "Olena", "vat_number": "UA1", "industry": "x",
                      "website": "https://example.com", "employee_count": 3});
    let response = app.post_json("/v1/customers", &body).await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    for field in ["vat_number", "industry", "website", "employee_count"] {
        assert!(has_field_error(&problem, field, "company_only"), "{field}: {problem}");
    }
}
both_backends!(person_cannot_have_company_fields);

async fn owner_must_be_a_user_of_the_workspace(app: TestApp) {
    let mut body = olena();
    body["owner_id"] = json!(app.user_id);
    let owned = app.post_customer(&body).await;
    assert_eq!(owned["owner_id"], app.user_id.as_str(), "{owned}");

    body["owner_id"] = json!(uuid::Uuid::now_v7());
    let response = app.post_json("/v1/customers", &body).await;
    assert_field_error(response, "owner_id", "not_found").await;

    let other = app.second_workspace().await;
    let other_users = app.with_key(&other).list_all("/v1/users").await;
    assert_eq!(other_users.len(), 1, "{other_users:?}");
    body["owner_id"] = other_users[0]["id"].clone();
    let response = app.post_json("/v1/customers", &body).await;
    assert_field_error(response, "owner_id", "not_found").await;
    let patch = json!({"owner_id": other_users[0]["id"]});
    let response = app.patch_json(&path_of(&owned), &patch).await;
    assert_field_error(response, "owner_id", "not_found").await;
}
both_backends!(owner_must_be_a_user_of_the_workspace);

async fn read_only_and_unknown_fields_are_rejected(app: TestApp) {
    let existing = app.post_customer(&olena()).await;
    let values = [
        ("id", json!(uuid::Uuid::now_v7())),
        ("version", json!(7)),
        ("foo", json!(1)),
        ("created_at", json!("2020-01-01T00:00:00Z")),
        ("workspace_id", json!(uuid::Uuid::now_v7())),
        ("deleted_at", json!("2020-01-01T00:00:00Z")),
        ("display_name", json!("x")),
    ];
    for (field, value) in values {
        let mut body = olena();
        body[field] = value.clone();
        let response = app.post_json("/v1/customers", &body).await;
        assert_field_error(response, field, "unknown_field").await;
        let response = app.patch_json(&path_of(&existing), &json!({field: value})).await;
        assert_field_error(response, field, "unknown_field").await;
    }
    let body = json!({"kind": "person", "first_name": "A", "address": {"planet": "Mars"}});
    let response = app.post_json("/v1/customers", &body).await;
    assert_problem(response, 422, "validation_failed").await;
    let after = assert_json(app.get(&path_of(&existing)).await, 200).await;
    assert_eq!(after, existing, "rejected patches change nothing");
    let listed = app.admin().list_all("/v1/customers").await;
    assert_eq!(listed.len(), 1, "rejected creates create nothing");
}
both_backends!(read_only_and_unknown_fields_are_rejected);

async fn unknown_customer_is_not_found(app: TestApp) {
    let path = format!("/v1/customers/{}", uuid::Uuid::now_v7());
    assert_problem(app.get(&path).await, 404, "not_found").await;
    assert_problem(app.patch_json(&path, &json!({"first_name": "x"})).await, 404, "not_found").await;
    assert_problem(app.delete(&path).await, 404, "not_found").await;
    let restore = format!("{path}/restore");
    assert_problem(app.post_json(&restore, &json!({})).await, 404, "not_found").await;
    let history = format!("{path}/history");
    assert_problem(app.get(&history).await, 404, "not_found").await;
}
both_backends!(unknown_customer_is_not_found);

async fn merge_patch_updates_and_clears(app: TestApp) {
    let customer = app.post_customer(&olena()).await;
    let path = path_of(&customer);
    let patch = json!({"lifecycle_stage": "customer", "address": {"city": "Lviv"}, "tags": ["vip", "b2b"]});
    let response = app.patch_json(&path, &patch).await;
    assert_eq!(header(response.headers(), "etag").as_deref(), Some("\"2\""));
    let updated = assert_json(response, 200).await;
    assert_eq!(updated["version"], 2, "{updated}");
    assert_eq!(updated["lifecycle_stage"], "customer", "{updated}");
    assert_eq!(updated["address"]["city"], "Lviv", "{updated}");
    assert_eq!(updated["address"]["country"], "UA", "a merge patch keeps siblings: {updated}");
    assert_eq!(updated["first_name"], "Olena", "absent fields are unchanged: {updated}");
    assert_eq!(updated["tags"], json!(["vip", "b2b"]), "{updated}");
    assert_eq!(updated["created_at"], customer["created_at"], "{updated}");
    assert_ne!(updated["updated_at"], customer["updated_at"], "{updated}");

    // `null` clears; application/merge-patch+json is accepted too.
    let clear = json!({"phone": null, "address": null, "tags": null});
    let request = app
        .request(Method::PATCH, &path)
        .header("Content-Type", "application/merge-patch+json")
        .body(clear.to_string());
    let cleared = assert_json(send(request).await, 200).await;
    assert!(cleared["phone"].is_null(), "{cleared}");
    assert!(cleared["address"].is_null(), "{cleared}");
    assert_eq!(cleared["tags"], json!([]), "{cleared}");
    assert_eq!(cleared["version"], 3, "{cleared}");
    assert_eq!(assert_json(app.get(&path).await, 200).await, cleared);

    // The patched document is validated like a new one.
    let response = app.patch_json(&path, &json!({"email": "nope"})).await;
    assert_field_error(response, "email", "invalid_format").await;
    let response = app.patch_json(&path, &json!({"kind": "company"})).await;
    assert_field_error(response, "company_name", "required").await;
    let response = app.patch_json(&path, &json!({"kind": null})).await;
    assert_problem(response, 422, "validation_failed").await;
    let response = app.patch_json(&path, &json!({"lifecycle_stage": "robot"})).await;
    assert_problem(response, 422, "validation_failed").await;
    let response = app.patch_json(&path, &json!({"first_name": 42})).await;
    assert_problem(response, 422, "validation_failed").await;
    assert_eq!(assert_json(app.get(&path).await, 200).await["version"], 3);
}
both_backends!(merge_patch_updates_and_clears);

async fn stale_if_match_is_a_version_mismatch(app: TestApp) {
    let customer = app.post_customer(&olena()).await;
    let path = path_of(&customer);
    let first = patch_if_match(&app, &path, "\"1\"", &json!({"first_name": "Olha"})).await;
    assert_eq!(assert_json(first, 200).await["version"], 2);
    let stale = patch_if_match(&app, &path, "\"1\"", &json!({"first_name": "Oksana"})).await;
    assert_problem(stale, 412, "version_mismatch").await;
    // The precondition comes before the content (RFC 9110 §13.2.1): a stale version is a 412
    // whatever the body, since the body is checked against the record as it now is.
    let stale_and_invalid = patch_if_match(&app, &path, "\"1\"", &json!({"email": "not an email"})).await;
    assert_problem(stale_and_invalid, 412, "version_mismatch").await;
    for bad in ["W/W/\"2\"", "\"2", "+2", "9999999999999999999", "\"0\""] {
        let response = patch_if_match(&app, &path, bad, &json!({"first_name": "Oksana"})).await;
        assert_problem(response, 400, "invalid_header").await;
    }
    let current = patch_if_match(&app, &path, "\"2\"", &json!({"first_name": "Oksana"})).await;
    assert_eq!(assert_json(current, 200).await["first_name"], "Oksana");
    let fetched = assert_json(app.get(&path).await, 200).await;
    assert_eq!((fetched["first_name"].as_str(), fetched["version"].as_i64()), (Some("Oksana"), Some(3)));

    let stale_delete = send(app.request(Method::DELETE, &path).header("If-Match", "\"2\"")).await;
    assert_problem(stale_delete, 412, "version_mismatch").await;
    let delete = send(app.request(Method::DELETE, &path).header("If-Match", "\"3\"")).await;
    assert_no_content(delete).await;
}
both_backends!(stale_if_match_is_a_version_mismatch);

async fn a_no_op_patch_keeps_the_version(app: TestApp) {
    let customer = app.post_customer(&olena()).await;
    let path = path_of(&customer);
    for patch in
        [json!({}), json!({"first_name": "Olena", "email": "olena@example.com"}), json!({"address": {"country": "UA"}})]
    {
        let response = app.patch_json(&path, &patch).await;
        assert_eq!(header(response.headers(), "etag").as_deref(), Some("\"1\""), "{patch}");
        let same = assert_json(response, 200).await;
        assert_eq!(same["version"], 1, "{patch} -> {same}");
        assert_eq!(same["updated_at"], customer["updated_at"], "{patch} -> {same}");
    }
    let history = assert_json(app.get(&format!("{path}/history")).await, 200).await;
    assert_eq!(history["data"].as_array().map(Vec::len), Some(1), "only the create: {history}");
}
both_backends!(a_no_op_patch_keeps_the_version);

async fn delete_is_soft_and_restorable(app: TestApp) {
    let customer = app.post_customer(&olena()).await;
    let other = app.post_customer(&json!({"kind": "person", "first_name": "Stays"})).await;
    let path = path_of(&customer);
    assert_no_content(app.delete(&path).await).await;
    assert_problem(app.get(&path).await, 404, "not_found").await;
    assert_problem(app.delete(&path).await, 404, "not_found").await;
    assert_problem(app.patch_json(&path, &json!({"first_name": "x"})).await, 404, "not_found").await;

    let deleted = assert_json(app.get(&format!("{path}?include_deleted=true")).await, 200).await;
    assert!(deleted["deleted_at"].is_string(), "{deleted}");
    let live = ids(&app.admin().list_all("/v1/customers").await);
    assert_eq!(live, BTreeSet::from([id_of(&other).to_owned()]));
    let bin = ids(&app.admin().list_all("/v1/customers?deleted=true").await);
    assert_eq!(bin, BTreeSet::from([id_of(&customer).to_owned()]));

    let restored = assert_json(app.post_json(&format!("{path}/restore"), &json!({})).await, 200).await;
    assert!(restored["deleted_at"].is_null(), "{restored}");
    assert_eq!(restored["first_name"], "Olena", "{restored}");
    let fetched = assert_json(app.get(&path).await, 200).await;
    assert!(fetched["deleted_at"].is_null(), "{fetched}");
    let live = ids(&app.admin().list_all("/v1/customers").await);
    assert_eq!(live.len(), 2, "{live:?}");
}
both_backends!(delete_is_soft_and_restorable);

async fn lists_page_through_every_row_once(app: TestApp) {
    let mut created = Vec::new();
    for i in 0..7 {
        let customer = app.post_customer(&json!({"kind": "person", "first_name": format!("P{i}")})).await;
        created.push(id_of(&customer).to_owned());
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    for (query, expected) in [
        ("/v1/customers?limit=3", &newest_first),
        ("/v1/customers?limit=3&sort=-created_at", &newest_first),
        ("/v1/customers?limit=2&sort=created_at", &created),
        ("/v1/customers?limit=200", &newest_first),
    ] {
        let listed: Vec<String> = app.admin().list_all(query).await.iter().map(|c| id_of(c).to_owned()).collect();
        assert_eq!(&listed, expected, "{query}");
    }
    let first = assert_json(app.get("/v1/customers?limit=3").await, 200).await;
    assert_eq!(first["data"].as_array().map(Vec::len), Some(3));
    assert!(first["next_cursor"].is_string(), "{first}");
    let all = assert_json(app.get("/v1/customers").await, 200).await;
    assert!(all["next_cursor"].is_null(), "{all}");

    // Touch the oldest: it comes first by -updated_at and last by updated_at.
    let oldest = format!("/v1/customers/{}", created[0]);
    assert_json(app.patch_json(&oldest, &json!({"first_name": "Touched"})).await, 200).await;
    let by_updated = app.admin().list_all("/v1/customers?sort=-updated_at&limit=4").await;
    assert_eq!(id_of(&by_updated[0]), created[0]);
    assert_eq!(by_updated.len(), 7);
    let by_updated = app.admin().list_all("/v1/customers?sort=updated_at&limit=4").await;
    assert_eq!(id_of(&by_updated[6]), created[0]);
    assert_eq!(ids(&by_updated).len(), 7);
}
both_backends!(lists_page_through_every_row_once);

async fn bad_list_parameters_are_400(app: TestApp) {
    app.post_customer(&olena()).await;
    app.post_customer(&olena()).await;
    for query in [
        "limit=100000",
        "limit=0",
        "limit=201",
        "limit=-1",
        "limit=abc",
        "foo=1",
        "sort=name",
        "sort=",
        "kind=robot",
        "lifecycle_stage=vip",
        "owner_id=not-a-uuid",
        "company_id=42",
        "created_after=yesterday",
        "updated_before=2026-13-01T00:00:00Z",
        "deleted=maybe",
    ] {
        let response = app.get(&format!("/v1/customers?{query}")).await;
        assert_problem(response, 400, "invalid_parameter").await;
    }
    let page = assert_json(app.get("/v1/customers?limit=1&sort=created_at").await, 200).await;
    let cursor = page["next_cursor"].as_str().expect("a next cursor");
    let other_sort = format!("/v1/customers?limit=1&sort=-updated_at&cursor={cursor}");
    assert_problem(app.get(&other_sort).await, 400, "invalid_cursor").await;
    for garbage in ["garbage", "eyJ4IjoxfQ", "%00%01", "AAAA"] {
        let response = app.get(&format!("/v1/customers?cursor={garbage}")).await;
        assert_problem(response, 400, "invalid_cursor").await;
    }
    let response = app.get(&format!("/v1/customers?limit=1&sort=created_at&cursor={cursor}")).await;
    assert_json(response, 200).await;
}
both_backends!(bad_list_parameters_are_400);

async fn list_filters_match(app: TestApp) {
    let mut a = olena();
    a["owner_id"] = json!(app.user_id);
    a["tags"] = json!(["vip", "newsletter"]);
    let a = app.post_customer(&a).await;
    let b = app
        .post_customer(
            &json!({"kind": "company", "company_name": "Acme Ltd", "tags": ["vip"], "lifecycle_stage": "customer",
                               "address": {"city": "Berlin", "country": "DE"}, "email": "info@acme.example"}),
        )
        .await;
    let c = app
        .post_customer(&json!({"kind": "person", "first_name": "Taras", "tags": ["newsletter"], "company_id": b["id"]}))
        .await;
    assert_json(app.patch_json(&path_of(&a), &json!({"last_name": "Kovalenko"})).await, 200).await;
    let c_created = c["created_at"].as_str().unwrap().to_owned();
    let (a, b, c) = (id_of(&a).to_owned(), id_of(&b).to_owned(), id_of(&c).to_owned());
    let set = |items: &[&String]| items.iter().map(|s| s.to_string()).collect::<BTreeSet<String>>();

    let cases: Vec<(String, BTreeSet<String>)> = vec![
        ("kind=company".into(), set(&[&b])),
        ("kind=person".into(), set(&[&a, &c])),
        ("lifecycle_stage=lead".into(), set(&[&a])),
        (format!("owner_id={}", app.user_id), set(&[&a])),
        (format!("company_id={b}"), set(&[&c])),
        ("tag=vip".into(), set(&[&a, &b])),
        ("tag=vip,newsletter".into(), set(&[&a])),
        ("tag=newsletter&kind=person".into(), set(&[&a, &c])),
        ("tag=nothing".into(), set(&[])),
        ("email=olena@example.com".into(), set(&[&a])),
        ("country=DE".into(), set(&[&b])),
        ("city=Kyiv".into(), set(&[&a])),
        ("q=olen".into(), set(&[&a])),
        ("q=KOVAL".into(), set(&[&a])),
        ("q=acme".into(), set(&[&b])),
        ("q=%25".into(), set(&[])),
        (format!("updated_after={c_created}&kind=company"), set(&[])),
    ];
    for (query, expected) in cases {
        let listed = ids(&app.admin().list_all(&format!("/v1/customers?{query}")).await);
        assert_eq!(listed, expected, "?{query}");
    }
    // Time windows: rows strictly on one side are in or out whatever the bound's inclusivity.
    let after = ids(&app.admin().list_all(&format!("/v1/customers?created_after={c_created}")).await);
    assert!(after.contains(&c) && !after.contains(&a) && !after.contains(&b), "{after:?}");
    let before = ids(&app.admin().list_all(&format!("/v1/customers?created_before={c_created}")).await);
    assert!(before.contains(&a) && before.contains(&b) && !before.contains(&c), "{before:?}");
    let updated = ids(&app.admin().list_all(&format!("/v1/customers?updated_after={c_created}")).await);
    assert!(updated.contains(&a) && !updated.contains(&b), "{updated:?}");
    let not_updated = ids(&app.admin().list_all(&format!("/v1/customers?updated_before={c_created}")).await);
    assert!(not_updated.contains(&b) && !not_updated.contains(&a), "{not_updated:?}");
}
both_backends!(list_filters_match);

async fn history_records_each_change(app: TestApp) {
    let create = app.request(Method::POST, "/v1/customers").header("X-Request-Id", "req-create-1").json(&olena());
    let customer = assert_json(send(create).await, 201).await;
    let path = path_of(&customer);
    let patch = app
        .request(Method::PATCH, &path)
        .header("X-Request-Id", "req-patch-1")
        .json(&json!({"address": {"city": "Lviv"}}));
    assert_json(send(patch).await, 200).await;

    let history = assert_json(app.get(&format!("{path}/history")).await, 200).await;
    let events = history["data"].as_array().expect("data");
    assert_eq!(events.len(), 2, "{history}");
    let (update, create) = (&events[0], &events[1]);
    assert_eq!(update["action"], "update", "newest first: {history}");
    assert_eq!(create["action"], "create", "{history}");
    assert_eq!(update["entity_type"], "customer", "{update}");
    assert_eq!(update["entity_id"], customer["id"], "{update}");
    assert_eq!(update["actor"]["type"], "api_key", "{update}");
    assert_eq!(update["request_id"], "req-patch-1", "{update}");
    assert_eq!(create["request_id"], "req-create-1", "{create}");
    assert!(update["occurred_at"].is_string() && update["id"].is_string(), "{update}");
    let change = update["changes"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["field"] == "address.city"))
        .unwrap_or_else(|| panic!("no address.city change: {update}"));
    assert_eq!((&change["from"], &change["to"]), (&json!("Kyiv"), &json!("Lviv")), "{update}");
    assert_eq!(update["changes"].as_array().map(Vec::len), Some(1), "only the city changed: {update}");

    // A signed-in user is recorded as a user; delete and restore are recorded too.
    let token = app.login(&app.admin_email, &app.admin_password).await;
    assert_no_content(app.with_token(&token).delete(&path).await).await;
    assert_json(app.post_json(&format!("{path}/restore"), &json!({})).await, 200).await;
    let events = app.admin().list_all(&format!("{path}/history?limit=1")).await;
    let actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["restore", "delete", "update", "create"]);
    assert_eq!(events[1]["actor"], json!({"type": "user", "id": app.user_id}), "{}", events[1]);
}
both_backends!(history_records_each_change);

async fn other_workspaces_see_nothing(app: TestApp) {
    let mine = app.post_customer(&olena()).await;
    let path = path_of(&mine);
    let other_key = app.second_workspace().await;
    let other = app.with_key(&other_key);
    let theirs =
        assert_json(other.post_json("/v1/customers", &json!({"kind": "company", "company_name": "Rival"})).await, 201)
            .await;

    assert_problem(other.get(&path).await, 404, "not_found").await;
    assert_problem(other.get(&format!("{path}?include_deleted=true")).await, 404, "not_found").await;
    assert_problem(other.patch_json(&path, &json!({"first_name": "Hacked"})).await, 404, "not_found").await;
    assert_problem(other.delete(&path).await, 404, "not_found").await;
    assert_problem(other.post_json(&format!("{path}/restore"), &json!({})).await, 404, "not_found").await;
    assert_problem(other.get(&format!("{path}/history")).await, 404, "not_found").await;

    let linked = json!({"kind": "person", "first_name": "Spy", "company_id": mine["id"]});
    let response = other.post_json("/v1/customers", &linked).await;
    assert_field_error(response, "company_id", "not_found").await;

    let theirs_listed = ids(&other.list_all("/v1/customers").await);
    assert_eq!(theirs_listed, BTreeSet::from([id_of(&theirs).to_owned()]));
    for query in ["q=olena", "deleted=true", "tag=vip", "email=olena@example.com"] {
        let found = other.list_all(&format!("/v1/customers?{query}")).await;
        assert!(found.is_empty(), "?{query}: {found:?}");
    }
    let mine_listed = ids(&app.admin().list_all("/v1/customers").await);
    assert_eq!(mine_listed, BTreeSet::from([id_of(&mine).to_owned()]));
    assert_eq!(assert_json(app.get(&path).await, 200).await, mine, "untouched");
    assert_problem(app.get(&path_of(&theirs)).await, 404, "not_found").await;
}
both_backends!(other_workspaces_see_nothing);

async fn reassign_records_the_reason(app: TestApp) {
    let customer = app.post_customer(&json!({"kind": "person", "first_name": "Ivan", "owner_id": app.user_id})).await;
    let path = path_of(&customer);
    let taras = app.create_user("sales").await;
    let body = json!({"owner_id": taras.id, "reason": "Taras covers Lviv now"});

    let stale = app.request(Method::POST, &format!("{path}/reassign")).header("If-Match", "\"7\"").json(&body);
    assert_problem(send(stale).await, 412, "version_mismatch").await;
    let moved = assert_json(app.post_json(&format!("{path}/reassign"), &body).await, 200).await;
    assert_eq!(moved["owner_id"], json!(taras.id), "{moved}");
    assert_eq!(moved["version"], 2, "{moved}");

    let history = assert_json(app.get(&format!("{path}/history")).await, 200).await;
    let event = &history["data"][0];
    assert_eq!(event["action"], "reassign", "{history}");
    assert_eq!(event["reason"], "Taras covers Lviv now", "{history}");
    assert_eq!(event["changes"], json!([{"field": "owner_id", "from": app.user_id, "to": taras.id}]), "{history}");

    let blank = app.post_json(&format!("{path}/reassign"), &json!({"owner_id": taras.id, "reason": " "})).await;
    assert_field_error(blank, "reason", "required").await;
    let nobody = json!({"owner_id": uuid::Uuid::now_v7(), "reason": "typo"});
    assert_field_error(app.post_json(&format!("{path}/reassign"), &nobody).await, "owner_id", "not_found").await;
    let missing = format!("/v1/customers/{}/reassign", uuid::Uuid::now_v7());
    assert_problem(app.post_json(&missing, &body).await, 404, "not_found").await;
    let viewer = app.create_api_key(&["customers:read"]).await;
    assert_problem(app.with_key(&viewer).post_json(&format!("{path}/reassign"), &body).await, 403, "forbidden").await;
    let other = app.second_workspace().await;
    assert_problem(app.with_key(&other).post_json(&format!("{path}/reassign"), &body).await, 404, "not_found").await;
}
both_backends!(reassign_records_the_reason);
