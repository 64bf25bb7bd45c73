//! Lead scoring rules: listed by anyone who reads leads, written by workspace admins
//! (`settings:admin`). Every change rescores the workspace's live leads before answering.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use crm_domain::ScoringRuleId;
use crm_domain::access::Scope;
use crm_domain::page::{Cursor, Page, paginate};
use crm_domain::patch::merge;
use crm_domain::scoring::{ScoringRule, ScoringRuleInput};
use crm_store::scoring_rules;
use utoipa_actix_web::service_config::ServiceConfig;

use super::users::PageParams;
use super::{created, decode_cursor, page_limit, versioned};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{IfMatch, JsonBody, QueryParams};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_rule).service(list_rules).service(get_rule).service(update_rule).service(delete_rule);
}

crate::merge_patch_schema!(ScoringRulePatch, ScoringRuleInput);

/// Rules are listed in creation order, the order their reasons appear in.
const BY_ID_ASC: &str = "id";

/// Add a scoring rule; every live lead is rescored before the answer.
///
/// A rule that cannot fire (unknown field, operator unfit for the field, value of the wrong
/// type) is a 422. A workspace has at most 100 rules.
#[utoipa::path(
    tag = "scoring-rules",
    request_body = ScoringRuleInput,
    responses((status = 201, body = ScoringRule, headers(("Location" = String), ("ETag" = String))))
)]
#[post("/scoring-rules")]
pub async fn create_rule(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<ScoringRuleInput>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SettingsAdmin)?;
    let input = body.0.validate()?;
    let rule = scoring_rules::create(&state.store, &caller.context(), input).await?;
    Ok(created(format!("/v1/scoring-rules/{}", rule.id), rule.version, &rule))
}

/// The workspace's scoring rules, in creation order.
#[utoipa::path(tag = "scoring-rules", params(PageParams), responses((status = 200, body = Page<ScoringRule>)))]
#[get("/scoring-rules")]
pub async fn list_rules(
    state: web::Data<AppState>,
    caller: Caller,
    query: QueryParams<PageParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LeadsRead)?;
    let limit = page_limit(query.0.limit)?;
    let after = decode_cursor(query.0.cursor.as_deref(), BY_ID_ASC)?;
    let rules = scoring_rules::list(&state.store, caller.workspace_id, after.map(|c| c.id), limit).await?;
    let cursor = |r: &ScoringRule| Cursor { sort: BY_ID_ASC.to_owned(), at: None, id: r.id.0 };
    Ok(HttpResponse::Ok().json(paginate(rules, limit, cursor)))
}

/// One scoring rule.
#[utoipa::path(
    tag = "scoring-rules",
    params(("id" = ScoringRuleId, Path)),
    responses((status = 200, body = ScoringRule, headers(("ETag" = String))))
)]
#[get("/scoring-rules/{id}")]
pub async fn get_rule(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<ScoringRuleId>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LeadsRead)?;
    let rule = scoring_rules::get(&state.store, caller.workspace_id, id.into_inner()).await?;
    Ok(versioned(rule.version, &rule))
}

/// Change a scoring rule with a JSON Merge Patch; every live lead is rescored.
#[utoipa::path(
    tag = "scoring-rules",
    params(("id" = ScoringRuleId, Path)),
    request_body(content = ScoringRulePatch, content_type = "application/merge-patch+json"),
    responses((status = 200, body = ScoringRule, headers(("ETag" = String))), (status = 412, description = "version_mismatch"))
)]
#[patch("/scoring-rules/{id}")]
pub async fn update_rule(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<ScoringRuleId>,
    if_match: IfMatch,
    body: JsonBody<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SettingsAdmin)?;
    let patch = body.0;
    let rule = scoring_rules::update(&state.store, &caller.context(), id.into_inner(), if_match.0, |current| {
        merge(&current.input(), patch.clone())?.validate()
    })
    .await?;
    Ok(versioned(rule.version, &rule))
}

/// Delete a scoring rule for good (its history stays in the audit log); leads are rescored.
#[utoipa::path(
    tag = "scoring-rules",
    params(("id" = ScoringRuleId, Path)),
    responses((status = 204, description = "Deleted"), (status = 412, description = "version_mismatch"))
)]
#[delete("/scoring-rules/{id}")]
pub async fn delete_rule(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<ScoringRuleId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::SettingsAdmin)?;
    scoring_rules::delete(&state.store, &caller.context(), id.into_inner(), if_match.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
