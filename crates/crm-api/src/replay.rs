//! Rebuilds the answer to an idempotent create (or refund) whose first attempt committed but
//! never stored its response (the process died in between, or failed after the commit:
//! `Claim::Committed`): 201 with the record as it is now, its `Location` and `ETag`, as the
//! create handler would have answered; for a refund 200 with the purchase as it is now.

use actix_web::body::MessageBody;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use crm_domain::audit::AuditAction;
use crm_domain::coupon::normalise_code;
use crm_domain::loyalty::LedgerWrite;
use crm_domain::{
    CouponId, CouponRedemptionId, CustomerId, DealId, InteractionId, LeadId, LedgerEntryId, PipelineId, PurchaseId,
    RewardId, ScoringRuleId, SegmentId, TaskId, UserId, WebFormId, WorkspaceId,
};
use crm_store::idempotency::StoredResponse;
use crm_store::{
    Store, StoreError, coupons, customers, deals, interactions, leads, loyalty, pipelines, purchases, rewards,
    scoring_rules, segments, tasks, users, web_forms,
};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::routes::{created, versioned};

/// Marks the response of a write that recorded its Idempotency-Key itself (see
/// `idempotency::KeyedRequest`): the gate has nothing left to store.
pub struct KeyRecorded;

/// Marks the answer of a keyed write that found its key taken and wrote nothing: the gate
/// answers from the key instead.
pub struct KeyTaken;

/// Headers worth replaying with a stored response.
const REPLAYED_HEADERS: [&str; 3] = ["content-type", "location", "etag"];

/// What is kept of a response, with its body, for replay.
pub fn kept<B>(response: &HttpResponse<B>, body: &[u8]) -> StoredResponse {
    let headers = REPLAYED_HEADERS
        .iter()
        .filter_map(|name| {
            let value = response.headers().get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect();
    StoredResponse { status: response.status().as_u16(), body: String::from_utf8_lossy(body).into_owned(), headers }
}

/// A response built in full (a JSON body), as kept for replay.
pub fn kept_whole(response: HttpResponse) -> Option<StoredResponse> {
    let (response, body) = response.into_parts();
    let bytes = body.try_into_bytes().ok()?;
    Some(kept(&response, &bytes))
}

/// A stored response as sent.
pub fn sent(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    for (name, value) in &stored.headers {
        response.insert_header((name.as_str(), value.as_str()));
    }
    response.body(stored.body)
}

/// The answer of a write that records its Idempotency-Key, if it has one, with its response
/// (`written`); `None`: a request with the key came first, and nothing was written.
pub fn recorded(written: Option<StoredResponse>) -> HttpResponse {
    match written {
        Some(stored) => {
            let mut response = sent(stored);
            response.extensions_mut().insert(KeyRecorded);
            response
        }
        None => {
            let detail = "a request with this Idempotency-Key came first";
            let mut response = ApiError::new(ErrorCode::IdempotencyKeyInUse, detail).error_response();
            response.extensions_mut().insert(KeyTaken);
            response
        }
    }
}

/// A committed write, named as its audit event names it.
pub struct Written<'a> {
    pub entity_type: &'a str,
    pub id: Uuid,
    pub action: &'a str,
}

/// The answer to the request at `path` that made `written`: a purchase's refund
/// (`POST /v1/purchases/{id}/refund`), else a create, see [`created_response`].
pub async fn rebuilt_response(
    store: &Store,
    ws: WorkspaceId,
    path: &str,
    written: Written<'_>,
) -> ApiResult<HttpResponse> {
    if written.action != AuditAction::Refund.as_str() {
        return created_response(store, ws, path, written.entity_type, written.id).await;
    }
    let rebuilt = if written.entity_type == "purchase" && path == format!("/v1/purchases/{}/refund", written.id) {
        purchases::get(store, ws, PurchaseId(written.id)).await.map(|p| versioned(p.version, &p))
    } else {
        Err(StoreError::NotFound)
    };
    rebuilt.map_err(|e| lost(e, written.entity_type, written.id))
}

/// The create response for the record `entity_type`/`id` (the audit event's names), when the
/// request at `path` is that record's create (`POST /v1/<collection>`, or for a coupon
/// redemption `POST /v1/coupons/{code}/redeem` of its coupon's code). A record whose create
/// response can't be shown again (an API key's secret is shown only once), that no longer
/// exists, or that another kind of request made (a lead conversion creates a customer) is
/// answered 409 `idempotency_key_in_use`.
async fn created_response(
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
        "coupon" => coupons::get(store, ws, CouponId(id), true).await.map(|r| answer("coupons", id, r.version, &r)),
        "coupon_redemption" => return redemption_response(store, ws, path, CouponRedemptionId(id)).await,
        "loyalty_entry" => return ledger_write_response(store, ws, path, id).await,
        "reward" => rewards::get(store, ws, RewardId(id), true).await.map(|r| answer("rewards", id, r.version, &r)),
        _ => Err(StoreError::NotFound),
    };
    let rebuilt = rebuilt.and_then(|response| {
        let location = response.headers().get(actix_web::http::header::LOCATION).and_then(|l| l.to_str().ok());
        if location == Some(format!("{path}/{id}").as_str()) { Ok(response) } else { Err(StoreError::NotFound) }
    });
    rebuilt.map_err(|e| lost(e, entity_type, id))
}

