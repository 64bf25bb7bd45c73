//! Web forms: configured by workspace admins (`settings:admin`), read with `leads:read`; and the
//! public submission endpoint a site's form posts to, with CORS for the form's origins only,
//! a per-IP rate limit, a honeypot, and linking to an existing lead or customer by email.

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, delete, get, options, patch, post, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crm_domain::WebFormId;
use crm_domain::access::{Actor, Scope};
use crm_domain::audit::AuditEvent;
use crm_domain::page::{Cursor, Page, paginate};
use crm_domain::patch::merge;
use crm_domain::web_form::{SubmissionAccepted, WebForm, WebFormInput};
use crm_domain::{ValidationErrors, WorkspaceId};
use crm_store::web_forms::{self, SubmissionMeta};
use crm_store::{Context, audit};
use futures_util::StreamExt;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::users::PageParams;
use super::{BY_ID, created, decode_cursor, id_cursor, page_limit, versioned};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorCode, Problem};
use crate::extract::{IfMatch, JsonBody, QueryParams};
use crate::middleware::RequestId;
use crate::state::{AppState, check_rate};

/// A submission body may be at most this large.
const SUBMISSION_MAX_BYTES: usize = 64 * 1024;
/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: &str = "86400";

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_form)
        .service(list_forms)
        .service(get_form)
        .service(update_form)
        .service(delete_form)
        .service(restore_form)
        .service(rotate_token)
        .service(form_history)
        .service(submit_form)
        .service(preflight_submission);
}

crate::merge_patch_schema!(WebFormPatch, WebFormInput);

fn location(form: &WebForm) -> String {
    format!("/v1/web-forms/{}", form.id)
}

/// 192 random bits, base64url: public by design (it sits in the page), unguessable all the same.
fn new_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("wf_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Create a web form; the answer carries its public token and submission path.
#[utoipa::path(
    tag = "web-forms",
    request_body = WebFormInput,
    responses((status = 201, body = WebForm, headers(("Location" = String), ("ETag" = String))))
)]
#[post("/web-forms")]
pub async fn create_form(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<WebFormInput>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SettingsAdmin)?;
    let input = body.0.validate()?;
    let form = web_forms::create(&state.store, &caller.context(), input, new_token()).await?;
    Ok(created(location(&form), form.version, &form))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1 to 200; default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `true` lists deleted (restorable) forms instead.
    deleted: Option<bool>,
}

/// The workspace's web forms, newest first.
#[utoipa::path(tag = "web-forms", params(ListParams), responses((status = 200, body = Page<WebForm>)))]
#[get("/web-forms")]
pub async fn list_forms(
    state: web::Data<AppState>,
    caller: Caller,
    query: QueryParams<ListParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LeadsRead)?;
    let limit = page_limit(query.0.limit)?;
    let after = decode_cursor(query.0.cursor.as_deref(), BY_ID)?;
    let deleted = query.0.deleted.unwrap_or(false);
    let forms = web_forms::list(&state.store, caller.workspace_id, deleted, after.map(|c| c.id), limit).await?;
    Ok(HttpResponse::Ok().json(paginate(forms, limit, |f| id_cursor(f.id.0))))
}

/// One web form.
#[utoipa::path(
    tag = "web-forms",
    params(("id" = WebFormId, Path)),
    responses((status = 200, body = WebForm, headers(("ETag" = String))))
)]
#[get("/web-forms/{id}")]
pub async fn get_form(state: web::Data<AppState>, caller: Caller, id: web::Path<WebFormId>) -> ApiResult<HttpResponse> {
    caller.require(Scope::LeadsRead)?;
    let form = web_forms::get(&state.store, caller.workspace_id, id.into_inner(), false).await?;
    Ok(versioned(form.version, &form))
}

/// Change a web form with a JSON Merge Patch (`active: false` pauses submissions).
#[utoipa::path(
    tag = "web-forms",
    params(("id" = WebFormId, Path)),
    request_body(content = WebFormPatch, content_type = "application/merge-patch+json"),
    responses((status = 200, body = WebForm, headers(("ETag" = String))), (status = 412, description = "version_mismatch"))
)]
#[patch("/web-forms/{id}")]
pub async fn update_form(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<WebFormId>,
    if_match: IfMatch,
    body: JsonBody<Value>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SettingsAdmin)?;
    let patch = body.0;
    let form = web_forms::update(&state.store, &caller.context(), id.into_inner(), if_match.0, |current| {
        merge(&current.input(), patch.clone())?.validate()
    })
    .await?;
    Ok(versioned(form.version, &form))
}

/// Delete a web form (soft: its token stops working; restorable).
#[utoipa::path(
    tag = "web-forms",
    params(("id" = WebFormId, Path)),
    responses((status = 204, description = "Deleted"), (status = 412, description = "version_mismatch"))
)]
#[delete("/web-forms/{id}")]
pub async fn delete_form(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<WebFormId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SettingsAdmin)?;
    web_forms::set_deleted(&state.store, &caller.context(), id.into_inner(), if_match.0, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a deleted web form. Restoring a live form changes nothing.
#[utoipa::path(
    tag = "web-forms",
    params(("id" = WebFormId, Path)),
    responses((status = 200, body = WebForm, headers(("ETag" = String))), (status = 412, description = "version_mismatch"))
)]
#[post("/web-forms/{id}/restore")]
pub async fn restore_form(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<WebFormId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SettingsAdmin)?;
    let form = web_forms::set_deleted(&state.store, &caller.context(), id.into_inner(), if_match.0, false).await?;
    Ok(versioned(form.version, &form))
}

