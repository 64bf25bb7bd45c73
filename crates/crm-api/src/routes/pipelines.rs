//! Pipelines and their stages: reading them needs `deals:read`, configuring them
//! `settings:admin`. Every change bumps the pipeline's version; the board lives here too.

use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use crm_domain::access::Scope;
use crm_domain::audit::AuditEvent;
use crm_domain::deal::Board;
use crm_domain::page::{Cursor, Page, paginate};
use crm_domain::patch::merge;
use crm_domain::pipeline::{Pipeline, PipelineChange, PipelineInput, StageChange, StageInput, StageOrder};
use crm_domain::{PipelineId, StageId, UserId};
use crm_store::{audit, deals, pipelines};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::users::PageParams;
use super::{created, decode_cursor, page_limit, versioned};
use crate::auth::Caller;
use crate::error::{ApiResult, Problem};
use crate::extract::{IfMatch, JsonBody, QueryParams};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_pipeline)
        .service(list_pipelines)
        .service(get_pipeline)
        .service(update_pipeline)
        .service(delete_pipeline)
        .service(add_stage)
        .service(reorder_stages)
        .service(update_stage)
        .service(delete_stage)
        .service(pipeline_board)
        .service(pipeline_history);
}

crate::merge_patch_schema!(PipelinePatch, PipelineChange);
crate::merge_patch_schema!(StagePatch, StageChange);

/// Pipelines are listed oldest first.
const BY_ID_ASC: &str = "id";

fn location(pipeline: &Pipeline) -> String {
    format!("/v1/pipelines/{}", pipeline.id)
}

/// Create a pipeline; without `stages`, it gets the stages of the default "Sales" pipeline.
#[utoipa::path(
    tag = "pipelines",
    request_body = PipelineInput,
    responses((status = 201, body = Pipeline, headers(("Location" = String), ("ETag" = String))))
)]
#[post("/pipelines")]
pub async fn create_pipeline(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<PipelineInput>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SettingsAdmin)?;
    let (change, stages) = body.0.validate()?;
    let pipeline = pipelines::create(&state.store, &caller.context(), change, stages).await?;
    Ok(created(location(&pipeline), pipeline.version, &pipeline))
}

/// List the workspace's pipelines with their stages, oldest first.
#[utoipa::path(tag = "pipelines", params(PageParams), responses((status = 200, body = Page<Pipeline>)))]
#[get("/pipelines")]
pub async fn list_pipelines(
    state: web::Data<AppState>,
    caller: Caller,
    query: QueryParams<PageParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::DealsRead)?;
    let limit = page_limit(query.0.limit)?;
    let after = decode_cursor(query.0.cursor.as_deref(), BY_ID_ASC)?;
    let rows = pipelines::list(&state.store, caller.workspace_id, after.map(|c| c.id), limit).await?;
    Ok(HttpResponse::Ok().json(paginate(rows, limit, |p| Cursor { sort: BY_ID_ASC.into(), at: None, id: p.id.0 })))
}

/// One pipeline with its stages in order.
#[utoipa::path(
    tag = "pipelines",
    params(("id" = PipelineId, Path)),
    responses((status = 200, body = Pipeline, headers(("ETag" = String))))
)]
#[get("/pipelines/{id}")]
pub async fn get_pipeline(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<PipelineId>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::DealsRead)?;
    let pipeline = pipelines::get(&state.store, caller.workspace_id, id.into_inner()).await?;
    Ok(versioned(pipeline.version, &pipeline))
}

/// Rename a pipeline or make it the default (JSON Merge Patch).
#[utoipa::path(
    tag = "pipelines",
    params(("id" = PipelineId, Path)),
    request_body(content = PipelinePatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, body = Pipeline, headers(("ETag" = String))),
        (status = 409, description = "Problem: `edit_conflict`", body = Problem, content_type = "application/problem+json")
    )
)]
#[patch("/pipelines/{id}")]
pub async fn update_pipeline(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<PipelineId>,
    if_match: IfMatch,
    body: JsonBody<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SettingsAdmin)?;
    let patch = body.0;
    let pipeline = pipelines::update(&state.store, &caller.context(), id.into_inner(), if_match.0, |current| {
        merge(current, patch.clone())?.validate()
    })
    .await?;
    Ok(versioned(pipeline.version, &pipeline))
}

