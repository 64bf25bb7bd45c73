//! Coupons: create, read, merge-patch (terms fixed once redeemed), soft delete and restore,
//! lists; `validate` (no side effects, for checkouts) and `redeem` (idempotent, limits held
//! under concurrency) by code; each coupon's redemptions and history.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use crm_domain::access::Scope;
use crm_domain::audit::AuditEvent;
use crm_domain::coupon::{
    Coupon, CouponCheck, CouponFilter, CouponInput, CouponRedemption, CouponSort, CouponValidation, RedeemInput,
    VoidInput, normalise_code,
};
use crm_domain::page::{Cursor, Page, paginate};
use crm_domain::patch::merge;
use crm_domain::{CouponId, CouponRedemptionId, CustomerId, SegmentId};
use crm_store::{audit, coupons};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::interactions::search_query;
use super::users::PageParams;
use super::{created, decode_cursor, page_limit, versioned};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{IfMatch, JsonBody, QueryParams, require_idempotency_key};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_coupon)
        .service(list_coupons)
        .service(get_coupon)
        .service(update_coupon)
        .service(delete_coupon)
        .service(restore_coupon)
        .service(coupon_history)
        .service(validate_coupon)
        .service(redeem_coupon)
        .service(list_redemptions)
        .service(get_redemption)
        .service(void_redemption);
}

crate::merge_patch_schema!(CouponPatch, CouponInput);

fn location(coupon: &Coupon) -> String {
    format!("/v1/coupons/{}", coupon.id)
}

/// Where a redemption is found: `GET /v1/coupons/{id}/redemptions/{redemption_id}`.
pub fn redemption_location(redemption: &CouponRedemption) -> String {
    format!("/v1/coupons/{}/redemptions/{}", redemption.coupon_id, redemption.id)
}

/// `201` for a redemption, with `ETag` `"1"`, or `"2"` once voided (its only change), as a
/// rebuilt answer may show it.
pub fn redeemed(redemption: &CouponRedemption) -> HttpResponse {
    let version = if redemption.voided_at.is_some() { 2 } else { 1 };
    created(redemption_location(redemption), version, redemption)
}

/// Create a coupon. The code is trimmed and upper-cased; a live coupon with the same code is
/// 409 `coupon_code_taken`.
#[utoipa::path(
    tag = "coupons",
    request_body = CouponInput,
    responses(
        (status = 201, body = Coupon, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "Problem: `coupon_code_taken`")
    )
)]
#[post("/coupons")]
pub async fn create_coupon(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<CouponInput>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CouponsWrite)?;
    let input = body.0.validate()?;
    let coupon = coupons::create(&state.store, &caller.context(), input).await?;
    Ok(created(location(&coupon), coupon.version, &coupon))
}

/// Filters, order and paging of the coupon list.
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
    /// Only active (`true`) or inactive (`false`) coupons.
    active: Option<bool>,
    /// The coupon with this code (any case).
    #[param(example = "WINTER15")]
    code: Option<String>,
    /// Coupons restricted to this segment.
    segment_id: Option<SegmentId>,
    /// Case-insensitive search in the code and the name.
    q: Option<String>,
    /// `true` lists deleted (restorable) coupons instead.
    deleted: Option<bool>,
}

fn sort_schema() -> utoipa::openapi::Object {
    crate::openapi::sort_schema(&CouponSort::ACCEPTED, "Default `-created_at`, newest first.")
}

/// List coupons.
#[utoipa::path(tag = "coupons", params(ListParams), responses((status = 200, body = Page<Coupon>)))]
#[get("/coupons")]
pub async fn list_coupons(
    state: web::Data<AppState>,
    caller: Caller,
    query: QueryParams<ListParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CouponsRead)?;
    let params = query.0;
    let limit = page_limit(params.limit)?;
    let sort = match params.sort.as_deref() {
        None => CouponSort::default(),
        Some(s) => CouponSort::parse(s).ok_or_else(|| {
            ApiError::parameter("sort", format!("must be one of {}", CouponSort::ACCEPTED.join(", ")))
        })?,
    };
    let after = decode_cursor(params.cursor.as_deref(), sort.as_str())?;
    let code = match params.code.as_deref() {
        None => None,
        Some(raw) => Some(
            normalise_code(raw)
                .ok_or_else(|| ApiError::parameter("code", "must be 3 to 64 of A-Z, 0-9, `_` and `-`"))?,
        ),
    };
    let filter = CouponFilter {
        active: params.active,
        code,
        segment_id: params.segment_id,
        q: search_query(params.q.as_deref())?,
        deleted: params.deleted.unwrap_or(false),
    };
    let rows = coupons::list(&state.store, caller.workspace_id, &filter, sort, after.as_ref(), limit).await?;
    Ok(HttpResponse::Ok().json(paginate(rows, limit, |c| coupons::cursor_after(sort, c))))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GetParams {
    /// `true` returns the coupon even when it is deleted.
    include_deleted: Option<bool>,
}

