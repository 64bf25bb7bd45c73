//! Purchases: record one or a batch (a re-sent order is recognised by its `external_order_id`),
//! read, list by customer, channel, status and time, refund, and the history. There is no PATCH or DELETE:
//! a purchase is a fact, corrected by a refund.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use crm_domain::access::Scope;
use crm_domain::audit::AuditEvent;
use crm_domain::page::{Cursor, Page, paginate};
use crm_domain::purchase::{
    Channel, EXTERNAL_ORDER_ID_MAX, Purchase, PurchaseFilter, PurchaseInput, PurchaseSort, PurchaseStatus, RefundInput,
};
use crm_domain::{CustomerId, PurchaseId, ValidationErrors};
use crm_store::purchases::{self, Recorded};
use crm_store::{StoreError, audit};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use super::interactions::comma_list;
use super::users::PageParams;
use super::{created, decode_cursor, page_limit, versioned};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorCode, Problem};
use crate::extract::{BATCH_BODY_LIMIT, IfMatch, JsonBody, OptionalJsonBody, QueryParams, require_idempotency_key};
use crate::state::AppState;

/// The most purchases one batch may carry.
pub const BATCH_MAX: usize = 500;

pub fn configure(cfg: &mut ServiceConfig) {
    // The batch route first (its own body limit), so `/purchases/{id}` never claims `batch`.
    cfg.service(scope::scope("/purchases/batch").app_data(web::PayloadConfig::new(BATCH_BODY_LIMIT)).service(batch))
        .service(create_purchase)
        .service(list_purchases)
        .service(get_purchase)
        .service(refund_purchase)
        .service(purchase_history);
}

fn location(purchase: &Purchase) -> String {
    format!("/v1/purchases/{}", purchase.id)
}

/// 201 for a new purchase; 200 (same headers) for an order the workspace already holds.
fn recorded_response(recorded: Recorded) -> HttpResponse {
    let Recorded { purchase, created: is_new } = recorded;
    if is_new {
        return created(location(&purchase), purchase.version, &purchase);
    }
    let mut response = versioned(purchase.version, &purchase);
    if let Ok(value) = header::HeaderValue::from_str(&location(&purchase)) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Record a purchase with its line items.
///
/// `total_minor` must equal `sum(quantity × unit_price_minor) − discount_minor + tax_minor +
/// shipping_minor` (422 `total_minor`/`total_mismatch` names the computed total); amounts too
/// large to add up are 422 `too_large`. The customer must be a live customer of the workspace.
///
/// An order sent again with an `external_order_id` the workspace already holds is not recorded
/// twice: the answer is **200** with the purchase recorded first (the new body is not compared).
/// A purchase cannot be edited or deleted; correct it with a refund.
#[utoipa::path(
    tag = "purchases",
    request_body = PurchaseInput,
    responses(
        (status = 201, body = Purchase, headers(("Location" = String), ("ETag" = String))),
        (status = 200, description = "The order was recorded before (same `external_order_id`)", body = Purchase, headers(("Location" = String), ("ETag" = String)))
    )
)]
#[post("/purchases")]
pub async fn create_purchase(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<PurchaseInput>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::PurchasesWrite)?;
    let new = body.0.validate(Utc::now())?;
    let recorded = purchases::create(&state.store, &caller.context(), new).await?;
    Ok(recorded_response(recorded))
}

/// The body of `POST /v1/purchases/batch`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseBatch {
    /// 1 to 500 purchases, each as `POST /v1/purchases` takes it.
    #[schema(min_items = 1, max_items = 500)]
    purchases: Vec<PurchaseInput>,
}

/// What happened to one purchase of a batch.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"index": 0, "status": 201, "purchase": {"id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1d"}}))]
pub struct BatchItemResult {
    /// Position in the request's `purchases`.
    index: usize,
    /// 201 recorded, 200 already recorded (same `external_order_id`), else the problem's status.
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    purchase: Option<Purchase>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<Problem>,
}

/// The answer to a batch: one result per purchase, in the request's order.
#[derive(Serialize, ToSchema)]
pub struct BatchResults {
    results: Vec<BatchItemResult>,
}