/// Delete a pipeline for good. Refused for the default pipeline and while it holds deals
/// (deleted ones included: they can be restored).
#[utoipa::path(
    tag = "pipelines",
    params(("id" = PipelineId, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "Problem: `default_pipeline`, `pipeline_not_empty`", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/pipelines/{id}")]
pub async fn delete_pipeline(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<PipelineId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SettingsAdmin)?;
    pipelines::delete(&state.store, &caller.context(), id.into_inner(), if_match.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Add a stage, at `position` or at the end. Answers the whole pipeline.
#[utoipa::path(
    tag = "pipelines",
    params(("id" = PipelineId, Path), ("If-Match" = Option<String>, Header, description = "The pipeline's `ETag`; a stale one is answered 412.")),
    request_body = StageInput,
    responses(
        (status = 201, body = Pipeline, headers(("Location" = String), ("ETag" = String))),
        (status = 412, description = "Problem: `version_mismatch`", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/pipelines/{id}/stages")]
pub async fn add_stage(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<PipelineId>,
    if_match: IfMatch,
    body: JsonBody<StageInput>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SettingsAdmin)?;
    let input = body.0.validate()?;
    let pipeline = pipelines::add_stage(&state.store, &caller.context(), id.into_inner(), if_match.0, input).await?;
    Ok(created(location(&pipeline), pipeline.version, &pipeline))
}

/// Put the stages in a new order: `stage_ids` must list every stage of the pipeline once.
#[utoipa::path(
    tag = "pipelines",
    params(("id" = PipelineId, Path), ("If-Match" = Option<String>, Header, description = "The pipeline's `ETag`; a stale one is answered 412.")),
    request_body = StageOrder,
    responses(
        (status = 200, body = Pipeline, headers(("ETag" = String))),
        (status = 412, description = "Problem: `version_mismatch`", body = Problem, content_type = "application/problem+json")
    )
)]
#[put("/pipelines/{id}/stages/order")]
pub async fn reorder_stages(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<PipelineId>,
    if_match: IfMatch,
    body: JsonBody<StageOrder>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SettingsAdmin)?;
    let order = body.0.stage_ids;
    let pipeline =
        pipelines::reorder_stages(&state.store, &caller.context(), id.into_inner(), if_match.0, order).await?;
    Ok(versioned(pipeline.version, &pipeline))
}

/// Rename a stage or change its win probability (JSON Merge Patch). Answers the pipeline.
#[utoipa::path(
    tag = "pipelines",
    params(("id" = PipelineId, Path), ("stage_id" = StageId, Path)),
    request_body(content = StagePatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, body = Pipeline, headers(("ETag" = String))),
        (status = 409, description = "Problem: `edit_conflict`", body = Problem, content_type = "application/problem+json")
    )
)]
#[patch("/pipelines/{id}/stages/{stage_id}")]
pub async fn update_stage(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(PipelineId, StageId)>,
    if_match: IfMatch,
    body: JsonBody<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SettingsAdmin)?;
    let (id, stage) = path.into_inner();
    let patch = body.0;
    let pipeline = pipelines::update_stage(&state.store, &caller.context(), id, stage, if_match.0, |current| {
        merge(current, patch.clone())?.validate()
    })
    .await?;
    Ok(versioned(pipeline.version, &pipeline))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteStageParams {
    /// Another stage of the same pipeline and kind that takes the stage's deals (each move is
    /// recorded). Required when the stage holds deals.
    move_deals_to: Option<StageId>,
}

/// Delete a stage. A stage that holds deals needs `move_deals_to`. Answers the pipeline.
#[utoipa::path(
    tag = "pipelines",
    params(("id" = PipelineId, Path), ("stage_id" = StageId, Path), DeleteStageParams),
    responses(
        (status = 200, body = Pipeline, headers(("ETag" = String))),
        (status = 409, description = "Problem: `stage_not_empty`, `edit_conflict`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Problem: `validation_failed`", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/pipelines/{id}/stages/{stage_id}")]
pub async fn delete_stage(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(PipelineId, StageId)>,
    if_match: IfMatch,
    query: QueryParams<DeleteStageParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SettingsAdmin)?;
    let (id, stage) = path.into_inner();
    let target = query.0.move_deals_to;
    let pipeline = pipelines::delete_stage(&state.store, &caller.context(), id, stage, if_match.0, target).await?;
    Ok(versioned(pipeline.version, &pipeline))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BoardParams {
    /// Deals shown per stage: 1 to 200; default 20.
    limit: Option<u32>,
    /// Only this owner's deals (counts and sums too).
    owner_id: Option<UserId>,
}

/// The board: each open stage with its deal count, amounts per currency (plain and weighted by
/// the stage's probability) and its first deals, most recently updated first. A stage's
/// `next_cursor` continues in `GET /v1/deals?stage_id=<stage>&status=open&sort=-updated_at`
/// (plus `owner_id` when filtered).
#[utoipa::path(
    tag = "pipelines",
    params(("id" = PipelineId, Path), BoardParams),
    responses((status = 200, body = Board))
)]
#[get("/pipelines/{id}/board")]
pub async fn pipeline_board(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<PipelineId>,
    query: QueryParams<BoardParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::DealsRead)?;
    let limit = match query.0.limit {
        None => 20,
        some => page_limit(some)?,
    };
    let board = deals::board(&state.store, caller.workspace_id, id.into_inner(), query.0.owner_id, limit).await?;
    Ok(HttpResponse::Ok().json(board))
}

/// The audit history of a pipeline's configuration, newest first.
#[utoipa::path(
    tag = "pipelines",
    params(("id" = PipelineId, Path), PageParams),
    responses((status = 200, body = Page<AuditEvent>))
)]
#[get("/pipelines/{id}/history")]
pub async fn pipeline_history(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<PipelineId>,
    query: QueryParams<PageParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::DealsRead)?;
    let id = id.into_inner();
    let limit = page_limit(query.0.limit)?;
    let after = decode_cursor(query.0.cursor.as_deref(), super::BY_ID)?;
    pipelines::get(&state.store, caller.workspace_id, id).await?;
    let events =
        audit::history(&state.store, caller.workspace_id, "pipeline", id.0, after.map(|c: Cursor| c.id), limit).await?;
    Ok(HttpResponse::Ok().json(paginate(events, limit, |e| super::id_cursor(e.id.0))))
}
