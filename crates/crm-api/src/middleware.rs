//! Middleware. `request_context` wraps every request: request id, access log, metrics.
//! `gate` wraps `/v1`: authentication, the per-caller rate limit and idempotency keys.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use crm_domain::WorkspaceId;
use crm_store::idempotency::{self, Claim, KeyedRequest, StoredResponse};
use sha2::{Digest, Sha256};

use crate::auth::{Authentication, Caller, authenticate};
use crate::error::{ApiError, ErrorCode};
use crate::extract::read_body;
use crate::replay;
use crate::state::{AppState, RateKey, check_rate};

/// The id of the current request, from `X-Request-Id` or generated; shared with the request's
/// [`Caller`], which every handler clones.
#[derive(Clone)]
pub struct RequestId(pub Arc<str>);

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn acceptable_request_id(value: &HeaderValue) -> Option<Arc<str>> {
    let text = value.to_str().ok()?;
    let ok = !text.is_empty() && text.len() <= 128 && text.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| text.into())
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(acceptable_request_id)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string().into());
    req.extensions_mut().insert(RequestId(id.clone()));
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().clone();
    // Copied only for the access log, when it is on.
    let path = log::log_enabled!(log::Level::Info).then(|| req.path().to_owned());
    let mut res = next.call(req).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    let status = res.status();
    let elapsed = started.elapsed();
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    if let Some(state) = state {
        state.metrics.observe(&route, method.as_str(), status.as_str(), elapsed.as_secs_f64());
    }
    if let Some(path) = path {
        log::info!("{id} {method} {path} {} {:.2}ms", status.as_u16(), elapsed.as_secs_f64() * 1000.0);
    }
    Ok(res)
}

fn respond(req: ServiceRequest, error: ApiError) -> ServiceResponse<BoxBody> {
    req.into_response(error.error_response())
}

pub async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().map(|d| d.clone().into_inner()) else {
        return Ok(respond(req, ApiError::internal("gate", "application state missing")));
    };
    // Public web-form submissions carry no credentials (any sent are ignored) and no
    // idempotency; they are limited per client IP like any anonymous request.
    let public = is_public_form_path(req.path());
    let authenticated = if public { Ok(None) } else { authenticate(&state, req.request()).await };
    let caller = match authenticated {
        Ok(Some(caller)) => {
            req.extensions_mut().insert(Authentication::Caller(caller.clone()));
            Some(caller)
        }
        Ok(None) => None,
        Err(e) if e.code == ErrorCode::Unauthorized => {
            req.extensions_mut().insert(Authentication::Failed(e.detail));
            None
        }
        Err(e) => return Ok(respond(req, e)),
    };

    let limit_key = match &caller {
        Some(caller) => RateKey::Actor(caller.actor),
        None => RateKey::Address(req.peer_addr().map(|a| a.ip())),
    };
    let remaining =
        match check_rate(&state.limiter, &limit_key, "slow down: the rate limit for this caller is exceeded") {
            Ok(remaining) => remaining,
            Err(error) => {
                let mut res = respond(req, error);
                rate_limit_headers(&mut res, state.rate_limit_burst, 0);
                return Ok(res);
            }
        };

    let idempotency_key = req.headers().get("idempotency-key").cloned();
    let mut res = match (req.method() == Method::POST && !public, idempotency_key, caller) {
        // Boxed: the keyed path's state would otherwise make every request's future larger,
        // and each is moved into the heap by the middleware that runs it.
        (true, Some(key), Some(caller)) => Box::pin(idempotent(&state, &caller, key, req, next)).await?,
        _ => next.call(req).await?.map_into_boxed_body(),
    };
    rate_limit_headers(&mut res, state.rate_limit_burst, remaining);
    Ok(res)
}

/// `/v1/forms/{public_token}/submissions`: the one `/v1` path that needs no credentials.
pub fn is_public_form_path(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    matches!(segments.as_slice(), ["", "v1", "forms", token, "submissions"] if !token.is_empty())
}

