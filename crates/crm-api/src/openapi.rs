//! The OpenAPI document: generated from the handlers' own attributes, then completed with
//! what every operation shares (problem responses, `Idempotency-Key`, `If-Match`).

use actix_web::App;
use crm_domain::TEXT_PATTERN;
use crm_domain::page::MAX_LIMIT;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AnyOfBuilder, Object, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, RefOr, Required};
use utoipa::{Modify, OpenApi as _, ToSchema};
use utoipa_actix_web::AppExt;

use crate::error::{ErrorCode, Problem};
use crate::extract::IF_MATCH_PATTERN;
use crate::middleware::IDEMPOTENCY_KEY_PATTERN;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "CRM API",
        description = "Customers, identity and access of the CRM service.\n\n\
            Conventions: JSON in and out; errors are `application/problem+json` with a stable `code`; \
            lists are cursor-paginated (`limit` ≤ 200, `next_cursor`); every resource has a `version` sent as \
            `ETag`, and `PATCH`/`DELETE` honour `If-Match` (412 `version_mismatch` when stale); every `POST` \
            accepts `Idempotency-Key` (replays carry `Idempotent-Replayed: true`); requests are rate limited \
            per caller (429 `rate_limited` with `Retry-After`; `RateLimit-Limit`/`RateLimit-Remaining` headers).",
        license(name = "Apache-2.0")
    ),
    modifiers(&Security),
    components(schemas(Problem)),
    security(("api_key" = []), ("bearer" = [])),
    tags(
        (name = "auth", description = "Sign-in, tokens and the current caller"),
        (name = "users", description = "People of the workspace and their roles"),
        (name = "api-keys", description = "Credentials for integrations, with scopes"),
        (name = "customers", description = "People and companies"),
        (name = "reassignments", description = "Handing one owner's open records to another"),
        (name = "segments", description = "Saved customer criteria: target groups, counted and listed live"),
        (name = "interactions", description = "Contacts with customers on every channel: calls, emails, meetings, notes"),
        (name = "tasks", description = "To-dos with an assignee and a due date, and their delegation"),
        (name = "pipelines", description = "Sales pipelines: ordered stages with win probabilities, and their boards"),
        (name = "deals", description = "Opportunities moving through a pipeline, their stage moves and the forecast"),
        (name = "leads", description = "Prospects with source, status, owner, UTM fields and a score"),
        (name = "scoring-rules", description = "Per-workspace rules that score leads"),
        (name = "web-forms", description = "Public lead capture: forms, their tokens and allowed origins"),
        (name = "purchases", description = "What customers bought, on which channel, and the refunds that correct it; a purchase is never edited or deleted"),
        (name = "coupons", description = "Discount codes with validity windows, limits and segment restrictions; validation and idempotent redemption"),
        (name = "loyalty", description = "The points program: earn rules, tiers, expiry; each customer's balance, ledger, redemptions and adjustments"),
        (name = "rewards", description = "The rewards catalogue customers redeem points for"),
        (name = "analytics", description = "RFM segmentation and purchase analytics, computed from the purchases"),
        (name = "system", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An API key: `crm_<prefix>_<secret>`",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from `POST /v1/auth/login`"))
                    .build(),
            ),
        );
    }
}

/// The schema of a JSON Merge Patch of `T`: every field optional, and nullable to clear it.
pub fn merge_patch_of<T: ToSchema>() -> RefOr<Schema> {
    let RefOr::T(Schema::Object(mut object)) = T::schema() else {
        return T::schema();
    };
    let mut referenced = Vec::new();
    T::schemas(&mut referenced);
    object.required.clear();
    for property in object.properties.values_mut() {
        let null = ObjectBuilder::new().schema_type(Type::Null);
        if is_object(property, &referenced) {
            // Merge patches nest: `{"address": {"city": null}}` clears the city alone, so any
            // object is a valid patch of an object field.
            let partial = ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some("A merge patch of the field's object: `null` members are cleared"));
            *property =
                RefOr::T(Schema::AnyOf(AnyOfBuilder::new().item(property.clone()).item(partial).item(null).build()));
        } else if !is_nullable(property) {
            *property = RefOr::T(Schema::OneOf(OneOfBuilder::new().item(property.clone()).item(null).build()));
        }
    }
    object.description = Some(format!(
        "A JSON Merge Patch (RFC 7396) of `{}`: absent fields stay as they are, `null` clears a field.",
        T::name()
    ));
    RefOr::T(Schema::Object(object))
}

