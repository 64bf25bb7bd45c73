//! Purchase analytics: RFM scores and segments per customer, their summary, and revenue,
//! orders, average order value and repeat-purchase rate per month, category or channel.
//! Everything is computed by the database on request (see `crm_store::analytics`).

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use crm_domain::CustomerId;
use crm_domain::access::Scope;
use crm_domain::analytics::{PurchaseGroup, PurchaseStats};
use crm_domain::deal::parse_currency;
use crm_domain::page::Cursor;
use crm_domain::rfm::{RfmPage, RfmScore, RfmSegment, RfmSummary};
use crm_store::analytics;
use crm_store::types::now;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::interactions::comma_list;
use super::{decode_cursor, page_limit};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::QueryParams;
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    // The summary first: `/analytics/rfm/summary` is a path of its own.
    cfg.service(rfm_summary).service(rfm_list).service(customer_rfm).service(purchase_stats);
}

/// Cursors of the RFM list: by customer id, carrying the list's `as_of`.
const RFM_ORDER: &str = "customer_id";

fn currency(raw: Option<&str>) -> ApiResult<Option<String>> {
    raw.map(|raw| parse_currency(raw).ok_or_else(|| ApiError::parameter("currency", "must be 3 letters (ISO 4217)")))
        .transpose()
}

/// `as_of` as given (at most a few years ahead of now and after year 1), else now.
fn as_of(raw: Option<DateTime<Utc>>) -> ApiResult<DateTime<Utc>> {
    match raw {
        None => Ok(now()),
        Some(t) if (1..=9999).contains(&t.year()) => Ok(t),
        Some(_) => Err(ApiError::parameter("as_of", "must be between the years 1 and 9999")),
    }
}

/// Which customers, in which currency, as of when.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RfmParams {
    /// 1 to 200; default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page; it keeps the first page's `as_of`.
    cursor: Option<String>,
    /// ISO 4217 code. Optional when the workspace's purchases use one currency; with several,
    /// leaving it out is a 422 `currency_required`.
    #[param(example = "EUR")]
    currency: Option<String>,
    /// Score the purchases up to this moment (RFC 3339); default now.
    #[serde(default, deserialize_with = "crate::extract::instant")]
    as_of: Option<DateTime<Utc>>,
    /// One segment or a comma-separated list, e.g. `at_risk,cannot_lose`.
    #[param(example = "champions,loyal")]
    segment: Option<String>,
}

/// RFM scores of the workspace's customers, by customer id.
///
/// Every customer with at least one order (a purchase that is not fully refunded) in the
/// currency up to `as_of` is scored 1 to 5 per dimension against all others: recency by the
/// latest purchase, frequency by the number of orders, monetary by net revenue (totals minus
/// refunds); 5 is the best fifth. A score is `1 + ⌊5 · (rank − 1) / n⌋` over the ascending
/// `RANK()` of the value among the `n` scored customers, so equal values share a score. The
/// segment follows from R and FM = ⌊(F + M) / 2⌋ (see `RfmSegment`). Deleted customers and
/// their purchases are left out. Each page computes the scores afresh over all purchases.
#[utoipa::path(
    tag = "analytics",
    params(RfmParams),
    responses(
        (status = 200, body = RfmPage),
        (status = 422, description = "Several currencies and no `currency`")
    )
)]
#[get("/analytics/rfm")]
pub async fn rfm_list(
    state: web::Data<AppState>,
    caller: Caller,
    query: QueryParams<RfmParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::AnalyticsRead)?;
    let params = query.0;
    let limit = page_limit(params.limit)?;
    let segments = comma_list("segment", params.segment.as_deref(), RfmSegment::parse_graded)?;
    let cursor = decode_cursor(params.cursor.as_deref(), RFM_ORDER)?;
    let as_of = match (&cursor, params.as_of) {
        (Some(Cursor { at: Some(at), .. }), asked) => {
            if asked.is_some_and(|t| t != *at) {
                return Err(ApiError::parameter("as_of", "differs from the cursor's; leave it out when paging"));
            }
            *at
        }
        (Some(_), _) => return Err(ApiError::new(ErrorCode::InvalidCursor, "the cursor has no time")),
        (None, asked) => as_of(asked)?,
    };
    let after = cursor.map(|c| CustomerId(c.id));
    let currency = currency(params.currency.as_deref())?;
    let (currency, mut data) =
        analytics::rfm_page(&state.store, caller.workspace_id, (currency, as_of), &segments, after, limit).await?;
    let next_cursor = if data.len() > limit as usize {
        data.truncate(limit as usize);
        data.last().map(|s| Cursor { sort: RFM_ORDER.to_owned(), at: Some(as_of), id: s.customer_id.0 }.encode())
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(RfmPage { as_of, currency, data, next_cursor }))
}

