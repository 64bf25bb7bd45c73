//! One module per resource, each with its handlers and a `configure` that registers them.
//! Shared here: response builders and list parameters.

pub mod analytics;
pub mod api_keys;
pub mod auth;
pub mod coupons;
pub mod customers;
pub mod deals;
pub mod interactions;
pub mod leads;
pub mod loyalty;
pub mod pipelines;
pub mod purchases;
pub mod reassignments;
pub mod rewards;
pub mod scoring_rules;
pub mod segments;
pub mod system;
pub mod tasks;
pub mod users;
pub mod web_forms;

use actix_web::error::JsonPayloadError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, HttpResponseBuilder};
use crm_domain::page::{Cursor, DEFAULT_LIMIT, MAX_LIMIT};
use crm_store::StoreError;
use crm_store::idempotency::StoredResponse;
use serde::Serialize;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, ErrorCode};

/// Registers every `/v1` route.
pub fn configure(cfg: &mut ServiceConfig) {
    // actix tries routes in this order, a regular expression for each pattern with a
    // parameter: the busiest resource first (its lookups spent ≈ 3 % of the process in
    // trying the users' and API keys' patterns).
    customers::configure(cfg);
    auth::configure(cfg);
    users::configure(cfg);
    api_keys::configure(cfg);
    segments::configure(cfg);
    reassignments::configure(cfg);
    interactions::configure(cfg);
    tasks::configure(cfg);
    pipelines::configure(cfg);
    deals::configure(cfg);
    leads::configure(cfg);
    scoring_rules::configure(cfg);
    web_forms::configure(cfg);
    purchases::configure(cfg);
    coupons::configure(cfg);
    loyalty::configure(cfg);
    rewards::configure(cfg);
    analytics::configure(cfg);
}

fn etag(version: i64) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

/// `201 Created` with `Location` and `ETag`.
pub fn created<T: Serialize>(location: String, version: i64, body: &T) -> HttpResponse {
    json(HttpResponse::Created().insert_header((header::LOCATION, location)).insert_header(etag(version)), body)
}

/// The `201 Created` of [`created`], as kept for replay by a write that records its
/// Idempotency-Key (`replay::recorded` sends it).
pub fn created_stored<T: Serialize>(location: String, version: i64, body: &T) -> Result<StoredResponse, StoreError> {
    let response = created(location, version, body);
    if response.status() != StatusCode::CREATED {
        // `created` answers 500 when the body does not serialize: never an answer to keep.
        return Err(StoreError::Corrupt("the response body could not be serialized".into()));
    }
    crate::replay::kept_whole(response).ok_or_else(|| StoreError::Corrupt("the response body could not be kept".into()))
}

/// `200 OK` with `ETag`.
pub fn versioned<T: Serialize>(version: i64, body: &T) -> HttpResponse {
    json(HttpResponse::Ok().insert_header(etag(version)), body)
}

/// One resource as JSON, serialized into a buffer sized for it: `.json()` starts at 128 bytes
/// and regrows three times for a customer.
fn json(response: &mut HttpResponseBuilder, body: &impl Serialize) -> HttpResponse {
    let mut buffer = Vec::with_capacity(1024);
    match serde_json::to_writer(&mut buffer, body) {
        Ok(()) => response.insert_header(header::ContentType::json()).body(buffer),
        Err(e) => HttpResponse::from_error(JsonPayloadError::Serialize(e)),
    }
}

/// The page size: 50 unless asked, at most 200.
pub fn page_limit(limit: Option<u32>) -> ApiResult<u32> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::parameter("limit", format!("must be between 1 and {MAX_LIMIT}"))),
    }
}

/// Decodes a cursor made for `sort`.
pub fn decode_cursor(cursor: Option<&str>, sort: &str) -> ApiResult<Option<Cursor>> {
    match cursor {
        None => Ok(None),
        Some(raw) => Cursor::decode(raw, sort)
            .map(Some)
            .ok_or_else(|| ApiError::new(ErrorCode::InvalidCursor, "the cursor is not one this list returned")),
    }
}

/// Cursors of lists ordered newest first by id.
pub const BY_ID: &str = "-id";

pub fn id_cursor(id: Uuid) -> Cursor {
    Cursor { sort: BY_ID.to_owned(), at: None, id }
}