fn rate_limit_headers(res: &mut ServiceResponse<BoxBody>, limit: u32, remaining: u32) {
    let headers = res.headers_mut();
    headers.insert(HeaderName::from_static("ratelimit-limit"), HeaderValue::from(limit));
    headers.insert(HeaderName::from_static("ratelimit-remaining"), HeaderValue::from(remaining));
}

/// `POST` routes whose write records its Idempotency-Key, with its response, in its own
/// transaction (`idempotency::KeyedRequest`); the hottest creates. Every other keyed `POST` is
/// claimed here before it runs and completed after.
const RECORDED_IN_WRITE: [&str; 1] = ["/v1/customers"];

/// What an `Idempotency-Key` may be: 1 to 255 visible ASCII characters, spaces only inside
/// (HTTP drops them at the ends). The spec publishes it as the header's pattern.
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]([ -~]{0,253}[!-~])?$";

/// Reads exactly what [`IDEMPOTENCY_KEY_PATTERN`] allows.
fn is_idempotency_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    let visible = |b: &u8| b.is_ascii_graphic();
    (1..=255).contains(&bytes.len())
        && bytes.first().is_some_and(visible)
        && bytes.last().is_some_and(visible)
        && bytes.iter().all(|b| *b == b' ' || b.is_ascii_graphic())
}

async fn idempotent(
    state: &Arc<AppState>,
    caller: &Caller,
    key: HeaderValue,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let key = match key.to_str() {
        Ok(k) if is_idempotency_key(k) => k.to_owned(),
        _ => {
            let error =
                ApiError::new(ErrorCode::InvalidHeader, "Idempotency-Key must be 1 to 255 visible ASCII characters");
            return Ok(respond(req, error));
        }
    };
    let (http_req, payload) = req.parts_mut();
    let body = match read_body(http_req, payload).await {
        Ok(body) => body,
        Err(e) => return Ok(respond(req, e)),
    };
    let mut hasher = Sha256::new();
    for part in [req.method().as_str(), req.path(), req.query_string()] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.update(&body);
    let request = KeyedRequest { caller: caller.key(), key, request_hash: hex::encode(hasher.finalize()) };
    let ws = caller.workspace_id;

    // The handler's writes stamp the key on their audit events (`Caller::context`), in their own
    // transaction, so a retry can tell that they committed even if their response was never
    // stored (claimed here, we may die before `complete`).
    let mut keyed = caller.clone().with_idempotency_key(idempotency::identity(&request.caller, &request.key));
    let recorded_in_write = RECORDED_IN_WRITE.contains(&req.path());
    if recorded_in_write {
        keyed = keyed.with_keyed_request(request.clone());
    } else if let Some(answer) = answer_claim(state, ws, &request, req.path()).await {
        return Ok(req.into_response(answer));
    }
    req.extensions_mut().insert(Authentication::Caller(keyed));
    req.set_payload(body.into());
    let res = next.call(req).await?;
    let (recorded, taken) = {
        let extensions = res.response().extensions();
        (extensions.contains::<replay::KeyRecorded>(), extensions.contains::<replay::KeyTaken>())
    };
    // Only where the gate left the key to the write: elsewhere the handler wrote without it.
    if recorded && recorded_in_write {
        return Ok(res.map_into_boxed_body());
    }
    if res.status().is_server_error() {
        // Our failure, not the client's: let a retry run the request again.
        if !recorded_in_write && let Err(e) = idempotency::release(&state.store, ws, &request).await {
            log::error!("releasing idempotency key: {e}");
        }
        return Ok(res.map_into_boxed_body());
    }
    if recorded_in_write {
        // Refused before writing, or the key was taken first: answer as a claim of it does.
        match answer_claim(state, ws, &request, res.request().path()).await {
            Some(answer) => return Ok(ServiceResponse::new(res.request().clone(), answer)),
            // The key was taken, and is gone or abandoned since: now claimed for a request that
            // did not run. Free it and let the client retry.
            None if taken => {
                if let Err(e) = idempotency::release(&state.store, ws, &request).await {
                    log::error!("releasing idempotency key: {e}");
                }
                let error = ApiError {
                    retry_after: Some(1),
                    ..ApiError::new(ErrorCode::IdempotencyKeyInUse, "the first request with this key did not finish")
                };
                return Ok(ServiceResponse::new(res.request().clone(), error.error_response()));
            }
            None if res.status().is_success() => {
                log::error!("{} answered {} without recording its Idempotency-Key", res.request().path(), res.status());
            }
            None => {}
        }
    }
    let (http_req, response) = res.into_parts();
    let Some((stored, response)) = capture(response).await else {
        let error = ApiError::internal("idempotency", "response body could not be read");
        return Ok(ServiceResponse::new(http_req, error.error_response()));
    };
    if let Err(e) = idempotency::complete(&state.store, ws, &request, &stored).await {
        log::error!("storing idempotent response: {e}");
    }
    Ok(ServiceResponse::new(http_req, response))
}