/// Give the form a new public token; pages embedding the old one get 404 from now on.
#[utoipa::path(
    tag = "web-forms",
    params(("id" = WebFormId, Path)),
    responses((status = 200, body = WebForm, headers(("ETag" = String))), (status = 412, description = "version_mismatch"))
)]
#[post("/web-forms/{id}/rotate-token")]
pub async fn rotate_token(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<WebFormId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SettingsAdmin)?;
    let form =
        web_forms::rotate_token(&state.store, &caller.context(), id.into_inner(), if_match.0, new_token()).await?;
    Ok(versioned(form.version, &form))
}

/// The audit history of a web form, newest first.
#[utoipa::path(
    tag = "web-forms",
    params(("id" = WebFormId, Path), PageParams),
    responses((status = 200, body = Page<AuditEvent>))
)]
#[get("/web-forms/{id}/history")]
pub async fn form_history(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<WebFormId>,
    query: QueryParams<PageParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LeadsRead)?;
    let id = id.into_inner();
    let limit = page_limit(query.0.limit)?;
    let after = decode_cursor(query.0.cursor.as_deref(), BY_ID)?;
    if !web_forms::exists(&state.store, caller.workspace_id, id).await? {
        return Err(ApiError::not_found());
    }
    let events =
        audit::history(&state.store, caller.workspace_id, "web_form", id.0, after.map(|c: Cursor| c.id), limit).await?;
    Ok(HttpResponse::Ok().json(paginate(events, limit, |e| id_cursor(e.id.0))))
}

/// The fields of a submission: strings, numbers, booleans, or lists of them.
pub struct SubmissionFields;

impl utoipa::PartialSchema for SubmissionFields {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
        let scalar = || {
            OneOfBuilder::new()
                .item(ObjectBuilder::new().schema_type(Type::String))
                .item(ObjectBuilder::new().schema_type(Type::Number))
                .item(ObjectBuilder::new().schema_type(Type::Boolean))
        };
        let value = scalar().item(ArrayBuilder::new().items(scalar()));
        ObjectBuilder::new()
            .additional_properties(Some(AdditionalProperties::RefOr(value.into())))
            .description(Some("The submitted fields: strings, numbers, booleans, or lists of them."))
            .examples([
                serde_json::json!({"email": "visitor@example.com", "name": "Olena Kovalenko", "utm_source": "ads"}),
            ])
            .into()
    }
}

impl ToSchema for SubmissionFields {}

fn origin_of(req: &HttpRequest) -> Option<String> {
    req.headers().get(header::ORIGIN).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// `Access-Control-Allow-Origin` for an origin the form allows; nothing for any other.
fn allow_origin(response: &mut HttpResponse, form: &WebForm, origin: Option<&str>) {
    let Some(origin) = origin.filter(|o| form.allows_origin(o)) else { return };
    if let Ok(value) = HeaderValue::from_str(origin) {
        response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        response.headers_mut().insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}

fn client_ip(req: &HttpRequest) -> String {
    req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default()
}

/// The live, active form with this token: anything else is a plain 404.
async fn form_for(state: &AppState, token: &str) -> ApiResult<(WorkspaceId, WebForm)> {
    if token.len() > 100 {
        return Err(ApiError::not_found());
    }
    web_forms::by_token(&state.store, token).await.map_err(ApiError::from)
}

/// Submit a web form (public: no credentials; any sent are ignored).
///
/// Post JSON or `application/x-www-form-urlencoded` (what a plain HTML form sends), at most
/// 64 KiB. Fields map to the lead as the form's `field_mapping` says; the rest is kept in
/// `form_data`. A submission whose email belongs to a live customer or lead is linked to it;
/// otherwise a lead (source `web_form`) is created. The answer never names the lead or
/// customer. From a browser, the page's `Origin` must be one of the form's
/// `allowed_origins` (403 otherwise), and the answer carries `Access-Control-Allow-Origin`.
/// Rate limited per client IP (`CRM_FORM_SUBMISSIONS_PER_MINUTE`).
#[utoipa::path(
    tag = "web-forms",
    security(()),
    params(("public_token" = String, Path, description = "The form's `public_token`.", max_length = 100)),
    request_body(content(
        (SubmissionFields = "application/json"),
        (SubmissionFields = "application/x-www-form-urlencoded")
    )),
    responses(
        (status = 202, body = SubmissionAccepted, description = "Accepted (also when the honeypot caught it)",
         headers(("Access-Control-Allow-Origin" = String, description = "The request's Origin, when the form allows it"))),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Problem: `forbidden` (origin not allowed)")
    )
)]
#[post("/forms/{public_token}/submissions")]
pub async fn submit_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let limited = check_rate(
        &state.form_limiter,
        &format!("form:{}", client_ip(&req)),
        "slow down: too many form submissions from this address",
    );
    if let Err(error) = limited {
        return error.error_response();
    }
    let (ws, form) = match form_for(&state, &token).await {
        Ok(found) => found,
        Err(error) => return error.error_response(),
    };
    let origin = origin_of(&req);
    let mut response = match accept(&state, &req, ws, &form, origin.as_deref(), payload).await {
        Ok(id) => HttpResponse::Accepted().json(SubmissionAccepted { id, status: "accepted" }),
        Err(error) => error.error_response(),
    };
    allow_origin(&mut response, &form, origin.as_deref());
    response
}