/// One coupon.
#[utoipa::path(
    tag = "coupons",
    params(("id" = CouponId, Path), GetParams),
    responses((status = 200, body = Coupon, headers(("ETag" = String))))
)]
#[get("/coupons/{id}")]
pub async fn get_coupon(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<CouponId>,
    query: QueryParams<GetParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CouponsRead)?;
    let include_deleted = query.0.include_deleted.unwrap_or(false);
    let coupon = coupons::get(&state.store, caller.workspace_id, id.into_inner(), include_deleted).await?;
    Ok(versioned(coupon.version, &coupon))
}

/// Update a coupon with a JSON Merge Patch (RFC 7396): absent fields stay, `null` clears.
///
/// Once the coupon has been redeemed its `code`, `discount_type`, `percent_off`,
/// `amount_off_minor` and `currency` are fixed (409 `coupon_in_use`: create a new coupon), and
/// `max_redemptions` cannot go below `redemption_count`. Redemptions do not change `version`.
#[utoipa::path(
    tag = "coupons",
    params(("id" = CouponId, Path)),
    request_body(content = CouponPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, body = Coupon, headers(("ETag" = String))),
        (status = 409, description = "Problem: `coupon_in_use`, `coupon_code_taken`"),
        (status = 412, description = "version_mismatch")
    )
)]
#[patch("/coupons/{id}")]
pub async fn update_coupon(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<CouponId>,
    if_match: IfMatch,
    body: JsonBody<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CouponsWrite)?;
    let patch = body.0;
    let coupon = coupons::update(&state.store, &caller.context(), id.into_inner(), if_match.0, |current| {
        merge(&current.data, patch.clone())?.validate()
    })
    .await?;
    Ok(versioned(coupon.version, &coupon))
}

/// Delete a coupon (soft: restorable with `POST /v1/coupons/{id}/restore`). It can no longer
/// be redeemed and its code is free for a new coupon; its redemptions stay readable.
#[utoipa::path(
    tag = "coupons",
    params(("id" = CouponId, Path)),
    responses((status = 204, description = "Deleted"), (status = 412, description = "version_mismatch"))
)]
#[delete("/coupons/{id}")]
pub async fn delete_coupon(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<CouponId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CouponsWrite)?;
    coupons::set_deleted(&state.store, &caller.context(), id.into_inner(), if_match.0, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a deleted coupon; 409 `coupon_code_taken` when a live coupon has its code now.
#[utoipa::path(
    tag = "coupons",
    params(("id" = CouponId, Path)),
    responses(
        (status = 200, body = Coupon, headers(("ETag" = String))),
        (status = 409, description = "Problem: `coupon_code_taken`"),
        (status = 412, description = "version_mismatch")
    )
)]
#[post("/coupons/{id}/restore")]
pub async fn restore_coupon(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<CouponId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CouponsWrite)?;
    let coupon = coupons::set_deleted(&state.store, &caller.context(), id.into_inner(), if_match.0, false).await?;
    Ok(versioned(coupon.version, &coupon))
}

/// The audit history of a coupon, newest first (its redemptions are listed under
/// `/redemptions`).
#[utoipa::path(
    tag = "coupons",
    params(("id" = CouponId, Path), PageParams),
    responses((status = 200, body = Page<AuditEvent>))
)]
#[get("/coupons/{id}/history")]
pub async fn coupon_history(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<CouponId>,
    query: QueryParams<PageParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CouponsRead)?;
    let id = id.into_inner();
    let limit = page_limit(query.0.limit)?;
    let after = decode_cursor(query.0.cursor.as_deref(), super::BY_ID)?;
    coupons::get(&state.store, caller.workspace_id, id, true).await?;
    let events =
        audit::history(&state.store, caller.workspace_id, "coupon", id.0, after.map(|c: Cursor| c.id), limit).await?;
    Ok(HttpResponse::Ok().json(paginate(events, limit, |e| super::id_cursor(e.id.0))))
}

/// Check a code for a customer and an order without redeeming it: for checkouts.
///
/// Answers 200 with `valid` and the discount, or `valid: false` with the `reason` that
/// `redeem` would answer. A code no live coupon has is 404; an unknown customer is 422.
#[utoipa::path(
    tag = "coupons",
    params(("code" = String, Path, description = "The coupon code, any case", example = "WINTER15")),
    request_body = CouponCheck,
    responses((status = 200, body = CouponValidation))
)]
#[post("/coupons/{code}/validate")]
pub async fn validate_coupon(
    state: web::Data<AppState>,
    caller: Caller,
    code: web::Path<String>,
    body: JsonBody<CouponCheck>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CouponsRead)?;
    let (customer, order) = body.0.validate()?;
    let answer = coupons::check(&state.store, caller.workspace_id, &code, customer, &order).await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// Redeem a coupon for a customer. Requires an `Idempotency-Key` (400
