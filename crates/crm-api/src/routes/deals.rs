//! Deals: create, read, merge-patch, move between stages (recorded), soft delete and restore,
//! reassignment, keyset lists with filters, history, stage moves and the forecast.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use crm_domain::access::Scope;
use crm_domain::audit::AuditEvent;
use crm_domain::deal::{
    Deal, DealCursor, DealFilter, DealInput, DealSort, DealStatus, Forecast, ForecastGroup, MoveDeal, StageChange,
    parse_currency,
};
use crm_domain::owner::Reassign;
use crm_domain::page::{Cursor, Page, paginate};
use crm_domain::patch::merge;
use crm_domain::{CustomerId, DealId, PipelineId, StageId, UserId};
use crm_store::{audit, deals};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::users::PageParams;
use super::{created, decode_cursor, page_limit, versioned};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorCode, Problem};
use crate::extract::{IfMatch, JsonBody, QueryParams};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    // The forecast first: `/deals/forecast` must not be read as `/deals/{id}`.
    cfg.service(deal_forecast)
        .service(create_deal)
        .service(list_deals)
        .service(get_deal)
        .service(update_deal)
        .service(delete_deal)
        .service(restore_deal)
        .service(move_deal)
        .service(reassign_deal)
        .service(deal_stage_changes)
        .service(deal_history);
}

crate::merge_patch_schema!(DealPatch, DealInput);

fn location(deal: &Deal) -> String {
    format!("/v1/deals/{}", deal.id)
}

/// Create a deal. Without `pipeline_id` it goes to the default pipeline, without `stage_id`
/// to the pipeline's first open stage; the creation is the deal's first stage change.
#[utoipa::path(
    tag = "deals",
    request_body = DealInput,
    responses((status = 201, body = Deal, headers(("Location" = String), ("ETag" = String))))
)]
#[post("/deals")]
pub async fn create_deal(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<DealInput>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::DealsWrite)?;
    let input = body.0.validate()?;
    let deal = deals::create(&state.store, &caller.context(), input).await?;
    Ok(created(location(&deal), deal.version, &deal))
}

/// Filters, order and paging of the deal list.
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
    pipeline_id: Option<PipelineId>,
    stage_id: Option<StageId>,
    status: Option<DealStatus>,
    owner_id: Option<UserId>,
    customer_id: Option<CustomerId>,
    /// ISO 4217.
    currency: Option<String>,
    /// Expected to close on or after this day.
    expected_close_after: Option<NaiveDate>,
    /// Expected to close before this day.
    expected_close_before: Option<NaiveDate>,
    amount_min: Option<i64>,
    amount_max: Option<i64>,
    #[serde(default, deserialize_with = "crate::extract::instant")]
    created_after: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "crate::extract::instant")]
    created_before: Option<DateTime<Utc>>,
    /// Case-insensitive search in the title.
    q: Option<String>,
    /// `true` lists deleted (restorable) deals instead.
    deleted: Option<bool>,
}

fn sort_schema() -> utoipa::openapi::Object {
    crate::openapi::sort_schema(
        &DealSort::ACCEPTED,
        "Default `-created_at`, newest first. `expected_close_date` puts deals without a date last, `-expected_close_date` first.",
    )
}

/// Days both databases store and compare alike.
fn plausible(day: NaiveDate) -> bool {
    (1..=9999).contains(&day.year())
}

impl ListParams {
    fn filter(&self) -> ApiResult<DealFilter> {
        for (name, day) in
            [("expected_close_after", self.expected_close_after), ("expected_close_before", self.expected_close_before)]
        {
            if day.is_some_and(|d| !plausible(d)) {
                return Err(ApiError::parameter(name, "must be a day between the years 1 and 9999"));
            }
        }
        let currency = match &self.currency {
            Some(raw) => Some(
                parse_currency(raw)
                    .ok_or_else(|| ApiError::parameter("currency", "must be an ISO 4217 code of three letters"))?,
            ),
            None => None,
        };
        let q = self.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(str::to_owned);
        if q.as_ref().is_some_and(|q| q.chars().count() > 200) {
            return Err(ApiError::parameter("q", "must be at most 200 characters"));
        }
        Ok(DealFilter {
            pipeline_id: self.pipeline_id,
            stage_id: self.stage_id,
            status: self.status,
            owner_id: self.owner_id,
            customer_id: self.customer_id,
            currency,
            expected_close_after: self.expected_close_after,
            expected_close_before: self.expected_close_before,
            amount_min: self.amount_min,
            amount_max: self.amount_max,
            created_after: self.created_after,
            created_before: self.created_before,
            q,
            deleted: self.deleted.unwrap_or(false),
        })
    }
}