async fn accept(
    state: &AppState,
    req: &HttpRequest,
    ws: WorkspaceId,
    form: &WebForm,
    origin: Option<&str>,
    payload: web::Payload,
) -> ApiResult<uuid::Uuid> {
    if origin.is_some_and(|o| !form.allows_origin(o)) {
        return Err(ApiError::new(ErrorCode::Forbidden, "pages on this origin may not post this form"));
    }
    let bytes = read_limited(payload, SUBMISSION_MAX_BYTES).await?;
    let fields = parse_fields(req, &bytes)?;
    let Some(lead) = form.input().map_submission(fields.clone())? else {
        // The honeypot caught a bot: answer as if accepted, keep nothing.
        return Ok(uuid::Uuid::now_v7());
    };
    let header_text = |name: header::HeaderName| {
        req.headers().get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).chars().take(500).collect::<String>())
    };
    let meta = SubmissionMeta {
        payload: Value::Object(fields),
        origin: origin.map(|o| o.chars().take(500).collect()),
        ip: Some(client_ip(req)).filter(|ip| !ip.is_empty()),
        user_agent: header_text(header::USER_AGENT),
    };
    let ctx = Context {
        workspace_id: ws,
        actor: Actor::System,
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.to_string()),
        idempotency_key: None,
    };
    Ok(web_forms::submit(&state.store, &ctx, form, lead, meta).await?)
}

async fn read_limited(mut payload: web::Payload, limit: usize) -> ApiResult<Bytes> {
    let too_large = || ApiError::new(ErrorCode::PayloadTooLarge, "a form submission is at most 64 KiB");
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::new(ErrorCode::MalformedJson, format!("the body could not be read: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The submitted fields, from JSON or from a URL-encoded form (a repeated name, such as a
/// group of checkboxes, becomes a list).
fn parse_fields(req: &HttpRequest, bytes: &[u8]) -> ApiResult<Map<String, Value>> {
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match mime.as_str() {
        "application/json" => match crm_domain::patch::decode_slice::<Value>(bytes) {
            Ok(Value::Object(fields)) => Ok(fields),
            Ok(_) => Err(ValidationErrors::single("", "invalid_type", "the body must be a JSON object").into()),
            Err(_) => Err(ApiError::new(ErrorCode::MalformedJson, "the body is not valid JSON")),
        },
        "application/x-www-form-urlencoded" => {
            let mut fields = Map::new();
            for (name, value) in form_urlencoded::parse(bytes) {
                let value = Value::String(value.into_owned());
                match fields.get_mut(name.as_ref()) {
                    Some(Value::Array(values)) => values.push(value),
                    Some(first) => *first = Value::Array(vec![first.take(), value]),
                    None => {
                        fields.insert(name.into_owned(), value);
                    }
                }
            }
            Ok(fields)
        }
        _ => Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the form as `application/json` or `application/x-www-form-urlencoded`",
        )),
    }
}

/// CORS preflight for the submission endpoint: 204 with the allowed method and headers when
/// the form allows the `Origin`, 403 otherwise.
#[utoipa::path(
    tag = "web-forms",
    security(()),
    params(
        ("public_token" = String, Path, description = "The form's `public_token`.", max_length = 100),
        ("Origin" = Option<String>, Header, description = "The page's origin, sent by the browser")
    ),
    responses(
        (status = 204, description = "The origin may post the form",
         headers(
            ("Access-Control-Allow-Origin" = String),
            ("Access-Control-Allow-Methods" = String, description = "`POST`"),
            ("Access-Control-Allow-Headers" = String, description = "`Content-Type`"),
            ("Access-Control-Max-Age" = String)
         )),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Problem: `forbidden`"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "Problem: `not_found`"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "Problem: `rate_limited`"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "Problem: `service_unavailable`")
    )
)]
#[options("/forms/{public_token}/submissions")]
pub async fn preflight_submission(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> HttpResponse {
    let (_, form) = match form_for(&state, &token).await {
        Ok(found) => found,
        Err(error) => return error.error_response(),
    };
    let origin = origin_of(&req);
    if !origin.as_deref().is_some_and(|o| form.allows_origin(o)) {
        return ApiError::new(ErrorCode::Forbidden, "pages on this origin may not post this form").error_response();
    }
    let mut response = HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "POST"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "Content-Type"))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE))
        .finish();
    allow_origin(&mut response, &form, origin.as_deref());
    response
}