/// Record up to 500 purchases in one call (body up to 8 MiB).
///
/// The batch is checked first as a whole, as the single create checks one purchase: if any
/// purchase is invalid, nothing is recorded and the answer is 422 naming the bad fields by
/// their place (`purchases[3].currency`); a purchase that is not even of the right shape
/// (an unknown field, a wrong type) is named alone. Then each purchase is written on its own,
/// in order, and the answer is 200 with a result per purchase: `status` 201 with the `purchase`, 200
/// with the purchase already recorded under that `external_order_id`, or the problem document
/// (`problem`) the single create would have answered for what only the database can tell (a
/// customer that is not in the workspace). A batch sent again is safe: its orders with an
/// `external_order_id` are not recorded twice.
#[utoipa::path(
    tag = "purchases",
    request_body = PurchaseBatch,
    responses((status = 200, description = "One result per purchase, in order", body = BatchResults))
)]
#[post("")]
pub async fn batch(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<PurchaseBatch>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::PurchasesWrite)?;
    let items = body.0.purchases;
    if items.is_empty() {
        return Err(ValidationErrors::single("purchases", "required", "send at least one purchase").into());
    }
    if items.len() > BATCH_MAX {
        return Err(ValidationErrors::single("purchases", "too_many", format!("at most {BATCH_MAX} per batch")).into());
    }
    let now = Utc::now();
    let mut valid = Vec::with_capacity(items.len());
    let mut errors = ValidationErrors::default();
    for (index, input) in items.into_iter().enumerate() {
        match input.validate(now) {
            Ok(new) => valid.push(new),
            Err(item) => errors.0.extend(item.0.into_iter().map(|mut e| {
                e.field = match e.field.as_str() {
                    "" => format!("purchases[{index}]"),
                    field => format!("purchases[{index}].{field}"),
                };
                e
            })),
        }
    }
    errors.into_result(())?;
    let mut results = Vec::with_capacity(valid.len());
    for (index, new) in valid.into_iter().enumerate() {
        results.push(match purchases::create(&state.store, &caller.context(), new).await {
            Ok(Recorded { purchase, created }) => BatchItemResult {
                index,
                status: if created { 201 } else { 200 },
                purchase: Some(purchase),
                problem: None,
            },
            Err(error) => {
                let problem = ApiError::from(error).problem();
                BatchItemResult { index, status: problem.status, purchase: None, problem: Some(problem) }
            }
        });
    }
    Ok(HttpResponse::Ok().json(BatchResults { results }))
}

/// Filters, order and paging of the purchase list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1 to 200; default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page (with the same `sort`).
    cursor: Option<String>,
    #[param(schema_with = sort_schema)]
    sort: Option<String>,
    /// One customer's purchases.
    customer_id: Option<CustomerId>,
    /// One channel or a comma-separated list: `store`, `web`, `phone`, `marketplace`.
    #[param(example = "web,marketplace")]
    channel: Option<String>,
    /// One status or a comma-separated list: `completed`, `partially_refunded`, `refunded`.
    status: Option<String>,
    /// Purchases made at or after this instant.
    #[serde(default, deserialize_with = "crate::extract::instant")]
    occurred_after: Option<DateTime<Utc>>,
    /// Purchases made before this instant.
    #[serde(default, deserialize_with = "crate::extract::instant")]
    occurred_before: Option<DateTime<Utc>>,
    /// The purchase with this shop order number.
    external_order_id: Option<String>,
}

fn sort_schema() -> utoipa::openapi::Object {
    crate::openapi::sort_schema(&PurchaseSort::ACCEPTED, "Default `-occurred_at`, newest first.")
}

/// List purchases, newest first by default; `?customer_id=` gives one customer's history.
#[utoipa::path(tag = "purchases", params(ListParams), responses((status = 200, body = Page<Purchase>)))]
#[get("/purchases")]
pub async fn list_purchases(
    state: web::Data<AppState>,
    caller: Caller,
    query: QueryParams<ListParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::PurchasesRead)?;
    let params = query.0;
    let limit = page_limit(params.limit)?;
    let sort = match params.sort.as_deref() {
        None => PurchaseSort::default(),
        Some(s) => PurchaseSort::parse(s).ok_or_else(|| {
            ApiError::parameter("sort", format!("must be one of {}", PurchaseSort::ACCEPTED.join(", ")))
        })?,
    };
    let after = decode_cursor(params.cursor.as_deref(), sort.as_str())?;
    let filter = PurchaseFilter {
        customer_id: params.customer_id,
        channels: comma_list("channel", params.channel.as_deref(), Channel::parse)?,
        statuses: comma_list("status", params.status.as_deref(), PurchaseStatus::parse)?,
        occurred_after: params.occurred_after,
        occurred_before: params.occurred_before,
        external_order_id: order_id_param(params.external_order_id)?,
    };
    let rows = purchases::list(&state.store, caller.workspace_id, &filter, sort, after.as_ref(), limit).await?;
    Ok(HttpResponse::Ok().json(paginate(rows, limit, |p| purchases::cursor_after(sort, p))))
}

