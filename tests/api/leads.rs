//! Leads: create with normalisation, validation, unique live emails (`lead_exists`), merge
//! patches with versions, soft delete and restore, reassignment with a reason, filtered and
//! sorted keyset lists, workspace isolation and scopes.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_field_error, assert_json, assert_no_content, assert_problem, both_backends, header, ids, send,
};

fn taras() -> Value {
    json!({
        "source": "referral",
        "first_name": "Taras",
        "last_name": "Shevchuk",
        "company_name": "Lviv Coffee",
        "job_title": "Owner",
        "email": "Taras@LvivCoffee.example",
        "phone": "+380 32 212 34 56",
        "website": "https://lvivcoffee.example",
        "industry": "retail",
        "country": "ua",
        "city": "Lviv",
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": "autumn",
        "form_data": {"budget": "5000"},
        "tags": ["coffee"],
        "notes": "Met at the fair"
    })
}

pub async fn post_lead(app: &TestApp, body: &Value) -> Value {
    assert_json(app.post_json("/v1/leads", body).await, 201).await
}

fn path_of(lead: &Value) -> String {
    format!("/v1/leads/{}", lead["id"].as_str().expect("a lead id"))
}

async fn create_normalises_and_locates(app: TestApp) {
    let response = app.post_json("/v1/leads", &taras()).await;
    let location = header(response.headers(), "location");
    let etag = header(response.headers(), "etag");
    let lead = assert_json(response, 201).await;
    assert_eq!(location, Some(path_of(&lead)));
    assert_eq!(etag.as_deref(), Some("\"1\""));
    assert_eq!(lead["email"], "taras@lvivcoffee.example", "{lead}");
    assert_eq!(lead["phone"], "+380322123456", "{lead}");
    assert_eq!(lead["country"], "UA", "{lead}");
    assert_eq!(lead["source"], "referral", "{lead}");
    assert_eq!(lead["status"], "new", "{lead}");
    assert_eq!(lead["display_name"], "Taras Shevchuk", "{lead}");
    assert_eq!(lead["score"], 0, "{lead}");
    assert_eq!(lead["score_reasons"], json!([]), "{lead}");
    assert_eq!(lead["form_data"], json!({"budget": "5000"}), "{lead}");
    assert_eq!(lead["notes"], "Met at the fair", "{lead}");
    assert_eq!(lead["version"], 1, "{lead}");
    for field in
        ["web_form_id", "converted_customer_id", "converted_deal_id", "converted_at", "deleted_at", "lost_reason"]
    {
        assert!(lead[field].is_null(), "{field}: {lead}");
    }
    let fetched = app.get(&path_of(&lead)).await;
    assert_eq!(header(fetched.headers(), "etag").as_deref(), Some("\"1\""));
    assert_eq!(assert_json(fetched, 200).await, lead);

    let minimal = post_lead(&app, &json!({"company_name": "Acme"})).await;
    assert_eq!((minimal["source"].as_str(), minimal["display_name"].as_str()), (Some("other"), Some("Acme")));
}
both_backends!(create_normalises_and_locates);

async fn invalid_leads_are_422(app: TestApp) {
    let cases = [
        (json!({"email": "nope"}), "email", "invalid_format"),
        (json!({}), "first_name", "required"),
        (json!({"first_name": "A", "status": "disqualified"}), "lost_reason", "required"),
        (json!({"first_name": "A", "status": "converted"}), "status", "read_only"),
        (json!({"first_name": "A", "score": 5}), "score", "unknown_field"),
        (json!({"first_name": "A", "converted_at": "2026-01-01T00:00:00Z"}), "converted_at", "unknown_field"),
        (json!({"first_name": "A", "source": "tv"}), "source", "invalid_value"),
        (json!({"first_name": "A", "owner_id": uuid::Uuid::now_v7()}), "owner_id", "not_found"),
        (json!({"first_name": "A", "form_data": {"k": "a\u{0}b"}}), "form_data", "invalid_characters"),
        (json!({"first_name": "x".repeat(201)}), "first_name", "too_long"),
        (json!({"first_name": "A", "notes": "a\u{b}b"}), "notes", "invalid_characters"),
        (json!({"first_name": "A\u{85}"}), "first_name", "invalid_characters"),
        (json!({"first_name": "A", "email": "\u{b}"}), "email", "invalid_characters"),
        (json!({"first_name": "A", "website": "https://a.example/\u{1}"}), "website", "invalid_characters"),
    ];
    for (body, field, code) in cases {
        assert_field_error(app.post_json("/v1/leads", &body).await, field, code).await;
    }
    let response =
        send(app.request(Method::POST, "/v1/leads").header("Content-Type", "application/json").body("{")).await;
    assert_problem(response, 400, "malformed_json").await;
    assert!(app.admin().list_all("/v1/leads").await.is_empty(), "rejected creates create nothing");
}
both_backends!(invalid_leads_are_422);

