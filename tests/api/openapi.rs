//! The spec is checked, not trusted: the committed `openapi/openapi.json` equals the generated
//! one, the server serves exactly it, every documented route exists and requires auth, and the
//! actix routing table holds exactly the documented routes (plus the docs themselves).

use std::collections::BTreeSet;
use std::path::PathBuf;

use crm_api::startup::Unrouted;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_json, assert_problem, both_backends, send};

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json")
}

fn generated() -> Value {
    serde_json::from_str(&crm_api::openapi::spec_json()).expect("the generated spec is JSON")
}

#[test]
fn committed_openapi_is_fresh() {
    let path = committed_path();
    let text = crm_api::openapi::spec_json();
    // The text, not the value: the order of paths (the order routes are registered in) is
    // part of the file readers and diff tools see.
    if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
        return;
    }
    if std::env::var("UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    panic!("openapi/openapi.json is stale: run `make openapi`");
}

async fn served_openapi_is_the_generated_one(app: TestApp) {
    let served = assert_json(app.anonymous().get("/openapi.json").await, 200).await;
    assert!(served == generated(), "GET /openapi.json differs from crm_api::openapi::spec_json()");
}
both_backends!(served_openapi_is_the_generated_one);

/// Every documented operation is routed (no 404/405 from the router), and every `/v1`
/// operation outside `/v1/auth` refuses an anonymous caller with 401.
async fn every_documented_route_exists(app: TestApp) {
    let spec = generated();
    let paths = spec["paths"].as_object().expect("paths in the spec");
    assert!(!paths.is_empty(), "the spec documents no paths");
    let mut checked = 0;
    for (template, item) in paths {
        let path = fill_parameters(template);
        for (method, _) in item.as_object().into_iter().flatten() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if !matches!(method, Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE) {
                continue;
            }
            let mut request = app.anonymous().request(method.clone(), &path);
            if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
                request = request.json(&json!({}));
            }
            let response = send(request).await;
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            if template.starts_with("/v1/forms/") {
                // Public: an unknown form token is the handler's 404, not the router's.
                assert!(status == 404 && !body.contains("no route"), "{method} {template}: {status} {body}");
                checked += 1;
                continue;
            }
            assert!(!matches!(status, 404 | 405), "{method} {template}: {status} {body}");
            if template.starts_with("/v1/") && !template.starts_with("/v1/auth/") {
                assert_eq!(status, 401, "{method} {template} without credentials: {body}");
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "no operations found in the spec");
}
both_backends!(every_documented_route_exists);

/// Every list whose `sort` the spec publishes as an enum takes each of its values, and refuses
/// any other with 400 `invalid_parameter` (lists under a record's id are left to their own tests).
async fn every_published_sort_is_the_one_the_list_takes(app: TestApp) {
    let spec = generated();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().expect("paths in the spec") {
        let parameters = item["get"]["parameters"].as_array().into_iter().flatten();
        let Some(sort) = parameters.into_iter().find(|p| p["name"] == "sort" && p["in"] == "query") else {
            continue;
        };
        if path.contains('{') {
            continue;
        }
        let accepted = sort["schema"]["enum"].as_array().unwrap_or_else(|| panic!("{path}: sort is not an enum"));
        for value in accepted {
            let value = value.as_str().expect("sort values are strings");
            assert_json(app.get(&format!("{path}?sort={value}")).await, 200).await;
        }
        let response = app.get(&format!("{path}?sort=name")).await;
        assert_problem(response, 400, "invalid_parameter").await;
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} lists publish their sort");
}
both_backends!(every_published_sort_is_the_one_the_list_takes);

/// The links the spec publishes from a create lead somewhere: every `GET` they name answers 200
/// for the record just created, its path filled in as the link says.
async fn links_from_a_create_reach_what_it_created(app: TestApp) {
    let spec = generated();
    let mut operations = std::collections::HashMap::new();
    for (path, item) in spec["paths"].as_object().expect("paths in the spec") {
        for (method, op) in item.as_object().into_iter().flatten() {
            operations
                .insert(op["operationId"].as_str().unwrap_or_default().to_owned(), (method.clone(), path.clone()));
        }
    }
    let creates = [
        ("/v1/customers", json!({"kind": "person", "first_name": "Ада"})),
        ("/v1/pipelines", json!({"name": "Partners"})),
    ];
    let mut followed = 0;
    for (path, body) in creates {
        let created = assert_json(app.post_json(path, &body).await, 201).await;
        let links = spec["paths"][path]["post"]["responses"]["201"]["links"].as_object().expect("links from a create");
        for link in links.values() {
            let (method, template) = &operations[link["operationId"].as_str().expect("an operationId")];
            if method != "get" {
                continue;
            }
            let mut target = template.clone();
            for (name, value) in link["parameters"].as_object().expect("link parameters") {
                let field = value.as_str().and_then(|v| v.strip_prefix("$response.body#/")).expect("a body field");
                target = target.replace(&format!("{{{name}}}"), created[field].as_str().expect("a string field"));
            }
            assert_json(app.get(&target).await, 200).await;
            followed += 1;
        }
    }
    assert!(followed >= 8, "only {followed} links followed");
}
both_backends!(links_from_a_create_reach_what_it_created);