fn lost(e: StoreError, entity_type: &str, id: Uuid) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::new(
            ErrorCode::IdempotencyKeyInUse,
            format!(
                "the first request with this key completed (it wrote {entity_type} {id}) but its response was \
                 lost and cannot be rebuilt"
            ),
        ),
        other => other.into(),
    }
}

/// The answer to `POST /v1/coupons/{code}/redeem` that made redemption `id`, when `path` is a
/// redeem of that redemption's coupon (codes are fixed once redeemed).
async fn redemption_response(
    store: &Store,
    ws: WorkspaceId,
    path: &str,
    id: CouponRedemptionId,
) -> ApiResult<HttpResponse> {
    let rebuilt = async {
        let coupon = coupons::coupon_of_redemption(store, ws, id).await?;
        let code = path.strip_prefix("/v1/coupons/").and_then(|rest| rest.strip_suffix("/redeem"));
        if code.and_then(normalise_code).as_deref() != Some(coupon.data.code.as_str()) {
            return Err(StoreError::NotFound);
        }
        let redemption = coupons::get_redemption(store, ws, coupon.id, id).await?;
        Ok(crate::routes::coupons::redeemed(&redemption))
    };
    rebuilt.await.map_err(|e| lost(e, "coupon_redemption", id.0))
}

/// A redemption or adjustment (`POST /v1/customers/{id}/loyalty/redeem|adjust`) answered again:
/// its entry, and the balance right after it, as the first answer had them.
async fn ledger_write_response(store: &Store, ws: WorkspaceId, path: &str, id: Uuid) -> ApiResult<HttpResponse> {
    let segments: Vec<&str> = path.split('/').collect();
    let customer = match segments.as_slice() {
        ["", "v1", "customers", customer, "loyalty", "redeem" | "adjust"] => customer.parse::<CustomerId>().ok(),
        _ => None,
    };
    let entry = match customer {
        Some(customer) => loyalty::entry(store, ws, customer, LedgerEntryId(id)).await,
        None => Err(StoreError::NotFound),
    };
    entry
        .map(|entry| crate::routes::loyalty::written(&LedgerWrite { balance: entry.balance_after, entry }))
        .map_err(|e| lost(e, "loyalty_entry", id))
}

fn answer<T: Serialize>(collection: &str, id: Uuid, version: i64, body: &T) -> HttpResponse {
    created(format!("/v1/{collection}/{id}"), version, body)
}