/// A form's textarea sends its line breaks as CRLF; tabs and line breaks are kept as sent.
async fn notes_keep_tabs_and_line_breaks(app: TestApp) {
    let notes = "Call back\r\nafter 5:\tbefore the shop opens\nor on Monday";
    let lead = post_lead(&app, &json!({"first_name": "Olena", "notes": notes})).await;
    assert_eq!(lead["notes"], notes);
    assert_eq!(assert_json(app.get(&path_of(&lead)).await, 200).await["notes"], notes);
}
both_backends!(notes_keep_tabs_and_line_breaks);

async fn a_live_email_belongs_to_one_lead(app: TestApp) {
    let first = post_lead(&app, &taras()).await;
    let mut again = taras();
    again["email"] = json!("TARAS@lvivcoffee.example");
    let problem = assert_problem(app.post_json("/v1/leads", &again).await, 409, "lead_exists").await;
    let first_id = first["id"].as_str().unwrap();
    assert!(problem["detail"].as_str().unwrap_or_default().contains(first_id), "{problem}");

    let other = post_lead(&app, &json!({"first_name": "O", "email": "o@example.com"})).await;
    let response = app.patch_json(&path_of(&other), &json!({"email": "taras@lvivcoffee.example"})).await;
    assert_problem(response, 409, "lead_exists").await;

    // A deleted lead frees its email; restoring it while another has it is a conflict.
    assert_no_content(app.delete(&path_of(&first)).await).await;
    let second = post_lead(&app, &taras()).await;
    assert_ne!(second["id"], first["id"]);
    let restore = app.post_json(&format!("{}/restore", path_of(&first)), &json!({})).await;
    assert_problem(restore, 409, "lead_exists").await;
    assert_no_content(app.delete(&path_of(&second)).await).await;
    let restored = assert_json(app.post_json(&format!("{}/restore", path_of(&first)), &json!({})).await, 200).await;
    assert!(restored["deleted_at"].is_null(), "{restored}");
}
both_backends!(a_live_email_belongs_to_one_lead);