/// `/v1/customers/{id}` with a fresh UUID for each `{parameter}`.
fn fill_parameters(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map_or(rest.len(), |e| start + e + 1);
        out.push_str(&uuid::Uuid::now_v7().to_string());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Routes outside the API, deliberately not in the spec.
const UNDOCUMENTED: [&str; 3] = ["/docs", "/docs/{_:.*}", "/openapi.json"];
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// What the spec documents: `(METHOD, path template)`.
fn documented() -> BTreeSet<(String, String)> {
    let spec = generated();
    let mut routes = BTreeSet::new();
    for (template, item) in spec["paths"].as_object().expect("paths in the spec") {
        for method in item.as_object().into_iter().flat_map(|ops| ops.keys()) {
            let method = method.to_uppercase();
            if METHODS.contains(&method.as_str()) {
                routes.insert((method, template.clone()));
            }
        }
    }
    routes
}

/// The actix app as `crm serve` builds it ([`crm_api::startup::app`]) reads its routing table,
/// then sends each method to each pattern: a request no route took carries the fallback's
/// `Unrouted` mark, and a routed one names the pattern that took it. So a route added beside
/// the utoipa registration (`.route(..)`, a raw `web::resource`, a `map`) fails here, and so
/// does a documented operation nothing serves.
#[actix_web::test]
async fn served_routes_are_exactly_the_documented_ones() {
    use actix_web::test::{TestRequest, call_service, init_service};

    let file = std::env::temp_dir().join(format!("crm-routes-{}.db", uuid::Uuid::now_v7()));
    let url = format!("sqlite://{}", file.display());
    let config = crm_api::config::Config::for_tests(&url);
    let store = crm_store::Store::open(&url, None, 1).expect("a store");
    let state = actix_web::web::Data::from(crm_api::state::AppState::new(&config, store).expect("app state"));
    let app = init_service(crm_api::startup::app(
        state,
        crm_api::startup::Docs::new(&crm_api::openapi::spec()),
        config.body_limit,
    ))
    .await;

    let probe = call_service(&app, TestRequest::get().uri("/no-such-route").to_request()).await;
    assert!(probe.response().extensions().get::<Unrouted>().is_some(), "the fallback marks its responses");
    let table = debug_tree::parse(&format!("{:?}", probe.request().resource_map()));
    let patterns = debug_tree::route_patterns(&table);
    assert!(patterns.iter().any(|p| p == "/v1/customers"), "the routing table was not read: {patterns:?}");

    let mut served = BTreeSet::new();
    for pattern in &patterns {
        for method in METHODS {
            let request = TestRequest::default()
                .method(method.parse().unwrap())
                .uri(&fill_parameters(pattern))
                .insert_header(("Content-Type", "application/json"))
                .set_payload("{}")
                .to_request();
            let response = call_service(&app, request).await;
            if response.response().extensions().get::<Unrouted>().is_none() {
                let matched = response.request().match_pattern().unwrap_or_else(|| pattern.clone());
                served.insert((method.to_owned(), matched));
            }
        }
    }
    let _ = std::fs::remove_file(&file);

    let documented = documented();
    let undocumented: Vec<_> = served
        .iter()
        .filter(|(_, p)| !UNDOCUMENTED.contains(&p.as_str()))
        .filter(|r| !documented.contains(*r))
        .collect();
    assert!(
        undocumented.is_empty(),
        "served but not in the spec (document them with #[utoipa::path]): {undocumented:?}"
    );
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(unserved.is_empty(), "in the spec but not served: {unserved:?}");
    for path in UNDOCUMENTED {
        assert!(served.iter().any(|(_, p)| p == path), "{path} is no longer served: update UNDOCUMENTED");
        assert!(!documented.iter().any(|(_, p)| p == path), "{path} is in the spec now: drop it from UNDOCUMENTED");
    }
}

/// A reader of `{:?}` output, enough for actix's `ResourceMap` (which has no public accessors
/// for its tree but derives `Debug`).
mod debug_tree {
    #[derive(Debug)]
    pub enum Node {
        /// `Name { field: value, .. }`, `Name(value, ..)`, `[..]`, `{key: value, ..}` or a bare word.
        Item {
            name: String,
            fields: Vec<(String, Node)>,
            items: Vec<Node>,
        },
        Str(String),
    }

    impl Node {
        fn name(&self) -> &str {
            match self {
                Node::Item { name, .. } => name,
                Node::Str(_) => "",
            }
        }

        fn field(&self, wanted: &str) -> Option<&Node> {
            match self {
                Node::Item { fields, .. } => fields.iter().find(|(name, _)| name == wanted).map(|(_, node)| node),
                Node::Str(_) => None,
            }
        }

        fn items(&self) -> &[Node] {
            match self {
                Node::Item { items, .. } => items,
                Node::Str(_) => &[],
            }
        }
    }

    pub fn parse(text: &str) -> Node {
        let chars: Vec<char> = text.chars().collect();
        let mut at = 0;
        let node = value(&chars, &mut at);
        assert_eq!(at, chars.len(), "unparsed Debug output after {at} characters");
        node
    }

    fn skip_space(chars: &[char], at: &mut usize) {
        while chars.get(*at).is_some_and(|c| c.is_whitespace()) {
            *at += 1;
        }
    }

    fn value(chars: &[char], at: &mut usize) -> Node {
        skip_space(chars, at);
        if chars.get(*at) == Some(&'"') {
            return Node::Str(string(chars, at));
        }
        let start = *at;
        while chars.get(*at).is_some_and(|c| !"{}()[],: \"".contains(*c)) {
            *at += 1;
        }
        let name: String = chars[start..*at].iter().collect();
        skip_space(chars, at);
        let mut fields = Vec::new();
        let mut items = Vec::new();
        match chars.get(*at) {
            Some('{') => {
                *at += 1;
                while !close(chars, at, '}') {
                    let key = value(chars, at);
                    skip_space(chars, at);
                    assert_eq!(chars.get(*at), Some(&':'), "a field without a value at {at}");
                    *at += 1;
                    let key = match key {
                        Node::Str(s) => s,
                        other => other.name().to_owned(),
                    };
                    fields.push((key, value(chars, at)));
                }
            }
            Some('(' | '[') => {
                let end = if chars[*at] == '(' { ')' } else { ']' };
                *at += 1;
                while !close(chars, at, end) {
                    items.push(value(chars, at));
                }
            }
            _ => {}
        }
        Node::Item { name, fields, items }
    }

    /// Consumes a separating comma; true (and consumes it) at the closing bracket.
    fn close(chars: &[char], at: &mut usize, end: char) -> bool {
        skip_space(chars, at);
        if chars.get(*at) == Some(&',') {
            *at += 1;
            skip_space(chars, at);
        }
        assert!(*at < chars.len(), "unbalanced Debug output");
        if chars[*at] == end {
            *at += 1;
            return true;
        }
        false
    }

    fn string(chars: &[char], at: &mut usize) -> String {
        *at += 1;
        let mut out = String::new();
        while let Some(&c) = chars.get(*at) {
            *at += 1;
            match c {
                '"' => return out,
                '\\' => {
                    let escaped = chars[*at];
                    *at += 1;
                    match escaped {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'u' => {
                            let end = chars[*at..].iter().position(|c| *c == '}').unwrap() + *at;
                            let hex: String = chars[*at + 1..end].iter().collect();
                            out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                            *at = end + 1;
                        }
                        other => out.push(other),
                    }
                }
                c => out.push(c),
            }
        }
        panic!("an unterminated string in Debug output")
    }

    /// The full pattern of every leaf of a `ResourceMap` tree (scopes' patterns joined).
    pub fn route_patterns(map: &Node) -> Vec<String> {
        let mut out = Vec::new();
        walk(map, "", &mut out);
        out
    }

    fn walk(map: &Node, prefix: &str, out: &mut Vec<String>) {
        assert_eq!(map.name(), "ResourceMap", "not a ResourceMap: {map:?}");
        let patterns = map.field("pattern").and_then(|p| p.field("patterns")).expect("a ResourceDef with patterns");
        let mut own = Vec::new();
        match (patterns.name(), patterns.items()) {
            ("Single", [Node::Str(p)]) => own.push(p.clone()),
            ("List", [list]) => own.extend(list.items().iter().filter_map(|n| match n {
                Node::Str(p) => Some(p.clone()),
                Node::Item { .. } => None,
            })),
            other => panic!("unexpected ResourceDef patterns {other:?}"),
        }
        let children = map.field("nodes").filter(|n| n.name() == "Some").and_then(|n| n.items().first());
        for pattern in own {
            let full = format!("{prefix}{pattern}");
            match children {
                Some(list) => list.items().iter().for_each(|child| walk(child, &full, out)),
                None => out.push(full),
            }
        }
    }
}
