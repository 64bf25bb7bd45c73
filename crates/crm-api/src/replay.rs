//! Rebuilds the answer to an idempotent create whose first attempt committed but never stored
//! its response (the process died in between, `Claim::Committed`): 201 with the record as it
//! is now, its `Location` and `ETag`, as the create handler would have answered.

use actix_web::HttpResponse;
use crm_domain::{
    CustomerId, DealId, InteractionId, LeadId, PipelineId, PurchaseId, ScoringRuleId, SegmentId, TaskId, UserId,
    WebFormId, WorkspaceId,
};
use crm_store::{
    Store, StoreError, customers, deals, interactions, leads, pipelines, purchases, scoring_rules, segments, tasks,
    users, web_forms,
};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::routes::created;

/// The create response for the record `entity_type`/`id` (the audit event's names), when the
/// request at `path` is that record's create (`POST /v1/<collection>`). A record whose create
/// response can't be shown again (an API key's secret is shown only once), that no longer
/// exists, or that another kind of request made (a lead conversion creates a customer) is
/// answered 409 `idempotency_key_in_use`.
pub async fn created_response(
    store: &Store,
    ws: WorkspaceId,
    path: &str,
    entity_type: &str,
    id: Uuid,
) -> ApiResult<HttpResponse> {
    // Deleted records are included: the create happened, the client sees the record as it is.
    let rebuilt = match entity_type {
        "customer" => {
            customers::get(store, ws, CustomerId(id), true).await.map(|r| answer("customers", id, r.version, &r))
        }
        "deal" => deals::get(store, ws, DealId(id), true).await.map(|r| answer("deals", id, r.version, &r)),
        "pipeline" => pipelines::get(store, ws, PipelineId(id)).await.map(|r| answer("pipelines", id, r.version, &r)),
        "lead" => leads::get(store, ws, LeadId(id), true).await.map(|r| answer("leads", id, r.version, &r)),
        "interaction" => interactions::get(store, ws, InteractionId(id), true)
            .await
            .map(|r| answer("interactions", id, r.version, &r)),
        "task" => tasks::get(store, ws, TaskId(id), true).await.map(|r| answer("tasks", id, r.version, &r)),
        "segment" => segments::get(store, ws, SegmentId(id), true).await.map(|r| answer("segments", id, r.version, &r)),
        "scoring_rule" => {
            scoring_rules::get(store, ws, ScoringRuleId(id)).await.map(|r| answer("scoring-rules", id, r.version, &r))
        }
        "web_form" => {
            web_forms::get(store, ws, WebFormId(id), true).await.map(|r| answer("web-forms", id, r.version, &r))
        }
        "purchase" => purchases::get(store, ws, PurchaseId(id)).await.map(|r| answer("purchases", id, r.version, &r)),
        "user" => users::get(store, ws, UserId(id)).await.map(|r| answer("users", id, r.version, &r)),
        _ => Err(StoreError::NotFound),
    };
    let rebuilt = rebuilt.and_then(|response| {
        let location = response.headers().get(actix_web::http::header::LOCATION).and_then(|l| l.to_str().ok());
        if location == Some(format!("{path}/{id}").as_str()) { Ok(response) } else { Err(StoreError::NotFound) }
    });
    rebuilt.map_err(|e| match e {
        StoreError::NotFound => ApiError::new(
            ErrorCode::IdempotencyKeyInUse,
            format!(
                "the first request with this key completed (it created {entity_type} {id}) but its response was \
                 lost and cannot be rebuilt"
            ),
        ),
        other => other.into(),
    })
}

fn answer<T: Serialize>(collection: &str, id: Uuid, version: i64, body: &T) -> HttpResponse {
    created(format!("/v1/{collection}/{id}"), version, body)
}