async fn merge_patch_versions_delete_and_restore(app: TestApp) {
    let lead = post_lead(&app, &taras()).await;
    let path = path_of(&lead);
    let patch = json!({"status": "contacted", "phone": null, "tags": ["coffee", "b2b"]});
    let response = send(app.request(Method::PATCH, &path).header("If-Match", "\"1\"").json(&patch)).await;
    assert_eq!(header(response.headers(), "etag").as_deref(), Some("\"2\""));
    let updated = assert_json(response, 200).await;
    assert_eq!(updated["status"], "contacted", "{updated}");
    assert!(updated["phone"].is_null(), "{updated}");
    assert_eq!(updated["tags"], json!(["coffee", "b2b"]), "{updated}");
    assert_eq!(updated["first_name"], "Taras", "{updated}");

    let stale =
        send(app.request(Method::PATCH, &path).header("If-Match", "\"1\"").json(&json!({"city": "Kyiv"}))).await;
    assert_problem(stale, 412, "version_mismatch").await;
    assert_field_error(app.patch_json(&path, &json!({"status": "converted"})).await, "status", "read_only").await;
    assert_field_error(app.patch_json(&path, &json!({"status": "disqualified"})).await, "lost_reason", "required")
        .await;
    assert_field_error(app.patch_json(&path, &json!({"score": 99})).await, "score", "unknown_field").await;
    let disqualified = json!({"status": "disqualified", "lost_reason": "No budget"});
    let lost = assert_json(app.patch_json(&path, &disqualified).await, 200).await;
    assert_eq!((lost["status"].as_str(), lost["lost_reason"].as_str()), (Some("disqualified"), Some("No budget")));

    let stale_delete = send(app.request(Method::DELETE, &path).header("If-Match", "\"1\"")).await;
    assert_problem(stale_delete, 412, "version_mismatch").await;
    assert_no_content(app.delete(&path).await).await;
    assert_problem(app.get(&path).await, 404, "not_found").await;
    assert_problem(app.delete(&path).await, 404, "not_found").await;
    let bin = app.admin().list_all("/v1/leads?deleted=true").await;
    assert_eq!(ids(&bin), ids(std::slice::from_ref(&lead)));
    let deleted = assert_json(app.get(&format!("{path}?include_deleted=true")).await, 200).await;
    assert!(deleted["deleted_at"].is_string(), "{deleted}");
    let restored = assert_json(app.post_json(&format!("{path}/restore"), &json!({})).await, 200).await;
    assert_eq!(restored["version"], 5, "{restored}");

    let history = assert_json(app.get(&format!("{path}/history")).await, 200).await;
    let actions: Vec<&str> =
        history["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["restore", "delete", "update", "update", "create"]);

    let unknown = format!("/v1/leads/{}", uuid::Uuid::now_v7());
    assert_problem(app.get(&unknown).await, 404, "not_found").await;
    assert_problem(app.patch_json(&unknown, &json!({"city": "x"})).await, 404, "not_found").await;
    assert_problem(app.delete(&unknown).await, 404, "not_found").await;
    assert_problem(app.post_json(&format!("{unknown}/restore"), &json!({})).await, 404, "not_found").await;
    assert_problem(app.get(&format!("{unknown}/history")).await, 404, "not_found").await;
    let reassign = json!({"owner_id": app.user_id, "reason": "x"});
    assert_problem(app.post_json(&format!("{unknown}/reassign"), &reassign).await, 404, "not_found").await;
    assert_problem(app.get("/v1/leads/not-a-uuid").await, 400, "invalid_parameter").await;
}
both_backends!(merge_patch_versions_delete_and_restore);

async fn reassign_records_the_reason(app: TestApp) {
    let sales = app.create_user("sales").await;
    let lead = post_lead(&app, &json!({"first_name": "A", "owner_id": app.user_id})).await;
    let path = format!("{}/reassign", path_of(&lead));
    let body = json!({"owner_id": sales.id, "reason": "  Covers Lviv  "});
    let moved = assert_json(app.post_json(&path, &body).await, 200).await;
    assert_eq!(moved["owner_id"], sales.id.as_str(), "{moved}");
    assert_eq!(moved["version"], 2, "{moved}");
    let history = assert_json(app.get(&format!("{}/history", path_of(&lead))).await, 200).await;
    let event = &history["data"][0];
    assert_eq!(event["action"], "reassign", "{history}");
    assert_eq!(event["reason"], "Covers Lviv", "{history}");
    assert_eq!(event["changes"][0]["field"], "owner_id", "{history}");

    assert_field_error(app.post_json(&path, &json!({"owner_id": sales.id, "reason": " "})).await, "reason", "required")
        .await;
    let nobody = json!({"owner_id": uuid::Uuid::now_v7(), "reason": "x"});
    assert_field_error(app.post_json(&path, &nobody).await, "owner_id", "not_found").await;
    let stale = send(app.request(Method::POST, &path).header("If-Match", "\"1\"").json(&body)).await;
    assert_problem(stale, 412, "version_mismatch").await;
}
both_backends!(reassign_records_the_reason);

async fn lists_filter_sort_and_page(app: TestApp) {
    let sales = app.create_user("sales").await;
    let mut created = Vec::new();
    for i in 0..5 {
        let body = json!({
            "first_name": format!("Lead{i}"),
            "email": format!("lead{i}@example.com"),
            "source": if i % 2 == 0 { "event" } else { "social" },
            "status": if i < 2 { "qualified" } else { "new" },
            "utm_campaign": if i == 3 { Some("spring") } else { None },
            "tags": if i == 4 { json!(["vip", "b2b"]) } else { json!(["b2b"]) },
            "owner_id": if i == 1 { sales.id.clone() } else { app.user_id.clone() },
        });
        created.push(post_lead(&app, &body).await["id"].as_str().unwrap().to_owned());
    }
    let listed = |query: &'static str| {
        let app = &app;
        async move {
            let items = app.admin().list_all(query).await;
            items.iter().map(|l| l["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(listed("/v1/leads?limit=2").await, newest_first);
    assert_eq!(listed("/v1/leads?limit=2&sort=created_at").await, created);
    assert_eq!(listed("/v1/leads?status=qualified&sort=created_at").await, created[..2].to_vec());
    assert_eq!(listed("/v1/leads?source=social&sort=created_at").await, vec![created[1].clone(), created[3].clone()]);
    assert_eq!(listed("/v1/leads?utm_campaign=spring").await, vec![created[3].clone()]);
    assert_eq!(listed("/v1/leads?tag=vip,b2b").await, vec![created[4].clone()]);
    assert_eq!(listed("/v1/leads?email=LEAD2@example.com").await, vec![created[2].clone()]);
    assert_eq!(listed("/v1/leads?q=lead0").await, vec![created[0].clone()]);
    let owner = format!("/v1/leads?owner_id={}", sales.id);
    let by_owner = app.admin().list_all(&owner).await;
    assert_eq!(ids(&by_owner).into_iter().collect::<Vec<_>>(), vec![created[1].clone()]);
    assert_eq!(listed("/v1/leads?created_after=2100-01-01T00:00:00Z").await, Vec::<String>::new());

    for query in [
        "limit=0",
        "limit=201",
        "foo=1",
        "sort=name",
        "status=converted_ish",
        "source=tv",
        "score_min=abc",
        "score_min=5&score_max=1",
        "email=nope",
        "cursor=garbage",
        "owner_id=not-a-uuid",
    ] {
        let response = app.get(&format!("/v1/leads?{query}")).await;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert_eq!(status, 400, "{query}: {body}");
    }
    let page = assert_json(app.get("/v1/leads?limit=1&sort=-score").await, 200).await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let response = app.get(&format!("/v1/leads?sort=created_at&cursor={cursor}")).await;
    assert_problem(response, 400, "invalid_cursor").await;
}
both_backends!(lists_filter_sort_and_page);

async fn other_workspaces_and_scopes(app: TestApp) {
    let lead = post_lead(&app, &taras()).await;
    let path = path_of(&lead);
    let other = app.second_workspace().await;
    let outsider = app.with_key(&other);
    assert_problem(outsider.get(&path).await, 404, "not_found").await;
    assert_problem(outsider.patch_json(&path, &json!({"city": "x"})).await, 404, "not_found").await;
    assert_problem(outsider.delete(&path).await, 404, "not_found").await;
    assert_problem(outsider.get(&format!("{path}/history")).await, 404, "not_found").await;
    assert!(outsider.list_all("/v1/leads").await.is_empty());
    // The same email is free in another workspace.
    assert_json(outsider.post_json("/v1/leads", &taras()).await, 201).await;

    let reader = app.create_api_key(&["leads:read"]).await;
    let reader = app.with_key(&reader);
    assert_json(reader.get(&path).await, 200).await;
    assert_eq!(reader.list_all("/v1/leads").await.len(), 1);
    assert_problem(reader.post_json("/v1/leads", &json!({"first_name": "x"})).await, 403, "forbidden").await;
    assert_problem(reader.patch_json(&path, &json!({"city": "x"})).await, 403, "forbidden").await;
    assert_problem(reader.delete(&path).await, 403, "forbidden").await;
    let reassign = json!({"owner_id": app.user_id, "reason": "x"});
    assert_problem(reader.post_json(&format!("{path}/reassign"), &reassign).await, 403, "forbidden").await;
    let customers_only = app.create_api_key(&["customers:write"]).await;
    assert_problem(app.with_key(&customers_only).get(&path).await, 403, "forbidden").await;
    assert_problem(app.anonymous().get(&path).await, 401, "unauthorized").await;

    let sales = app.create_user("sales").await;
    let token = app.login(&sales.email, &sales.password).await;
    let created = app.with_token(&token).post_json("/v1/leads", &json!({"first_name": "By sales"})).await;
    assert_json(created, 201).await;
}
both_backends!(other_workspaces_and_scopes);
