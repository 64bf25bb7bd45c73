//! Bulk owner handover: when someone leaves, their open customers, leads and deals move to a
//! colleague in one call, each record keeping the reason in its history.

use actix_web::{HttpResponse, post, web};
use crm_domain::access::Scope;
use crm_domain::owner::{BulkReassign, ReassignCounts};
use crm_store::ownership;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::JsonBody;
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(reassign_all);
}

/// Move every open record of one owner to another.
///
/// Live customers, leads that are neither converted nor disqualified, and open deals change
/// owner; each gets a new version and a `reassign` event with the reason. Needs write access to
/// all three kinds. Safe to retry: a second call finds nothing left to move.
#[utoipa::path(
    tag = "reassignments",
    request_body = BulkReassign,
    responses((status = 200, body = ReassignCounts))
)]
#[post("/reassignments")]
pub async fn reassign_all(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<BulkReassign>,
) -> ApiResult<HttpResponse> {
    for scope in [Scope::CustomersWrite, Scope::LeadsWrite, Scope::DealsWrite] {
        caller.require(scope)?;
    }
    let bulk = body.0.validate()?;
    let counts =
        ownership::reassign_all(&state.store, &caller.context(), bulk.from_owner_id, bulk.to_owner_id, &bulk.reason)
            .await?;
    Ok(HttpResponse::Ok().json(counts))
}