/// List deals: filter, sort, and page with a cursor.
#[utoipa::path(tag = "deals", params(ListParams), responses((status = 200, body = Page<Deal>)))]
#[get("/deals")]
pub async fn list_deals(
    state: web::Data<AppState>,
    caller: Caller,
    query: QueryParams<ListParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::DealsRead)?;
    let params = query.0;
    let limit = page_limit(params.limit)?;
    let sort = match params.sort.as_deref() {
        None => DealSort::default(),
        Some(s) => DealSort::parse(s)
            .ok_or_else(|| ApiError::parameter("sort", format!("must be one of {}", DealSort::ACCEPTED.join(", "))))?,
    };
    let after = match params.cursor.as_deref() {
        None => None,
        Some(raw) => Some(
            DealCursor::decode(raw, sort)
                .ok_or_else(|| ApiError::new(ErrorCode::InvalidCursor, "the cursor is not one this list returned"))?,
        ),
    };
    let filter = params.filter()?;
    let mut rows = deals::list(&state.store, caller.workspace_id, &filter, sort, after.as_ref(), limit).await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|d| sort.cursor_after(d).encode())
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(Page { data: rows, next_cursor }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GetParams {
    /// `true` returns the deal even when it is deleted.
    include_deleted: Option<bool>,
}

/// One deal.
#[utoipa::path(
    tag = "deals",
    params(("id" = DealId, Path), GetParams),
    responses((status = 200, body = Deal, headers(("ETag" = String))))
)]
#[get("/deals/{id}")]
pub async fn get_deal(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<DealId>,
    query: QueryParams<GetParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::DealsRead)?;
    let include_deleted = query.0.include_deleted.unwrap_or(false);
    let deal = deals::get(&state.store, caller.workspace_id, id.into_inner(), include_deleted).await?;
    Ok(versioned(deal.version, &deal))
}

/// Update a deal with a JSON Merge Patch (RFC 7396). A new `stage_id` (or `pipeline_id`,
/// which takes that pipeline's first open stage) is a move, recorded like `POST …/move`.
#[utoipa::path(
    tag = "deals",
    params(("id" = DealId, Path)),
    request_body(content = DealPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, body = Deal, headers(("ETag" = String))),
        (status = 409, description = "Problem: `edit_conflict`", body = Problem, content_type = "application/problem+json")
    )
)]
#[patch("/deals/{id}")]
pub async fn update_deal(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<DealId>,
    if_match: IfMatch,
    body: JsonBody<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::DealsWrite)?;
    let patch = body.0;
    let deal = deals::update(&state.store, &caller.context(), id.into_inner(), if_match.0, |current| {
        merge(&current.input(), patch.clone())?.validate()
    })
    .await?;
    Ok(versioned(deal.version, &deal))
}

/// Delete a deal (soft: restorable with `POST /v1/deals/{id}/restore`).
#[utoipa::path(
    tag = "deals",
    params(("id" = DealId, Path)),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/deals/{id}")]
pub async fn delete_deal(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<DealId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::DealsWrite)?;
    deals::set_deleted(&state.store, &caller.context(), id.into_inner(), if_match.0, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a deleted deal. Restoring a live deal changes nothing.
#[utoipa::path(
    tag = "deals",
    params(("id" = DealId, Path)),
    responses((status = 200, body = Deal, headers(("ETag" = String))))
)]
#[post("/deals/{id}/restore")]
pub async fn restore_deal(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<DealId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::DealsWrite)?;
    let deal = deals::set_deleted(&state.store, &caller.context(), id.into_inner(), if_match.0, false).await?;
    Ok(versioned(deal.version, &deal))
}