/// Whether a property already takes `null`: an `Option` field, written as a type list with
/// `null` (`["string", "null"]`) or, for a reference, as one of null and the type. A second
/// null branch would make `null` match two branches of a `oneOf`, which is then invalid.
fn is_nullable(schema: &RefOr<Schema>) -> bool {
    match schema {
        RefOr::T(Schema::Object(o)) => {
            matches!(&o.schema_type, SchemaType::Array(types) if types.contains(&Type::Null))
        }
        RefOr::T(Schema::OneOf(one_of)) => one_of
            .items
            .iter()
            .any(|s| matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null))),
        _ => false,
    }
}

/// Whether a property holds a JSON object (a struct or a map), seen through references and
/// `Option`'s one-of-null.
fn is_object(schema: &RefOr<Schema>, referenced: &[(String, RefOr<Schema>)]) -> bool {
    match schema {
        RefOr::Ref(r) => {
            let name = r.ref_location.rsplit('/').next().unwrap_or_default();
            referenced.iter().any(|(n, s)| n == name && is_object(s, referenced))
        }
        RefOr::T(Schema::Object(o)) => o.schema_type == SchemaType::Type(Type::Object),
        RefOr::T(Schema::OneOf(one_of)) => one_of.items.iter().any(|s| is_object(s, referenced)),
        RefOr::T(_) => false,
    }
}

/// Declares a documentation-only type whose schema is the merge patch of another.
#[macro_export]
macro_rules! merge_patch_schema {
    ($name:ident, $of:ty) => {
        /// A JSON Merge Patch (RFC 7396); see the schema's description.
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::openapi::merge_patch_of::<$of>()
            }
        }

        impl utoipa::ToSchema for $name {
            fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
                <$of as utoipa::ToSchema>::schemas(schemas);
            }
        }
    };
}

fn problem_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    // A reference, not the schema itself: inlined in each of ~1 000 responses it made the
    // document five times larger.
    let content = ContentBuilder::new().schema(Some(utoipa::openapi::Ref::from_schema_name("Problem"))).build();
    RefOr::T(ResponseBuilder::new().description(description).content("application/problem+json", content).build())
}

fn header_param(name: &str, description: &str, schema: ObjectBuilder, required: bool) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(if required { Required::True } else { Required::False })
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn string_schema(min_length: usize, max_length: usize, pattern: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(min_length))
        .max_length(Some(max_length))
        .pattern(Some(pattern))
}

/// A list's `sort` parameter: the orders the list accepts, as an enum, so that a client (or a
/// fuzzer) can choose one without parsing the description, which says only what the enum
/// cannot (the default, where empty values go). utoipa drops the field's doc comment when a
/// parameter's schema is given, hence the description here.
pub fn sort_schema(accepted: &[&str], description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(accepted.iter().copied()))
        .description(Some(description))
        .build()
}

fn if_match_schema() -> ObjectBuilder {
    string_schema(1, 22, IF_MATCH_PATTERN)
}

fn error_description(codes: &[ErrorCode]) -> String {
    let names: Vec<String> = codes.iter().map(|c| format!("`{}`", c.as_str())).collect();
    format!("Problem: {}", names.join(", "))
}

