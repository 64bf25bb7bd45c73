//! Loyalty: the workspace's program, each customer's points (summary, ledger, redeem, adjust)
//! and the consistency audit of every account.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use crm_domain::access::Scope;
use crm_domain::loyalty::{
    Adjust, AuditReport, LedgerEntry, LedgerKind, LedgerWrite, LoyaltySummary, Program, ProgramInput, Redeem,
};
use crm_domain::page::{Cursor, Page, paginate};
use crm_domain::{CustomerId, LedgerEntryId};
use crm_store::loyalty;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::interactions::comma_list;
use super::{decode_cursor, page_limit, versioned};
use crate::auth::Caller;
use crate::error::{ApiResult, Problem};
use crate::extract::{JsonBody, QueryParams, if_match_at_least, require_idempotency_key};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_program)
        .service(put_program)
        .service(loyalty_audit)
        .service(customer_loyalty)
        .service(customer_ledger)
        .service(ledger_entry)
        .service(redeem_points)
        .service(adjust_points);
}

/// Where a written entry can be read again.
pub fn entry_location(entry: &LedgerEntry) -> String {
    format!("/v1/customers/{}/loyalty/ledger/{}", entry.customer_id, entry.id)
}

/// `201 Created` with the entry's `Location`.
pub fn written(write: &LedgerWrite) -> HttpResponse {
    HttpResponse::Created().insert_header((header::LOCATION, entry_location(&write.entry))).json(write)
}

/// The workspace's loyalty program (the inactive default at version 0 until it is saved).
#[utoipa::path(tag = "loyalty", responses((status = 200, body = Program, headers(("ETag" = String)))))]
#[get("/loyalty/program")]
pub async fn get_program(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    caller.require(Scope::LoyaltyRead)?;
    let program = loyalty::program(&state.store, caller.workspace_id).await?;
    Ok(versioned(program.version, &program))
}

/// Replace the loyalty program (all fields; earning changes apply to later purchases only).
///
/// Send `If-Match` with the ETag you read (`"0"` before the first save) so that two admins
/// never overwrite each other; a stale one is answered 412 `version_mismatch`.
#[utoipa::path(
    tag = "loyalty",
    params(("If-Match" = Option<String>, Header, description = "The `ETag` you read; a stale one is answered 412.")),
    request_body = ProgramInput,
    responses(
        (status = 200, body = Program, headers(("ETag" = String))),
        (status = 412, description = "`version_mismatch`", body = Problem, content_type = "application/problem+json")
    )
)]
#[put("/loyalty/program")]
pub async fn put_program(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: JsonBody<ProgramInput>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SettingsAdmin)?;
    let if_match = if_match_at_least(&req, 0)?;
    let input = body.0.validate()?;
    let program = loyalty::put_program(&state.store, &caller.context(), if_match, input).await?;
    Ok(versioned(program.version, &program))
}

/// Check every points account of the workspace: balance = Σ ledger = Σ lots, and each
/// entry's `balance_after` follows from the one before. Computed in the database.
#[utoipa::path(tag = "loyalty", responses((status = 200, body = AuditReport)))]
#[get("/loyalty/audit")]
pub async fn loyalty_audit(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    caller.require(Scope::SettingsAdmin)?;
    let report = loyalty::audit(&state.store, caller.workspace_id).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// A customer's points: balance, tier, points to the next tier, what expires within 30 days.
#[utoipa::path(tag = "loyalty", params(("id" = CustomerId, Path)), responses((status = 200, body = LoyaltySummary)))]
#[get("/customers/{id}/loyalty")]
pub async fn customer_loyalty(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<CustomerId>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LoyaltyRead)?;
    let summary = loyalty::summary(&state.store, caller.workspace_id, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(summary))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LedgerParams {
    /// 1 to 200; default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// One kind or a comma-separated list: `earn`, `redeem`, `adjust`, `expire`, `reverse`.
    #[param(example = "earn,reverse")]
    kind: Option<String>,
}

const LEDGER_ORDER: &str = "-seq";

/// A customer's points ledger, newest first.
#[utoipa::path(
    tag = "loyalty",
    params(("id" = CustomerId, Path), LedgerParams),
    responses((status = 200, body = Page<LedgerEntry>))
)]
#[get("/customers/{id}/loyalty/ledger")]
pub async fn customer_ledger(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<CustomerId>,
    query: QueryParams<LedgerParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LoyaltyRead)?;
    let params = query.0;
    let limit = page_limit(params.limit)?;
    let kinds = comma_list("kind", params.kind.as_deref(), LedgerKind::parse)?;
    let after = decode_cursor(params.cursor.as_deref(), LEDGER_ORDER)?.map(|c| c.id);
    let entries = loyalty::ledger(&state.store, caller.workspace_id, id.into_inner(), &kinds, after, limit).await?;
    Ok(HttpResponse::Ok().json(paginate(entries, limit, |e| Cursor {
        sort: LEDGER_ORDER.to_owned(),
        at: None,
        id: e.id.0,
    })))
}