/// PostgreSQL text cannot hold NUL: refuse control characters here rather than fail in SQL.
fn order_id_param(raw: Option<String>) -> ApiResult<Option<String>> {
    match raw {
        Some(id) if id.chars().count() > EXTERNAL_ORDER_ID_MAX || id.chars().any(char::is_control) => {
            Err(ApiError::parameter(
                "external_order_id",
                format!("must be at most {EXTERNAL_ORDER_ID_MAX} characters, without control characters"),
            ))
        }
        id => Ok(id),
    }
}

/// One purchase with its line items and refunds.
#[utoipa::path(
    tag = "purchases",
    params(("id" = PurchaseId, Path)),
    responses((status = 200, body = Purchase, headers(("ETag" = String))))
)]
#[get("/purchases/{id}")]
pub async fn get_purchase(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<PurchaseId>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::PurchasesRead)?;
    let purchase = purchases::get(&state.store, caller.workspace_id, id.into_inner()).await?;
    Ok(versioned(purchase.version, &purchase))
}

/// Refund a purchase, in full or in part.
///
/// No body (or `{}`): everything left, every unit not yet given back. `items`: units by SKU;
/// the amount is their unit prices × quantity, at most the money left. `amount_minor`: money
/// only. Both `items` and `amount_minor` is a 422. More than is left (money or units) is 422
/// `refund_exceeds_remaining`; a purchase refunded in full is 409 `already_refunded`. Send
/// `If-Match` with the ETag you read to refund only the version you saw (412 when stale).
/// A partial refund (`items` or `amount_minor`) needs `Idempotency-Key` or `If-Match` (else 400
/// `idempotency_key_required`):
/// retried after a lost response without either, it would refund twice. A full refund needs
/// neither: its retry is a 409 `already_refunded`.
#[utoipa::path(
    tag = "purchases",
    params(("id" = PurchaseId, Path)),
    request_body(content = Option<RefundInput>, description = "Optional: no body (or `null`) refunds everything left"),
    responses(
        (status = 200, body = Purchase, headers(("ETag" = String))),
        (status = 409, description = "`already_refunded`: nothing is left to refund"),
        (status = 412, description = "`version_mismatch`: the purchase changed since the ETag you sent"),
        (status = 422, description = "`refund_exceeds_remaining`: more money or units than are left"),
        (status = 400, description = "`idempotency_key_required`: a partial refund without `Idempotency-Key` or `If-Match`")
    )
)]
#[post("/purchases/{id}/refund")]
pub async fn refund_purchase(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<PurchaseId>,
    if_match: IfMatch,
    body: OptionalJsonBody<RefundInput>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::PurchasesWrite)?;
    let input = body.0.validate()?;
    if input.is_partial() && if_match.0.is_none() {
        require_idempotency_key(
            &req,
            "a partial refund needs an Idempotency-Key header (or If-Match with the purchase's ETag), so that a \
             retry never refunds twice",
        )?;
    }
    let purchase = purchases::refund(&state.store, &caller.context(), id.into_inner(), if_match.0, &input)
        .await
        .map_err(refund_error)?;
    Ok(versioned(purchase.version, &purchase))
}

/// An over-refund is its own problem code, with the field that asked too much.
fn refund_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Invalid(errors) if errors.0.iter().any(|f| f.code == "refund_exceeds_remaining") => ApiError {
            errors: errors.0.clone(),
            ..ApiError::new(ErrorCode::RefundExceedsRemaining, errors.to_string())
        },
        other => other.into(),
    }
}

/// The audit history of a purchase, newest first: its create and each refund (action
/// `refund`, with the reason given).
#[utoipa::path(
    tag = "purchases",
    params(("id" = PurchaseId, Path), PageParams),
    responses((status = 200, body = Page<AuditEvent>))
)]
#[get("/purchases/{id}/history")]
pub async fn purchase_history(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<PurchaseId>,
    query: QueryParams<PageParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::PurchasesRead)?;
    let id = id.into_inner();
    let limit = page_limit(query.0.limit)?;
    let after = decode_cursor(query.0.cursor.as_deref(), super::BY_ID)?;
    if !purchases::exists(&state.store, caller.workspace_id, id).await? {
        return Err(ApiError::not_found());
    }
    let events =
        audit::history(&state.store, caller.workspace_id, purchases::ENTITY, id.0, after.map(|c: Cursor| c.id), limit)
            .await?;
    Ok(HttpResponse::Ok().json(paginate(events, limit, |e| super::id_cursor(e.id.0))))
}
