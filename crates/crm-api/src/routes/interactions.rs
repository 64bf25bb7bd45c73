//! Interactions: log a contact on any channel, read, merge-patch, soft delete and restore,
//! keyset-paginated lists by link, channel and date range, and each one's audit history.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use crm_domain::access::Scope;
use crm_domain::audit::AuditEvent;
use crm_domain::interaction::{Channel, Direction, Interaction, InteractionFilter, InteractionInput, InteractionSort};
use crm_domain::page::{Cursor, Page, paginate};
use crm_domain::patch::merge;
use crm_domain::{CustomerId, DealId, InteractionId, LeadId, UserId};
use crm_store::{audit, interactions};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::users::PageParams;
use super::{created, decode_cursor, page_limit, versioned};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{IfMatch, JsonBody, QueryParams};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_interaction)
        .service(list_interactions)
        .service(get_interaction)
        .service(update_interaction)
        .service(delete_interaction)
        .service(restore_interaction)
        .service(interaction_history);
}

crate::merge_patch_schema!(InteractionPatch, InteractionInput);

fn location(interaction: &Interaction) -> String {
    format!("/v1/interactions/{}", interaction.id)
}

/// Log an interaction: a call, an email, a meeting, a chat, a note, …
///
/// It must link to a customer, a deal or a lead. `user_id` defaults to the signed-in user.
/// An `external_id` already held by a live interaction is answered 409 `interaction_exists`
/// (the detail names the existing interaction), so an integration can re-send safely.
#[utoipa::path(
    tag = "interactions",
    request_body = InteractionInput,
    responses((status = 201, body = Interaction, headers(("Location" = String), ("ETag" = String))))
)]
#[post("/interactions")]
pub async fn create_interaction(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<InteractionInput>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::InteractionsWrite)?;
    let input = body.0.with_default_user(caller.actor).validate(Utc::now())?;
    let interaction = interactions::create(&state.store, &caller.context(), input).await?;
    Ok(created(location(&interaction), interaction.version, &interaction))
}

/// Filters, order and paging of the interaction list.
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
    customer_id: Option<CustomerId>,
    deal_id: Option<DealId>,
    lead_id: Option<LeadId>,
    /// One channel or a comma-separated list, e.g. `email,phone`.
    channel: Option<String>,
    direction: Option<Direction>,
    user_id: Option<UserId>,
    /// Interactions that occurred at or after this instant.
    #[serde(default, deserialize_with = "crate::extract::instant")]
    occurred_after: Option<DateTime<Utc>>,
    /// Interactions that occurred before this instant.
    #[serde(default, deserialize_with = "crate::extract::instant")]
    occurred_before: Option<DateTime<Utc>>,
    /// Case-insensitive search in the subject.
    q: Option<String>,
    /// `true` lists deleted (restorable) interactions instead.
    deleted: Option<bool>,
}

fn sort_schema() -> utoipa::openapi::Object {
    crate::openapi::sort_schema(&InteractionSort::ACCEPTED, "Default `-occurred_at`, newest first.")
}

/// Parses a comma-separated list of enum values named by `parse`.
pub fn comma_list<T>(param: &str, raw: Option<&str>, parse: fn(&str) -> Option<T>) -> ApiResult<Vec<T>> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    raw.split(',')
        .map(str::trim)
        .map(|item| parse(item).ok_or_else(|| ApiError::parameter(param, format!("unknown value {item:?}"))))
        .collect()
}

/// The trimmed `q`, at most 200 characters without control characters; blank is no search.
pub fn search_query(q: Option<&str>) -> ApiResult<Option<String>> {
    let q = q.map(str::trim).filter(|q| !q.is_empty()).map(str::to_owned);
    if q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::parameter("q", "must be at most 200 characters"));
    }
    // PostgreSQL text cannot hold NUL: refuse control characters here rather than fail in SQL.
    if q.as_ref().is_some_and(|q| q.chars().any(char::is_control)) {
        return Err(ApiError::parameter("q", "must not contain control characters"));
    }
    Ok(q)
}

impl ListParams {
    fn filter(&self) -> ApiResult<InteractionFilter> {
        Ok(InteractionFilter {
            customer_id: self.customer_id,
            deal_id: self.deal_id,
            lead_id: self.lead_id,
            channels: comma_list("channel", self.channel.as_deref(), Channel::parse)?,
            direction: self.direction,
            user_id: self.user_id,
            occurred_after: self.occurred_after,
            occurred_before: self.occurred_before,
            q: search_query(self.q.as_deref())?,
            deleted: self.deleted.unwrap_or(false),
        })
    }
}

