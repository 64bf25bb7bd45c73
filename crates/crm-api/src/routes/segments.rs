//! Segments: saved customer criteria (selection). Members are computed when asked, through the
//! same query as `GET /v1/customers`, so a segment never goes stale.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use crm_domain::SegmentId;
use crm_domain::access::Scope;
use crm_domain::audit::AuditEvent;
use crm_domain::customer::{Customer, CustomerFilter, CustomerSort};
use crm_domain::page::{Cursor, Page, paginate};
use crm_domain::patch::merge;
use crm_domain::segment::{Segment, SegmentCount, SegmentInput};
use crm_store::{audit, customers, segments};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::users::PageParams;
use super::{BY_ID, created, decode_cursor, id_cursor, page_limit, versioned};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{IfMatch, JsonBody, QueryParams};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_segment)
        .service(list_segments)
        .service(get_segment)
        .service(update_segment)
        .service(delete_segment)
        .service(restore_segment)
        .service(segment_customers)
        .service(segment_count)
        .service(segment_history);
}

crate::merge_patch_schema!(SegmentPatch, SegmentInput);

/// Save a segment: a named set of customer criteria.
#[utoipa::path(
    tag = "segments",
    request_body = SegmentInput,
    responses((status = 201, body = Segment, headers(("Location" = String), ("ETag" = String))))
)]
#[post("/segments")]
pub async fn create_segment(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<SegmentInput>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SegmentsWrite)?;
    let input = body.0.validate()?;
    let segment = segments::create(&state.store, &caller.context(), input).await?;
    Ok(created(format!("/v1/segments/{}", segment.id), segment.version, &segment))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1 to 200; default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `true` lists deleted (restorable) segments instead.
    deleted: Option<bool>,
}

/// List segments, newest first.
#[utoipa::path(tag = "segments", params(ListParams), responses((status = 200, body = Page<Segment>)))]
#[get("/segments")]
pub async fn list_segments(
    state: web::Data<AppState>,
    caller: Caller,
    query: QueryParams<ListParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SegmentsRead)?;
    let limit = page_limit(query.0.limit)?;
    let after = decode_cursor(query.0.cursor.as_deref(), BY_ID)?;
    let deleted = query.0.deleted.unwrap_or(false);
    let rows = segments::list(&state.store, caller.workspace_id, after.map(|c| c.id), deleted, limit).await?;
    Ok(HttpResponse::Ok().json(paginate(rows, limit, |s| id_cursor(s.id.0))))
}

/// One segment.
#[utoipa::path(
    tag = "segments",
    params(("id" = SegmentId, Path)),
    responses((status = 200, body = Segment, headers(("ETag" = String))))
)]
#[get("/segments/{id}")]
pub async fn get_segment(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<SegmentId>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SegmentsRead)?;
    let segment = segments::get(&state.store, caller.workspace_id, id.into_inner(), false).await?;
    Ok(versioned(segment.version, &segment))
}

/// Update a segment with a JSON Merge Patch: `filter` members merge too (`null` removes one).
#[utoipa::path(
    tag = "segments",
    params(("id" = SegmentId, Path)),
    request_body(content = SegmentPatch, content_type = "application/merge-patch+json"),
    responses((status = 200, body = Segment, headers(("ETag" = String))), (status = 412, description = "version_mismatch"))
)]
#[patch("/segments/{id}")]
pub async fn update_segment(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<SegmentId>,
    if_match: IfMatch,
    body: JsonBody<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SegmentsWrite)?;
    let patch = body.0;
    let segment = segments::update(&state.store, &caller.context(), id.into_inner(), if_match.0, |current| {
        merge(current, patch.clone())?.validate()
    })
    .await?;
    Ok(versioned(segment.version, &segment))
}

