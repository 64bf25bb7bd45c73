//! The rewards catalogue: create, list, read, merge-patch, soft delete and restore.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use crm_domain::RewardId;
use crm_domain::access::Scope;
use crm_domain::page::{Page, paginate};
use crm_domain::patch::merge;
use crm_domain::reward::{Reward, RewardFilter, RewardInput};
use crm_store::rewards;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{created, decode_cursor, page_limit, versioned};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{IfMatch, JsonBody, QueryParams};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_reward)
        .service(list_rewards)
        .service(get_reward)
        .service(update_reward)
        .service(delete_reward)
        .service(restore_reward);
}

crate::merge_patch_schema!(RewardPatch, RewardInput);

pub fn location(reward: &Reward) -> String {
    format!("/v1/rewards/{}", reward.id)
}

/// Add a reward to the catalogue.
#[utoipa::path(
    tag = "rewards",
    request_body = RewardInput,
    responses((status = 201, body = Reward, headers(("Location" = String), ("ETag" = String))))
)]
#[post("/rewards")]
pub async fn create_reward(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<RewardInput>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LoyaltyWrite)?;
    let input = body.0.validate()?;
    let reward = rewards::create(&state.store, &caller.context(), input).await?;
    Ok(created(location(&reward), reward.version, &reward))
}

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
    active: Option<bool>,
    /// `true`: only rewards that can be redeemed now (active and in stock); `false`: the others.
    available: Option<bool>,
    /// `true` lists deleted (restorable) rewards instead.
    deleted: Option<bool>,
}

const REWARD_SORTS: [&str; 2] = ["created_at", "-created_at"];

fn sort_schema() -> utoipa::openapi::Object {
    crate::openapi::sort_schema(&REWARD_SORTS, "Default `created_at`, oldest first.")
}

/// List the catalogue.
#[utoipa::path(tag = "rewards", params(ListParams), responses((status = 200, body = Page<Reward>)))]
#[get("/rewards")]
pub async fn list_rewards(
    state: web::Data<AppState>,
    caller: Caller,
    query: QueryParams<ListParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LoyaltyRead)?;
    let params = query.0;
    let limit = page_limit(params.limit)?;
    let sort = params.sort.as_deref().unwrap_or("created_at");
    if !REWARD_SORTS.contains(&sort) {
        return Err(ApiError::parameter("sort", format!("must be one of {}", REWARD_SORTS.join(", "))));
    }
    let descending = sort.starts_with('-');
    let after = decode_cursor(params.cursor.as_deref(), sort)?;
    let filter =
        RewardFilter { active: params.active, available: params.available, deleted: params.deleted.unwrap_or(false) };
    let rows = rewards::list(&state.store, caller.workspace_id, &filter, descending, after.as_ref(), limit).await?;
    Ok(HttpResponse::Ok().json(paginate(rows, limit, |r| rewards::cursor_after(sort, r))))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GetParams {
    /// `true` returns the reward even when it is deleted.
    include_deleted: Option<bool>,
}

/// One reward.
#[utoipa::path(
    tag = "rewards",
    params(("id" = RewardId, Path), GetParams),
    responses((status = 200, body = Reward, headers(("ETag" = String))))
)]
#[get("/rewards/{id}")]
pub async fn get_reward(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<RewardId>,
    query: QueryParams<GetParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LoyaltyRead)?;
    let include_deleted = query.0.include_deleted.unwrap_or(false);
    let reward = rewards::get(&state.store, caller.workspace_id, id.into_inner(), include_deleted).await?;
    Ok(versioned(reward.version, &reward))
}

/// Update a reward with a JSON Merge Patch (RFC 7396). Redemptions change `stock` (and the
/// version): send `If-Match` so a restock never overwrites a redemption.
#[utoipa::path(
    tag = "rewards",
    params(("id" = RewardId, Path)),
    request_body(content = RewardPatch, content_type = "application/merge-patch+json"),
    responses((status = 200, body = Reward, headers(("ETag" = String))), (status = 412, description = "version_mismatch"))
)]
#[patch("/rewards/{id}")]
pub async fn update_reward(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<RewardId>,
    if_match: IfMatch,
    body: JsonBody<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LoyaltyWrite)?;
    let patch = body.0;
    let reward = rewards::update(&state.store, &caller.context(), id.into_inner(), if_match.0, |current| {
        merge(&current.input(), patch.clone())?.validate()
    })
    .await?;
    Ok(versioned(reward.version, &reward))
}

/// Delete a reward (soft: restorable; it can no longer be redeemed).
#[utoipa::path(
    tag = "rewards",
    params(("id" = RewardId, Path)),
    responses((status = 204, description = "Deleted"), (status = 412, description = "version_mismatch"))
)]
#[delete("/rewards/{id}")]
pub async fn delete_reward(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<RewardId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LoyaltyWrite)?;
    rewards::set_deleted(&state.store, &caller.context(), id.into_inner(), if_match.0, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a deleted reward. Restoring a live one changes nothing.
#[utoipa::path(
    tag = "rewards",
    params(("id" = RewardId, Path)),
    responses((status = 200, body = Reward, headers(("ETag" = String))), (status = 412, description = "version_mismatch"))
)]
#[post("/rewards/{id}/restore")]
pub async fn restore_reward(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<RewardId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LoyaltyWrite)?;
    let reward = rewards::set_deleted(&state.store, &caller.context(), id.into_inner(), if_match.0, false).await?;
    Ok(versioned(reward.version, &reward))
}
