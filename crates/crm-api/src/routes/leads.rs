//! Leads: create, read, merge-patch with versions, soft delete and restore, owner handover,
//! history, and keyset lists filtered and sorted by status, source, UTM fields and score.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use crm_domain::access::Scope;
use crm_domain::audit::AuditEvent;
use crm_domain::conversion::{Conversion, ConvertLead};
use crm_domain::lead::{Lead, LeadCursor, LeadFilter, LeadInput, LeadSort, LeadSource, LeadStatus};
use crm_domain::owner::Reassign;
use crm_domain::page::{Cursor, Page};
use crm_domain::patch::merge;
use crm_domain::{LeadId, UserId, WebFormId};
use crm_store::{audit, conversion, leads};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::users::PageParams;
use super::{created, decode_cursor, page_limit, versioned};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{IfMatch, JsonBody, QueryParams};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_lead)
        .service(list_leads)
        .service(get_lead)
        .service(update_lead)
        .service(delete_lead)
        .service(restore_lead)
        .service(reassign_lead)
        .service(convert_lead)
        .service(lead_history);
}

crate::merge_patch_schema!(LeadPatch, LeadInput);

fn location(lead: &Lead) -> String {
    format!("/v1/leads/{}", lead.id)
}

/// Create a lead. It is scored with the workspace's rules at once.
///
/// A live lead with the same email is a `409 lead_exists` whose detail names that lead.
#[utoipa::path(
    tag = "leads",
    request_body = LeadInput,
    responses((status = 201, body = Lead, headers(("Location" = String), ("ETag" = String))))
)]
#[post("/leads")]
pub async fn create_lead(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<LeadInput>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LeadsWrite)?;
    let input = body.0.validate(None)?;
    let lead = leads::create(&state.store, &caller.context(), input).await?;
    Ok(created(location(&lead), lead.version, &lead))
}

/// Filters, order and paging of the lead list.
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
    status: Option<LeadStatus>,
    source: Option<LeadSource>,
    owner_id: Option<UserId>,
    /// Leads captured by this web form.
    web_form_id: Option<WebFormId>,
    email: Option<String>,
    utm_source: Option<String>,
    utm_medium: Option<String>,
    utm_campaign: Option<String>,
    /// Leads scoring at least this much.
    score_min: Option<i32>,
    /// Leads scoring at most this much.
    score_max: Option<i32>,
    /// Comma-separated; every tag must be present.
    tag: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::instant")]
    created_after: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "crate::extract::instant")]
    created_before: Option<DateTime<Utc>>,
    /// Case-insensitive search in names, company, email and phone.
    q: Option<String>,
    /// `true` lists deleted (restorable) leads instead.
    deleted: Option<bool>,
}

fn sort_schema() -> utoipa::openapi::Object {
    crate::openapi::sort_schema(&LeadSort::ACCEPTED, "Default `-created_at`, newest first.")
}

fn trimmed(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

impl ListParams {
    fn filter(&self) -> ApiResult<LeadFilter> {
        let tags: Vec<String> = self
            .tag
            .as_deref()
            .map(|t| t.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let email = match &self.email {
            Some(raw) => {
                Some(crm_domain::values::parse_email(raw).map_err(|e| ApiError::parameter("email", e.message))?)
            }
            None => None,
        };
        let q = trimmed(&self.q);
        if q.as_ref().is_some_and(|q| q.chars().count() > 200) {
            return Err(ApiError::parameter("q", "must be at most 200 characters"));
        }
        if let (Some(min), Some(max)) = (self.score_min, self.score_max)
            && min > max
        {
            return Err(ApiError::parameter("score_min", "must not exceed score_max"));
        }
        Ok(LeadFilter {
            status: self.status,
            source: self.source,
            owner_id: self.owner_id,
            web_form_id: self.web_form_id,
            email,
            utm_source: trimmed(&self.utm_source),
            utm_medium: trimmed(&self.utm_medium),
            utm_campaign: trimmed(&self.utm_campaign),
            score_min: self.score_min,
            score_max: self.score_max,
            tags,
            created_after: self.created_after,
            created_before: self.created_before,
            q,
            deleted: self.deleted.unwrap_or(false),
        })
    }
}

/// List leads: filter (by score too), sort (by score too), and page with a cursor.
#[utoipa::path(tag = "leads", params(ListParams), responses((status = 200, body = Page<Lead>)))]
#[get("/leads")]
pub async fn list_leads(
    state: web::Data<AppState>,
    caller: Caller,
    query: QueryParams<ListParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LeadsRead)?;
    let params = query.0;
    let limit = page_limit(params.limit)?;
    let sort = match params.sort.as_deref() {
        None => LeadSort::default(),
        Some(s) => LeadSort::parse(s)
            .ok_or_else(|| ApiError::parameter("sort", format!("must be one of {}", LeadSort::ACCEPTED.join(", "))))?,
    };
    let after = match params.cursor.as_deref() {
        None => None,
        Some(raw) => Some(
            LeadCursor::decode(raw, sort)
                .ok_or_else(|| ApiError::new(ErrorCode::InvalidCursor, "the cursor is not one this list returned"))?,
        ),
    };
    let filter = params.filter()?;
    let mut rows = leads::list(&state.store, caller.workspace_id, &filter, sort, after.as_ref(), limit).await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|last| leads::cursor_after(sort, last).encode())
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(Page { data: rows, next_cursor }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GetParams {
    /// `true` returns the lead even when it is deleted.
    include_deleted: Option<bool>,
}

/// One lead, with its score and the rules that gave it.
#[utoipa::path(
    tag = "leads",
    params(("id" = LeadId, Path), GetParams),
    responses((status = 200, body = Lead, headers(("ETag" = String))))
)]
#[get("/leads/{id}")]
pub async fn get_lead(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<LeadId>,
    query: QueryParams<GetParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LeadsRead)?;
    let include_deleted = query.0.include_deleted.unwrap_or(false);
    let lead = leads::get(&state.store, caller.workspace_id, id.into_inner(), include_deleted).await?;
    Ok(versioned(lead.version, &lead))
}