/// Delete a segment (soft: restorable). Its customers are untouched.
#[utoipa::path(
    tag = "segments",
    params(("id" = SegmentId, Path)),
    responses((status = 204, description = "Deleted"), (status = 412, description = "version_mismatch"))
)]
#[delete("/segments/{id}")]
pub async fn delete_segment(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<SegmentId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SegmentsWrite)?;
    segments::set_deleted(&state.store, &caller.context(), id.into_inner(), if_match.0, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a deleted segment.
#[utoipa::path(
    tag = "segments",
    params(("id" = SegmentId, Path)),
    responses((status = 200, body = Segment, headers(("ETag" = String))), (status = 412, description = "version_mismatch"))
)]
#[post("/segments/{id}/restore")]
pub async fn restore_segment(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<SegmentId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SegmentsWrite)?;
    let segment = segments::set_deleted(&state.store, &caller.context(), id.into_inner(), if_match.0, false).await?;
    Ok(versioned(segment.version, &segment))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MembersParams {
    /// 1 to 200; default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page (with the same `sort`).
    cursor: Option<String>,
    #[param(schema_with = super::customers::sort_schema)]
    sort: Option<String>,
}

async fn criteria_of(state: &AppState, caller: &Caller, id: SegmentId) -> ApiResult<(Segment, CustomerFilter)> {
    caller.require(Scope::SegmentsRead)?;
    caller.require(Scope::CustomersRead)?;
    let segment = segments::get(&state.store, caller.workspace_id, id, false).await?;
    let filter = CustomerFilter { criteria: segment.filter.clone(), ..CustomerFilter::default() };
    Ok((segment, filter))
}

/// The customers in a segment now, cursor-paginated like `GET /v1/customers`.
#[utoipa::path(
    tag = "segments",
    params(("id" = SegmentId, Path), MembersParams),
    responses((status = 200, body = Page<Customer>))
)]
#[get("/segments/{id}/customers")]
pub async fn segment_customers(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<SegmentId>,
    query: QueryParams<MembersParams>,
) -> ApiResult<HttpResponse> {
    let params = query.0;
    let limit = page_limit(params.limit)?;
    let sort = match params.sort.as_deref() {
        None => CustomerSort::default(),
        Some(s) => CustomerSort::parse(s).ok_or_else(|| {
            ApiError::parameter("sort", format!("must be one of {}", CustomerSort::ACCEPTED.join(", ")))
        })?,
    };
    let after = decode_cursor(params.cursor.as_deref(), sort.as_str())?;
    let (_, filter) = criteria_of(&state, &caller, id.into_inner()).await?;
    let rows = customers::list(&state.store, caller.workspace_id, &filter, sort, after.as_ref(), limit).await?;
    Ok(HttpResponse::Ok().json(paginate(rows, limit, |c| customers::cursor_after(sort, c))))
}

/// How many customers are in a segment now, counted by the database.
#[utoipa::path(
    tag = "segments",
    params(("id" = SegmentId, Path)),
    responses((status = 200, body = SegmentCount))
)]
#[get("/segments/{id}/count")]
pub async fn segment_count(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<SegmentId>,
) -> ApiResult<HttpResponse> {
    let (segment, filter) = criteria_of(&state, &caller, id.into_inner()).await?;
    let count = customers::count(&state.store, caller.workspace_id, &filter).await?;
    Ok(HttpResponse::Ok().json(SegmentCount { segment_id: segment.id, count }))
}

/// The audit history of a segment, newest first.
#[utoipa::path(
    tag = "segments",
    params(("id" = SegmentId, Path), PageParams),
    responses((status = 200, body = Page<AuditEvent>))
)]
#[get("/segments/{id}/history")]
pub async fn segment_history(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<SegmentId>,
    query: QueryParams<PageParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SegmentsRead)?;
    let id = id.into_inner();
    let limit = page_limit(query.0.limit)?;
    let after = decode_cursor(query.0.cursor.as_deref(), BY_ID)?;
    segments::get(&state.store, caller.workspace_id, id, true).await?;
    let events =
        audit::history(&state.store, caller.workspace_id, "segment", id.0, after.map(|c: Cursor| c.id), limit).await?;
    Ok(HttpResponse::Ok().json(paginate(events, limit, |e| id_cursor(e.id.0))))
}