/// One entry of a customer's points ledger.
#[utoipa::path(
    tag = "loyalty",
    params(("id" = CustomerId, Path), ("entry_id" = LedgerEntryId, Path)),
    responses((status = 200, body = LedgerEntry))
)]
#[get("/customers/{id}/loyalty/ledger/{entry_id}")]
pub async fn ledger_entry(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(CustomerId, LedgerEntryId)>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LoyaltyRead)?;
    let (customer, entry) = path.into_inner();
    let entry = loyalty::entry(&state.store, caller.workspace_id, customer, entry).await?;
    Ok(HttpResponse::Ok().json(entry))
}

/// Redeem points: an amount, a reward (its `cost_points`, one of its stock), or both when the
/// amount equals the reward's cost.
///
/// `Idempotency-Key` is required: a retry after a lost response must never spend twice. The
/// balance never goes below zero, however many redemptions run at once: not enough points is
/// 422 `insufficient_points`. An exhausted reward is 409 `reward_out_of_stock`; an inactive or
/// deleted one is 422 on `reward_id`. The customer's first points write grants the program's
/// welcome bonus first.
#[utoipa::path(
    tag = "loyalty",
    params(("id" = CustomerId, Path)),
    request_body = Redeem,
    responses(
        (status = 201, body = LedgerWrite, headers(("Location" = String))),
        (status = 409, description = "`reward_out_of_stock`"),
        (status = 422, description = "`insufficient_points`"),
        (status = 400, description = "`idempotency_key_required`: send an `Idempotency-Key` header")
    )
)]
#[post("/customers/{id}/loyalty/redeem")]
pub async fn redeem_points(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<CustomerId>,
    body: JsonBody<Redeem>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LoyaltyWrite)?;
    require_idempotency_key(
        &req,
        "redeeming points needs an Idempotency-Key header, so that a retry never spends twice",
    )?;
    let request = body.0.validate()?;
    let write = loyalty::redeem(&state.store, &caller.context(), id.into_inner(), request).await?;
    Ok(written(&write))
}

/// Adjust a balance by hand, with the reason recorded on the entry and in the audit log.
///
/// Positive points credit a new lot that expires by the program's rule unless `expires_at`
/// says otherwise; negative points are taken first-in-first-out and cannot take the balance
/// below zero (422 `insufficient_points`). Adjustments count toward tiers only with
/// `counts_toward_tier`. `Idempotency-Key` is required: a retry after a lost response must
/// never adjust twice.
#[utoipa::path(
    tag = "loyalty",
    params(("id" = CustomerId, Path)),
    request_body = Adjust,
    responses(
        (status = 201, body = LedgerWrite, headers(("Location" = String))),
        (status = 422, description = "`insufficient_points`"),
        (status = 400, description = "`idempotency_key_required`: send an `Idempotency-Key` header")
    )
)]
#[post("/customers/{id}/loyalty/adjust")]
pub async fn adjust_points(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<CustomerId>,
    body: JsonBody<Adjust>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LoyaltyWrite)?;
    require_idempotency_key(
        &req,
        "adjusting points needs an Idempotency-Key header, so that a retry never adjusts twice",
    )?;
    let request = body.0.validate(chrono::Utc::now())?;
    let write = loyalty::adjust(&state.store, &caller.context(), id.into_inner(), request).await?;
    Ok(written(&write))
}