/// List interactions: filter by link, channel, direction, user and date range, newest first.
#[utoipa::path(tag = "interactions", params(ListParams), responses((status = 200, body = Page<Interaction>)))]
#[get("/interactions")]
pub async fn list_interactions(
    state: web::Data<AppState>,
    caller: Caller,
    query: QueryParams<ListParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::InteractionsRead)?;
    let params = query.0;
    let limit = page_limit(params.limit)?;
    let sort = match params.sort.as_deref() {
        None => InteractionSort::default(),
        Some(s) => InteractionSort::parse(s).ok_or_else(|| {
            ApiError::parameter("sort", format!("must be one of {}", InteractionSort::ACCEPTED.join(", ")))
        })?,
    };
    let after = decode_cursor(params.cursor.as_deref(), sort.as_str())?;
    let filter = params.filter()?;
    let rows = interactions::list(&state.store, caller.workspace_id, &filter, sort, after.as_ref(), limit).await?;
    Ok(HttpResponse::Ok().json(paginate(rows, limit, |i| interactions::cursor_after(sort, i))))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GetParams {
    /// `true` returns the interaction even when it is deleted.
    include_deleted: Option<bool>,
}

/// One interaction.
#[utoipa::path(
    tag = "interactions",
    params(("id" = InteractionId, Path), GetParams),
    responses((status = 200, body = Interaction, headers(("ETag" = String))))
)]
#[get("/interactions/{id}")]
pub async fn get_interaction(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<InteractionId>,
    query: QueryParams<GetParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::InteractionsRead)?;
    let include_deleted = query.0.include_deleted.unwrap_or(false);
    let interaction = interactions::get(&state.store, caller.workspace_id, id.into_inner(), include_deleted).await?;
    Ok(versioned(interaction.version, &interaction))
}

/// Update an interaction with a JSON Merge Patch (RFC 7396): absent fields stay, `null` clears.
///
/// Send `If-Match` with the ETag you read to be sure you do not overwrite someone else's change.
#[utoipa::path(
    tag = "interactions",
    params(("id" = InteractionId, Path)),
    request_body(content = InteractionPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, body = Interaction, headers(("ETag" = String))),
        (status = 409, body = Problem, content_type = "application/problem+json",
         description = "Problem: `interaction_exists`, `edit_conflict`"),
        (status = 412, description = "version_mismatch")
    )
)]
#[patch("/interactions/{id}")]
pub async fn update_interaction(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<InteractionId>,
    if_match: IfMatch,
    body: JsonBody<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::InteractionsWrite)?;
    let patch = body.0;
    let now = Utc::now();
    let interaction = interactions::update(&state.store, &caller.context(), id.into_inner(), if_match.0, |current| {
        merge(&current.data, patch.clone())?.validate(now)
    })
    .await?;
    Ok(versioned(interaction.version, &interaction))
}

/// Delete an interaction (soft: restorable with `POST /v1/interactions/{id}/restore`).
#[utoipa::path(
    tag = "interactions",
    params(("id" = InteractionId, Path)),
    responses((status = 204, description = "Deleted"), (status = 412, description = "version_mismatch"))
)]
#[delete("/interactions/{id}")]
pub async fn delete_interaction(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<InteractionId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::InteractionsWrite)?;
    interactions::set_deleted(&state.store, &caller.context(), id.into_inner(), if_match.0, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a deleted interaction. Restoring a live one changes nothing.
///
/// 409 `interaction_exists` when a live interaction took its `external_id` meanwhile.
#[utoipa::path(
    tag = "interactions",
    params(("id" = InteractionId, Path)),
    responses((status = 200, body = Interaction, headers(("ETag" = String))), (status = 412, description = "version_mismatch"))
)]
#[post("/interactions/{id}/restore")]
pub async fn restore_interaction(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<InteractionId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::InteractionsWrite)?;
    let interaction =
        interactions::set_deleted(&state.store, &caller.context(), id.into_inner(), if_match.0, false).await?;
    Ok(versioned(interaction.version, &interaction))
}

/// The audit history of an interaction, newest first.
#[utoipa::path(
    tag = "interactions",
    params(("id" = InteractionId, Path), PageParams),
    responses((status = 200, body = Page<AuditEvent>))
)]
#[get("/interactions/{id}/history")]
pub async fn interaction_history(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<InteractionId>,
    query: QueryParams<PageParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::InteractionsRead)?;
    let id = id.into_inner();
    let limit = page_limit(query.0.limit)?;
    let after = decode_cursor(query.0.cursor.as_deref(), super::BY_ID)?;
    if !interactions::exists(&state.store, caller.workspace_id, id).await? {
        return Err(ApiError::not_found());
    }
    let events =
        audit::history(&state.store, caller.workspace_id, "interaction", id.0, after.map(|c: Cursor| c.id), limit)
            .await?;
    Ok(HttpResponse::Ok().json(paginate(events, limit, |e| super::id_cursor(e.id.0))))
}