/// `idempotency_key_required` without): a retry
/// with the same key and body replays the first answer and redeems nothing more.
///
/// The limits hold under concurrency: of many parallel redemptions at the limit, exactly as
/// many succeed as the limit allows. Refusals: 422 `coupon_inactive`, `coupon_not_yet_valid`,
/// `coupon_expired`, `coupon_not_eligible` (outside the coupon's segment), `currency_mismatch`,
/// `min_order_not_met`; 409 `coupon_exhausted` (overall limit), `coupon_limit_reached` (the
/// customer's limit), `coupon_already_redeemed` (same `external_order_id`, not voided). A percent coupon
/// needs `order_amount_minor`.
#[utoipa::path(
    tag = "coupons",
    params(("code" = String, Path, description = "The coupon code, any case", example = "WINTER15")),
    request_body = RedeemInput,
    responses(
        (status = 201, body = CouponRedemption, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "Problem: `coupon_exhausted`, `coupon_limit_reached`, `coupon_already_redeemed`"),
        (status = 422, description = "Problem: `coupon_inactive`, `coupon_not_yet_valid`, `coupon_expired`, `coupon_not_eligible`, `currency_mismatch`, `min_order_not_met`"),
        (status = 400, description = "`idempotency_key_required`: no `Idempotency-Key` header")
    )
)]
#[post("/coupons/{code}/redeem")]
pub async fn redeem_coupon(
    state: web::Data<AppState>,
    caller: Caller,
    request: HttpRequest,
    code: web::Path<String>,
    body: JsonBody<RedeemInput>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CouponsWrite)?;
    require_idempotency_key(
        &request,
        "redeeming needs an Idempotency-Key header, so that a retry cannot redeem twice",
    )?;
    let redeem = body.0.validate()?;
    let redemption = coupons::redeem(&state.store, &caller.context(), &code, redeem).await?;
    Ok(redeemed(&redemption))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RedemptionParams {
    /// 1 to 200; default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only this customer's redemptions.
    customer_id: Option<CustomerId>,
}

/// A coupon's redemptions, newest first (deleted coupons included).
#[utoipa::path(
    tag = "coupons",
    params(("id" = CouponId, Path), RedemptionParams),
    responses((status = 200, body = Page<CouponRedemption>))
)]
#[get("/coupons/{id}/redemptions")]
pub async fn list_redemptions(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<CouponId>,
    query: QueryParams<RedemptionParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CouponsRead)?;
    let params = query.0;
    let limit = page_limit(params.limit)?;
    let after = decode_cursor(params.cursor.as_deref(), super::BY_ID)?;
    let rows = coupons::list_redemptions(
        &state.store,
        caller.workspace_id,
        id.into_inner(),
        params.customer_id,
        after.map(|c| c.id),
        limit,
    )
    .await?;
    Ok(HttpResponse::Ok().json(paginate(rows, limit, |r| super::id_cursor(r.id.0))))
}

/// One redemption of a coupon.
#[utoipa::path(
    tag = "coupons",
    params(("id" = CouponId, Path), ("redemption_id" = CouponRedemptionId, Path)),
    responses((status = 200, body = CouponRedemption))
)]
#[get("/coupons/{id}/redemptions/{redemption_id}")]
pub async fn get_redemption(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(CouponId, CouponRedemptionId)>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CouponsRead)?;
    let (coupon, id) = path.into_inner();
    let redemption = coupons::get_redemption(&state.store, caller.workspace_id, coupon, id).await?;
    Ok(HttpResponse::Ok().json(redemption))
}

/// Void a redemption, when its order was cancelled or never paid.
///
/// The redemption stays on record with `voided_at` and the reason, but no longer counts
/// against the coupon's overall and per-customer limits, and its `external_order_id` may
/// redeem the coupon again. Voiding a voided redemption changes nothing and answers it as it
/// is, so a retry is harmless.
#[utoipa::path(
    tag = "coupons",
    params(("id" = CouponId, Path), ("redemption_id" = CouponRedemptionId, Path)),
    request_body = VoidInput,
    responses((status = 200, body = CouponRedemption))
)]
#[post("/coupons/{id}/redemptions/{redemption_id}/void")]
pub async fn void_redemption(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(CouponId, CouponRedemptionId)>,
    body: JsonBody<VoidInput>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CouponsWrite)?;
    let input = body.0.validate()?;
    let (coupon, id) = path.into_inner();
    let redemption = coupons::void_redemption(&state.store, &caller.context(), coupon, id, input).await?;
    Ok(HttpResponse::Ok().json(redemption))
}