/// Move a deal to a stage (of its pipeline, or of another one, which the deal then joins).
/// Won and lost stages stamp `closed_at`; a lost stage needs `lost_reason`; an open stage
/// clears both. Every move is recorded in the deal's stage changes.
#[utoipa::path(
    tag = "deals",
    params(("id" = DealId, Path), ("If-Match" = Option<String>, Header, description = "The deal's `ETag`; a stale one is answered 412.")),
    request_body = MoveDeal,
    responses(
        (status = 200, body = Deal, headers(("ETag" = String))),
        (status = 412, description = "Problem: `version_mismatch`", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/deals/{id}/move")]
pub async fn move_deal(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<DealId>,
    if_match: IfMatch,
    body: JsonBody<MoveDeal>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::DealsWrite)?;
    let MoveDeal { stage_id, lost_reason } = body.0;
    let deal =
        deals::move_to(&state.store, &caller.context(), id.into_inner(), if_match.0, stage_id, lost_reason).await?;
    Ok(versioned(deal.version, &deal))
}

/// Hand a deal to another owner, with the reason kept in its history.
#[utoipa::path(
    tag = "deals",
    params(("id" = DealId, Path), ("If-Match" = Option<String>, Header, description = "The deal's `ETag`; a stale one is answered 412.")),
    request_body = Reassign,
    responses(
        (status = 200, body = Deal, headers(("ETag" = String))),
        (status = 412, description = "Problem: `version_mismatch`", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/deals/{id}/reassign")]
pub async fn reassign_deal(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<DealId>,
    if_match: IfMatch,
    body: JsonBody<Reassign>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::DealsWrite)?;
    let Reassign { owner_id, reason } = body.0.validate()?;
    let deal = deals::reassign(&state.store, &caller.context(), id.into_inner(), if_match.0, owner_id, reason).await?;
    Ok(versioned(deal.version, &deal))
}

/// The deal's stage moves, newest first; its creation is the oldest (`from_stage_id` null).
#[utoipa::path(
    tag = "deals",
    params(("id" = DealId, Path), PageParams),
    responses((status = 200, body = Page<StageChange>))
)]
#[get("/deals/{id}/stage-changes")]
pub async fn deal_stage_changes(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<DealId>,
    query: QueryParams<PageParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::DealsRead)?;
    let id = id.into_inner();
    let limit = page_limit(query.0.limit)?;
    let after = decode_cursor(query.0.cursor.as_deref(), super::BY_ID)?;
    if !deals::exists(&state.store, caller.workspace_id, id).await? {
        return Err(ApiError::not_found());
    }
    let changes =
        deals::stage_changes(&state.store, caller.workspace_id, id, after.map(|c: Cursor| c.id), limit).await?;
    Ok(HttpResponse::Ok().json(paginate(changes, limit, |c| super::id_cursor(c.id))))
}

/// The audit history of a deal, newest first.
#[utoipa::path(
    tag = "deals",
    params(("id" = DealId, Path), PageParams),
    responses((status = 200, body = Page<AuditEvent>))
)]
#[get("/deals/{id}/history")]
pub async fn deal_history(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<DealId>,
    query: QueryParams<PageParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::DealsRead)?;
    let id = id.into_inner();
    let limit = page_limit(query.0.limit)?;
    let after = decode_cursor(query.0.cursor.as_deref(), super::BY_ID)?;
    if !deals::exists(&state.store, caller.workspace_id, id).await? {
        return Err(ApiError::not_found());
    }
    let events =
        audit::history(&state.store, caller.workspace_id, "deal", id.0, after.map(|c: Cursor| c.id), limit).await?;
    Ok(HttpResponse::Ok().json(paginate(events, limit, |e| super::id_cursor(e.id.0))))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ForecastParams {
    /// Only this pipeline's deals; every pipeline when absent.
    pipeline_id: Option<PipelineId>,
    /// First day of the range (inclusive).
    from: NaiveDate,
    /// Last day of the range (inclusive); at most 5 years after `from`.
    to: NaiveDate,
    /// `month` (default) or `owner`.
    group_by: Option<ForecastGroup>,
}

/// The forecast: open deals expected to close in the range (count, amount, and amount weighted
/// by their stage's win probability, rounded half up per deal) and deals won in the range (by
/// the day they closed, UTC), per month or per owner and per currency.
#[utoipa::path(tag = "deals", params(ForecastParams), responses((status = 200, body = Forecast)))]
#[get("/deals/forecast")]
pub async fn deal_forecast(
    state: web::Data<AppState>,
    caller: Caller,
    query: QueryParams<ForecastParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::DealsRead)?;
    let params = query.0;
    if params.to < params.from {
        return Err(ApiError::parameter("to", "must not be before `from`"));
    }
    if (params.to - params.from).num_days() > 5 * 366 {
        return Err(ApiError::parameter("to", "the range may span at most 5 years"));
    }
    for (name, day) in [("from", params.from), ("to", params.to)] {
        if !plausible(day) {
            return Err(ApiError::parameter(name, "must be a day between the years 1 and 9999"));
        }
    }
    let group_by = params.group_by.unwrap_or(ForecastGroup::Month);
    let range = (params.from, params.to);
    let forecast = match deals::forecast(&state.store, caller.workspace_id, params.pipeline_id, range, group_by).await {
        Err(crm_store::StoreError::NotFound) => {
            return Err(ApiError::parameter("pipeline_id", "no such pipeline in this workspace"));
        }
        other => other?,
    };
    Ok(HttpResponse::Ok().json(forecast))
}