/// The answer a claim of the request's key gives, or `None` when the key is fresh (now claimed:
/// run the request, then `complete` or `release` it).
async fn answer_claim(state: &AppState, ws: WorkspaceId, request: &KeyedRequest, path: &str) -> Option<HttpResponse> {
    let claim = idempotency::claim(&state.store, ws, request).await;
    let error = match claim {
        Ok(Claim::Fresh) => return None,
        Ok(Claim::Done(stored)) => return Some(replayed(stored)),
        Err(e) => ApiError::from(e),
        Ok(Claim::Mismatch) => ApiError::new(
            ErrorCode::IdempotencyKeyReused,
            "this Idempotency-Key was used with a different request; use a new key",
        ),
        Ok(Claim::InProgress) => ApiError {
            retry_after: Some(1),
            ..ApiError::new(ErrorCode::IdempotencyKeyInUse, "the first request with this key is still running")
        },
        Ok(Claim::Committed { entity_type, entity_id, action }) => {
            // The first attempt's write committed but its response was never stored.
            let written = replay::Written { entity_type: &entity_type, id: entity_id, action: &action };
            let rebuilt = match replay::rebuilt_response(&state.store, ws, path, written).await {
                Ok(rebuilt) => rebuilt,
                Err(e) => return Some(e.error_response()),
            };
            let Some((stored, _)) = capture(rebuilt).await else {
                return Some(
                    ApiError::internal("idempotency", "rebuilt response body could not be read").error_response(),
                );
            };
            if let Err(e) = idempotency::complete(&state.store, ws, request, &stored).await {
                log::error!("storing rebuilt idempotent response: {e}");
            }
            return Some(replayed(stored));
        }
    };
    Some(error.error_response())
}

/// Reads a response's body: the parts kept for replay, and the response to send.
async fn capture<B: MessageBody>(response: HttpResponse<B>) -> Option<(StoredResponse, HttpResponse)> {
    let (response, body) = response.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.ok()?;
    let stored = replay::kept(&response, &bytes);
    Some((stored, response.set_body(BoxBody::new(bytes))))
}

/// A stored response, sent again.
fn replayed(stored: StoredResponse) -> HttpResponse {
    let mut response = replay::sent(stored);
    response.headers_mut().insert(HeaderName::from_static("idempotent-replayed"), HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn idempotency_keys_are_read_exactly_as_their_pattern_allows() {
        let pattern = regex::Regex::new(IDEMPOTENCY_KEY_PATTERN).unwrap();
        let long = "k".repeat(255);
        let too_long = "k".repeat(256);
        let samples =
            ["k", "order-42", "a b", " a", "a ", "a\tb", "", " ", "é", "a\u{7f}", "~!", &long, &too_long, "a  b"];
        for key in samples {
            assert_eq!(is_idempotency_key(key), pattern.is_match(key), "{key:?}");
        }
    }
}