/// The currency and moment of the summary and of one customer's scores.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RfmAtParams {
    /// ISO 4217 code; optional when the workspace's purchases use one currency.
    #[param(example = "EUR")]
    currency: Option<String>,
    /// Score the purchases up to this moment (RFC 3339); default now.
    #[serde(default, deserialize_with = "crate::extract::instant")]
    as_of: Option<DateTime<Utc>>,
}

/// Customers, orders and net revenue per RFM segment, best segment first (every segment of
/// the grid is listed, with zeros when empty).
#[utoipa::path(
    tag = "analytics",
    params(RfmAtParams),
    responses(
        (status = 200, body = RfmSummary),
        (status = 422, description = "Several currencies and no `currency`")
    )
)]
#[get("/analytics/rfm/summary")]
pub async fn rfm_summary(
    state: web::Data<AppState>,
    caller: Caller,
    query: QueryParams<RfmAtParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::AnalyticsRead)?;
    let params = query.0;
    let at = (currency(params.currency.as_deref())?, as_of(params.as_of)?);
    let summary = analytics::rfm_summary(&state.store, caller.workspace_id, at).await?;
    Ok(HttpResponse::Ok().json(summary))
}

/// One customer's RFM scores, against all the workspace's buying customers.
///
/// A customer without orders in the currency up to `as_of` gets `segment` `no_purchases` and
/// `null` scores.
#[utoipa::path(
    tag = "analytics",
    params(("id" = CustomerId, Path), RfmAtParams),
    responses(
        (status = 200, body = RfmScore),
        (status = 422, description = "Several currencies and no `currency`")
    )
)]
#[get("/customers/{id}/rfm")]
pub async fn customer_rfm(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<CustomerId>,
    query: QueryParams<RfmAtParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::AnalyticsRead)?;
    let params = query.0;
    let at = (currency(params.currency.as_deref())?, as_of(params.as_of)?);
    let score = analytics::rfm_of(&state.store, caller.workspace_id, id.into_inner(), at).await?;
    Ok(HttpResponse::Ok().json(score))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PurchaseStatsParams {
    /// `month` (UTC calendar month of `occurred_at`), `category` (of the line items) or `channel`.
    group_by: PurchaseGroup,
    /// First day of the window (inclusive, UTC).
    from: NaiveDate,
    /// Last day of the window (inclusive, UTC); at most 10 years after `from`.
    to: NaiveDate,
    /// ISO 4217 code; optional when the workspace's purchases use one currency.
    #[param(example = "EUR")]
    currency: Option<String>,
}

/// Revenue, orders, average order value, customers and repeat-purchase rate of the orders in a
/// window, per month, category or channel, with the window's totals.
///
/// An order is a purchase that is not fully refunded; its revenue is its total minus refunds.
/// By category, revenue is that of the category's line items (line total less the refunded
/// quantity's share; the purchase's discount, tax and shipping are not spread over lines, so the
/// rows do not add up to the totals), and a purchase with lines in several categories is one
/// order in each. The repeat-purchase rate of a group is the share of its customers with at
/// least two of the group's orders in the window; in the totals, with two orders in the window.
#[utoipa::path(
    tag = "analytics",
    params(PurchaseStatsParams),
    responses(
        (status = 200, body = PurchaseStats),
        (status = 422, description = "Several currencies and no `currency`")
    )
)]
#[get("/analytics/purchases")]
pub async fn purchase_stats(
    state: web::Data<AppState>,
    caller: Caller,
    query: QueryParams<PurchaseStatsParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::AnalyticsRead)?;
    let params = query.0;
    if params.to < params.from {
        return Err(ApiError::parameter("to", "must not be before `from`"));
    }
    for (name, day) in [("from", params.from), ("to", params.to)] {
        if !(1..=9998).contains(&day.year()) {
            return Err(ApiError::parameter(name, "must be a day between the years 1 and 9998"));
        }
    }
    if (params.to - params.from).num_days() > 10 * 366 {
        return Err(ApiError::parameter("to", "the window may span at most 10 years"));
    }
    let currency = currency(params.currency.as_deref())?;
    let stats: PurchaseStats = analytics::purchase_stats(
        &state.store,
        caller.workspace_id,
        params.group_by,
        (params.from, params.to),
        currency,
    )
    .await?;
    Ok(HttpResponse::Ok().json(stats))
}