/// Adds what every operation shares, so that no handler can forget to document it.
fn complete_operation(path: &str, method: &HttpMethod, op: &mut Operation) {
    use ErrorCode::*;
    let public = op
        .security
        .as_ref()
        .is_some_and(|s| s.iter().all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({}))));
    let has_body = op.request_body.is_some();
    // Writes that read `If-Match`: every PATCH and DELETE, restores, refunds, and the handlers
    // that declare their own 412 (moves, conversions, reassignments).
    let conditional = matches!(method, HttpMethod::Patch | HttpMethod::Delete)
        || path.ends_with("/restore")
        || path.ends_with("/refund")
        || op.responses.responses.contains_key("412");
    let mut statuses: Vec<(&str, Vec<ErrorCode>)> = Vec::new();
    // Handlers that need an Idempotency-Key say so in their own 400 (redeems, adjustments).
    let needs_key = matches!(op.responses.responses.get("400"),
        Some(RefOr::T(r)) if r.description.contains("idempotency_key_required"));
    let mut bad_request = vec![InvalidParameter, InvalidHeader];
    if needs_key {
        bad_request.push(IdempotencyKeyRequired);
    }
    if has_body {
        bad_request.push(MalformedJson);
    }
    if path.contains("cursor") || op.parameters.as_ref().is_some_and(|ps| ps.iter().any(|p| p.name == "cursor")) {
        bad_request.push(InvalidCursor);
    }
    statuses.push(("400", bad_request));
    if !public {
        statuses.push(("401", vec![Unauthorized]));
        statuses.push(("403", vec![Forbidden]));
    } else if path.ends_with("/login") {
        statuses.push(("401", vec![InvalidCredentials]));
    } else if path.starts_with("/v1/") {
        statuses.push(("401", vec![Unauthorized]));
    }
    if path.contains('{') {
        statuses.push(("404", vec![NotFound]));
    }
    if *method == HttpMethod::Post {
        statuses.push(("409", vec![IdempotencyKeyInUse, EmailTaken, EditConflict]));
    }
    if conditional {
        statuses.push(("412", vec![VersionMismatch]));
    }
    if has_body || *method == HttpMethod::Post {
        statuses.push(("413", vec![PayloadTooLarge]));
        statuses.push(("415", vec![UnsupportedMediaType]));
        statuses.push(("422", vec![ValidationFailed, IdempotencyKeyReused]));
    }
    if path.starts_with("/v1/analytics/") || path.ends_with("/rfm") {
        statuses.push(("422", vec![CurrencyRequired]));
    }
    if path.starts_with("/v1/") {
        statuses.push(("429", vec![RateLimited]));
    }
    statuses.push(("405", vec![MethodNotAllowed]));
    statuses.push(("500", vec![InternalError]));
    statuses.push(("503", vec![ServiceUnavailable]));
    for (status, codes) in statuses {
        // A handler's own words for this status (e.g. `already_converted`) come first.
        let own = match op.responses.responses.get(status) {
            Some(RefOr::T(response)) if !response.description.is_empty() => format!("{}. ", response.description),
            _ => String::new(),
        };
        let description = format!("{own}{}", error_description(&codes));
        op.responses.responses.insert(status.to_owned(), problem_response(&description));
    }

    let parameters = op.parameters.get_or_insert_with(Vec::new);
    for limit in parameters.iter_mut().filter(|p| p.name == "limit" && p.parameter_in == ParameterIn::Query) {
        if let Some(RefOr::T(Schema::Object(schema))) = limit.schema.as_mut() {
            schema.minimum = Some(1.into());
            schema.maximum = Some(MAX_LIMIT.into());
        }
    }
    parameters.push(header_param(
        "X-Request-Id",
        "Echoed in the response when it is 1 to 128 visible ASCII characters; otherwise one is generated.",
        ObjectBuilder::new().schema_type(Type::String),
        false,
    ));
    if *method == HttpMethod::Post && !public {
        parameters.push(header_param(
            "Idempotency-Key",
            "Makes the request safe to retry: the first response is stored for 24 h and replayed. While the first \
             request runs, a retry is answered 409 `idempotency_key_in_use`. If the first request created a record \
             but the server stopped before storing its response, a retry is answered 201 with the record as it is \
             now (a refund: 200 with the purchase as it is now); when that answer can't be rebuilt (an API key's \
             secret is shown only once), 409 `idempotency_key_in_use` says the first request completed but its \
             response was lost.",
            string_schema(1, 255, IDEMPOTENCY_KEY_PATTERN),
            // A refund needs it only when partial and without If-Match, which a parameter cannot say.
            needs_key && !path.ends_with("/refund"),
        ));
    }
    if conditional {
        match parameters.iter_mut().find(|p| p.name == "If-Match") {
            Some(own) => own.schema = Some(if_match_schema().into()),
            None => parameters.push(header_param(
                "If-Match",
                "The `ETag` you read; a stale one is answered 412.",
                if_match_schema(),
                false,
            )),
        }
    }
}