/// Update a lead with a JSON Merge Patch (RFC 7396); it is rescored.
///
/// `status` cannot become `converted` here (conversion does that), and `disqualified` needs a
/// `lost_reason`. Send `If-Match` with the ETag you read to avoid overwriting someone's change.
#[utoipa::path(
    tag = "leads",
    params(("id" = LeadId, Path)),
    request_body(content = LeadPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, body = Lead, headers(("ETag" = String))),
        (status = 409, description = "Problem: `lead_exists`, `edit_conflict`"),
        (status = 412, description = "version_mismatch")
    )
)]
#[patch("/leads/{id}")]
pub async fn update_lead(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<LeadId>,
    if_match: IfMatch,
    body: JsonBody<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LeadsWrite)?;
    let patch = body.0;
    let lead = leads::update(&state.store, &caller.context(), id.into_inner(), if_match.0, |current| {
        merge(&current.data, patch.clone())?.validate(Some(current.data.status))
    })
    .await?;
    Ok(versioned(lead.version, &lead))
}

/// Delete a lead (soft: restorable with `POST /v1/leads/{id}/restore`).
#[utoipa::path(
    tag = "leads",
    params(("id" = LeadId, Path)),
    responses((status = 204, description = "Deleted"), (status = 412, description = "version_mismatch"))
)]
#[delete("/leads/{id}")]
pub async fn delete_lead(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<LeadId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LeadsWrite)?;
    leads::set_deleted(&state.store, &caller.context(), id.into_inner(), if_match.0, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a deleted lead (rescored). Restoring a live lead changes nothing; restoring one
/// whose email a live lead has meanwhile is a `409 lead_exists`.
#[utoipa::path(
    tag = "leads",
    params(("id" = LeadId, Path)),
    responses((status = 200, body = Lead, headers(("ETag" = String))), (status = 412, description = "version_mismatch"))
)]
#[post("/leads/{id}/restore")]
pub async fn restore_lead(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<LeadId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LeadsWrite)?;
    let lead = leads::set_deleted(&state.store, &caller.context(), id.into_inner(), if_match.0, false).await?;
    Ok(versioned(lead.version, &lead))
}

/// Hand a lead to another owner, with the reason kept in its history.
#[utoipa::path(
    tag = "leads",
    params(("id" = LeadId, Path)),
    request_body = Reassign,
    responses((status = 200, body = Lead, headers(("ETag" = String))), (status = 412, description = "version_mismatch"))
)]
#[post("/leads/{id}/reassign")]
pub async fn reassign_lead(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<LeadId>,
    if_match: IfMatch,
    body: JsonBody<Reassign>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LeadsWrite)?;
    let Reassign { owner_id, reason } = body.0.validate()?;
    let lead = leads::reassign(&state.store, &caller.context(), id.into_inner(), if_match.0, owner_id, reason).await?;
    Ok(versioned(lead.version, &lead))
}

/// The audit history of a lead, newest first: who changed which field, from what to what.
#[utoipa::path(
    tag = "leads",
    params(("id" = LeadId, Path), PageParams),
    responses((status = 200, body = Page<AuditEvent>))
)]
#[get("/leads/{id}/history")]
pub async fn lead_history(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<LeadId>,
    query: QueryParams<PageParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LeadsRead)?;
    let id = id.into_inner();
    let limit = page_limit(query.0.limit)?;
    let after = decode_cursor(query.0.cursor.as_deref(), super::BY_ID)?;
    if !leads::exists(&state.store, caller.workspace_id, id).await? {
        return Err(ApiError::not_found());
    }
    let events =
        audit::history(&state.store, caller.workspace_id, "lead", id.0, after.map(|c: Cursor| c.id), limit).await?;
    Ok(HttpResponse::Ok().json(crm_domain::page::paginate(events, limit, |e| super::id_cursor(e.id.0))))
}

/// Convert a lead into a customer and, optionally, a deal — in one transaction.
///
/// The customer is the one named by `customer_id`, else a live customer with the lead's email,
/// else a new one made from the lead (a person when the lead names one, else a company). The
/// lead becomes `converted` with `converted_customer_id` and `converted_deal_id`, and its score
/// is kept on the customer (`lead_score_min`/`_max` in segments). Converting twice is a 409
/// `already_converted`; a disqualified lead is a 409 `lead_disqualified`. Needs `leads:write`,
/// `customers:write`, and `deals:write` when a deal is asked for.
#[utoipa::path(
    tag = "leads",
    params(("id" = LeadId, Path)),
    request_body = ConvertLead,
    responses(
        (status = 200, body = Conversion, headers(("ETag" = String, description = "The lead's new version"))),
        (status = 409, description = "already_converted, lead_disqualified"),
        (status = 412, description = "version_mismatch")
    )
)]
#[post("/leads/{id}/convert")]
pub async fn convert_lead(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<LeadId>,
    if_match: IfMatch,
    body: JsonBody<ConvertLead>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::LeadsWrite)?;
    caller.require(Scope::CustomersWrite)?;
    if body.0.deal.is_some() {
        caller.require(Scope::DealsWrite)?;
    }
    let done = conversion::convert(&state.store, &caller.context(), id.into_inner(), if_match.0, body.0).await?;
    Ok(versioned(done.lead.version, &done))
}