/// The complete document, as `/openapi.json` serves it.
pub fn spec() -> OpenApi {
    let (_, mut api) =
        crate::startup::register(App::new().into_utoipa_app().openapi(ApiDoc::openapi())).split_for_parts();
    for (path, item) in api.paths.paths.iter_mut() {
        let operations = [
            (HttpMethod::Get, &mut item.get),
            (HttpMethod::Post, &mut item.post),
            (HttpMethod::Patch, &mut item.patch),
            (HttpMethod::Delete, &mut item.delete),
            (HttpMethod::Put, &mut item.put),
        ];
        for (method, op) in operations {
            if let Some(op) = op {
                complete_operation(path, &method, op);
            }
        }
    }
    link_creates(&mut api);
    publish_text_rule(&mut api);
    api
}

/// Gives each free-text field of a request body the characters its validator takes
/// ([`TEXT_PATTERN`]), so a client or a fuzzer knows that a control character is refused: every
/// string with a `maxLength` and no rule of its own (pattern, format, enum). A password takes
/// any character.
fn publish_text_rule(api: &mut OpenApi) {
    fn refs(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(r)) = map.get("$ref") {
                    out.extend(r.strip_prefix("#/components/schemas/").map(str::to_owned));
                }
                map.values().for_each(|v| refs(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    fn free_text(schema: &mut RefOr<Schema>) -> Option<&mut Object> {
        match schema {
            // A merge patch's field: one of the field and null.
            RefOr::T(Schema::OneOf(one_of)) => one_of.items.iter_mut().find_map(free_text),
            RefOr::T(Schema::Object(text)) => {
                let string = match &text.schema_type {
                    SchemaType::Type(t) => *t == Type::String,
                    SchemaType::Array(types) => types.contains(&Type::String),
                    SchemaType::AnyValue => false,
                };
                let own_rule = text.pattern.is_some() || text.format.is_some() || text.enum_values.is_some();
                (string && text.max_length.is_some() && !own_rule).then_some(text)
            }
            _ => None,
        }
    }
    let bodies = api
        .paths
        .paths
        .values()
        .flat_map(|item| [&item.get, &item.post, &item.put, &item.patch, &item.delete].into_iter().flatten());
    let mut pending = Vec::new();
    for body in bodies.filter_map(|op| op.request_body.as_ref()) {
        refs(&serde_json::to_value(body).unwrap_or_default(), &mut pending);
    }
    let Some(components) = api.components.as_mut() else { return };
    let mut inputs = std::collections::BTreeSet::new();
    while let Some(name) = pending.pop() {
        if let Some(schema) = components.schemas.get(&name).filter(|_| !inputs.contains(&name)) {
            refs(&serde_json::to_value(schema).unwrap_or_default(), &mut pending);
            inputs.insert(name);
        }
    }
    for name in &inputs {
        let Some(RefOr::T(Schema::Object(input))) = components.schemas.get_mut(name) else { continue };
        let fields = input.properties.iter_mut().filter(|(field, _)| *field != "password");
        for text in fields.filter_map(|(_, schema)| free_text(schema)) {
            text.pattern = Some(TEXT_PATTERN.to_owned());
        }
    }
}

/// Links each top-level create's 201 to the operations on the record it created (`POST
/// /v1/deals` → `GET`, `PATCH`, `DELETE /v1/deals/{id}`, `POST /v1/deals/{id}/move` …), whose
/// one path parameter is the record's id (or code) from the body. They tell a client, and a
/// stateful fuzzer, which calls follow which. A create is linked when its record has a `GET`
/// answering what the create does (an API key's create shows its secret, a stage's the
/// pipeline: neither is).
fn link_creates(api: &mut OpenApi) {
    let json_schema = |op: &Option<Operation>, status: &str| match op.as_ref()?.responses.responses.get(status)? {
        RefOr::T(response) => response.content.get("application/json")?.schema.clone(),
        RefOr::Ref(_) => None,
    };
    let components = api.components.as_ref().map(|c| &c.schemas);
    let has_field = |schema: &RefOr<Schema>, field: &str| {
        let RefOr::Ref(r) = schema else { return false };
        let name = r.ref_location.trim_start_matches("#/components/schemas/");
        matches!(components.and_then(|c| c.get(name)),
            Some(RefOr::T(Schema::Object(o))) if o.properties.contains_key(field))
    };
    let mut links = Vec::new();
    for (parent, item) in api.paths.paths.iter().filter(|(path, _)| !path.contains('{')) {
        let Some(created) = json_schema(&item.post, "201") else { continue };
        // The paths one parameter below the create's: (that parameter, the rest, the item).
        let children: Vec<(&str, &str, &PathItem)> = (api.paths.paths.iter())
            .filter_map(|(path, target)| {
                let (param, rest) = path.strip_prefix(parent.as_str())?.strip_prefix("/{")?.split_once('}')?;
                (!rest.contains('{')).then_some((param, rest, target))
            })
            .collect();
        // The record's own path: the one whose GET answers what the create does.
        let own = children
            .iter()
            .find(|(_, rest, target)| rest.is_empty() && json_schema(&target.get, "200").as_ref() == Some(&created));
        let Some(&(own, _, _)) = own else { continue };
        for &(param, _, target) in &children {
            // The id, or the field a path names the record by instead (a coupon's code).
            let field = if param == own { "id" } else { param };
            if !has_field(&created, field) {
                continue;
            }
            let ops = [&target.get, &target.post, &target.put, &target.patch, &target.delete];
            for id in ops.into_iter().flatten().filter_map(|op| op.operation_id.clone()) {
                let link = LinkBuilder::new().operation_id(&id).parameter(param, format!("$response.body#/{field}"));
                links.push((parent.clone(), id, link.build()));
            }
        }
    }
    for (parent, id, link) in links {
        let create = api.paths.paths.get_mut(&parent).and_then(|item| item.post.as_mut());
        if let Some(RefOr::T(created)) = create.and_then(|op| op.responses.responses.get_mut("201")) {
            created.links.insert(id, RefOr::T(link));
        }
    }
}

/// The document as pretty JSON: what `crm openapi` prints and `openapi/openapi.json` holds.
pub fn spec_json() -> String {
    let mut text = to_json(&spec(), true);
    text.push('\n');
    text
}

/// The document as JSON. utoipa 5.5 writes a link's `operationId` as `operation_id` (its `Link`
/// has no camelCase rename). No other key of the document is `operation_id`, which a test
/// checks, and inside a string value the quotes would be escaped.
pub fn to_json(api: &OpenApi, pretty: bool) -> String {
    let text = if pretty { api.to_pretty_json() } else { api.to_json() };
    text.unwrap_or_default().replace("\"operation_id\":", "\"operationId\":")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_error_code_is_documented_somewhere() {
        let text = spec_json();
        for code in ErrorCode::ALL {
            assert!(text.contains(&format!("`{}`", code.as_str())), "{} is not in the spec", code.as_str());
        }
    }

    /// `null` clears a patched field, so it must match exactly one branch of each `oneOf`.
    #[test]
    fn null_matches_one_branch_of_a_one_of() {
        fn null_branches(schema: &serde_json::Value) -> usize {
            let takes_null = |branch: &serde_json::Value| match &branch["type"] {
                serde_json::Value::String(t) => t == "null",
                serde_json::Value::Array(types) => types.iter().any(|t| t == "null"),
                _ => false,
            };
            schema["oneOf"].as_array().map_or(0, |branches| branches.iter().filter(|b| takes_null(b)).count())
        }
        fn walk(value: &serde_json::Value, at: &str) {
            assert!(null_branches(value) <= 1, "null matches two branches at {at}");
            match value {
                serde_json::Value::Object(map) => map.iter().for_each(|(k, v)| walk(v, &format!("{at}/{k}"))),
                serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, at)),
                _ => {}
            }
        }
        let doc: serde_json::Value = serde_json::from_str(&spec_json()).unwrap();
        walk(&doc, "");
        let patch = &doc["components"]["schemas"]["RewardPatch"]["properties"]["stock"];
        assert_eq!(patch["type"], serde_json::json!(["integer", "null"]), "{patch}");
    }

    #[test]
    fn free_text_fields_publish_the_characters_they_take() {
        let api = spec();
        let schemas = &api.components.as_ref().unwrap().schemas;
        let pattern = |schema: &str, field: &str| {
            let Some(RefOr::T(Schema::Object(o))) = schemas.get(schema) else { panic!("{schema}") };
            let text = match &o.properties[field] {
                RefOr::T(Schema::OneOf(one_of)) => &one_of.items[0],
                text => text,
            };
            match text {
                RefOr::T(Schema::Object(text)) => text.pattern.clone(),
                _ => None,
            }
        };
        let text = Some(TEXT_PATTERN.to_owned());
        // A body's own field, a nested schema's, one only a nested array reaches, a merge patch's.
        assert_eq!(pattern("CustomerInput", "first_name"), text);
        assert_eq!(pattern("Address", "line1"), text);
        assert_eq!(pattern("PurchaseItemInput", "name"), text);
        assert_eq!(pattern("SegmentPatch", "name"), text);
        // Tags state theirs where they are declared (`customer::tags_schema`).
        let customer = serde_json::to_value(&schemas["CustomerInput"]).unwrap();
        assert_eq!(customer["properties"]["tags"]["items"]["pattern"], TEXT_PATTERN);
        assert_eq!(customer["properties"]["tags"]["items"]["maxLength"], 64);
        // Its own rule stays; a password takes any character; a response alone is not an input.
        assert!(pattern("Address", "country").is_some_and(|own| own.starts_with("^([A-Za-z]{2}|")));
        assert_eq!(pattern("NewUser", "password"), None);
        assert_eq!(pattern("Customer", "first_name"), None);
    }

    /// The names of a path's parameters, in order: `/v1/pipelines/{id}/stages/{stage_id}` → id, stage_id.
    fn path_params(path: &str) -> Vec<&str> {
        path.split('{').skip(1).filter_map(|s| s.split_once('}').map(|(name, _)| name)).collect()
    }

    /// Every link names an operation that exists under the create's path, gives its one path
    /// parameter, and reads it from a field the 201 body has; `operationId` is spelled as the
    /// spec says, and nothing else in the document was renamed to it.
    #[test]
    fn links_from_creates_resolve() {
        let text = spec_json();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut operations = std::collections::HashMap::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for op in item.as_object().unwrap().values() {
                operations.insert(op["operationId"].as_str().unwrap().to_owned(), path.clone());
            }
        }
        let mut count = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            let created = &item["post"]["responses"]["201"];
            let schema = created["content"]["application/json"]["schema"]["$ref"].as_str().unwrap_or_default();
            let body = &doc["components"]["schemas"][schema.trim_start_matches("#/components/schemas/")];
            for (name, link) in created["links"].as_object().into_iter().flatten() {
                let target = &operations[link["operationId"].as_str().unwrap()];
                assert!(target.starts_with(&format!("{path}/{{")), "{path} links to {target}");
                let parameters = link["parameters"].as_object().unwrap();
                let given: Vec<&str> = parameters.keys().map(String::as_str).collect();
                assert_eq!(given, path_params(target), "{path} → {name}");
                let field = parameters.values().next().and_then(|v| v.as_str()?.strip_prefix("$response.body#/"));
                assert!(body["properties"][field.unwrap()].is_object(), "{path} → {name}: no such field in the body");
                count += 1;
            }
        }
        assert_eq!(count, 79, "links from creates");
        assert_eq!(text.matches("\"operationId\":").count(), operations.len() + count);
    }

    #[test]
    fn patch_schemas_make_every_field_optional() {
        let text = spec_json();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let patch = &doc["components"]["schemas"]["CustomerPatch"];
        assert!(patch.is_object(), "CustomerPatch schema missing");
        assert!(patch.get("required").is_none_or(|r| r.as_array().is_some_and(|a| a.is_empty())));
    }
}
