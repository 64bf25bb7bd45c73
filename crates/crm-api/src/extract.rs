//! Request extractors that answer bad input with problem+json: JSON bodies with field paths
//! in their errors, query strings that reject unknown parameters, `If-Match` versions.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpRequest};
use chrono::{DateTime, Datelike, Utc};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error::{ApiError, ErrorCode};

fn payload_error(e: &actix_web::Error) -> ApiError {
    if e.as_response_error().status_code() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        ApiError::new(ErrorCode::MalformedJson, format!("the body could not be read: {e}"))
    }
}

/// The body limit of `POST /v1/purchases/batch`: 500 purchases of up to 200 lines each.
pub const BATCH_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// Routes allowed a larger body than the service-wide limit. Middleware reads a body before
/// routing, when the route's own `PayloadConfig` is not visible yet, so it asks here.
fn large_body_limit(path: &str) -> Option<usize> {
    (path == "/v1/purchases/batch").then_some(BATCH_BODY_LIMIT)
}

fn too_large() -> ApiError {
    ApiError::new(ErrorCode::PayloadTooLarge, "the body is larger than the limit of this endpoint")
}

/// Reads the whole body, within the configured limit (or the route's larger one).
pub async fn read_body(req: &HttpRequest, payload: &mut Payload) -> Result<Bytes, ApiError> {
    match large_body_limit(req.path()) {
        Some(limit) => {
            let stream = web::Payload::from_request(req, payload).await.map_err(|e| payload_error(&e))?;
            stream.to_bytes_limited(limit).await.map_err(|_| too_large())?.map_err(|e| payload_error(&e))
        }
        None => Bytes::from_request(req, payload).await.map_err(|e| payload_error(&e)),
    }
}

/// A JSON body (`application/json` or any `+json` type such as `application/merge-patch+json`).
pub struct JsonBody<T>(pub T);

fn is_json(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

fn decode_json<T: DeserializeOwned>(json: bool, bytes: &[u8]) -> Result<T, ApiError> {
    if !json {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as `Content-Type: application/json`",
        ));
    }
    match crm_domain::patch::decode_slice::<T>(bytes) {
        Ok(value) => Ok(value),
        Err(Some(errors)) => Err(errors.into()),
        Err(None) => Err(ApiError::new(ErrorCode::MalformedJson, "the body is not valid JSON")),
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let read = Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = read.await.map_err(|e| payload_error(&e))?;
            decode_json(json, &bytes).map(JsonBody)
        })
    }
}

/// A JSON body that may be left out: no body at all (or `null`) is `T::default()`, e.g. a
/// refund of everything left; any other body is read exactly as [`JsonBody`] reads it.
pub struct OptionalJsonBody<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let read = Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = read.await.map_err(|e| payload_error(&e))?;
            if bytes.is_empty() {
                return Ok(OptionalJsonBody(T::default()));
            }
            decode_json::<Option<T>>(json, &bytes).map(|value| OptionalJsonBody(value.unwrap_or_default()))
        })
    }
}

/// Query parameters decoded into `T` (which should `deny_unknown_fields`), naming the
/// offending parameter in the error.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned> FromRequest for QueryParams<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let query = req.query_string().as_bytes();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query));
        ready(serde_path_to_error::deserialize(de).map(QueryParams).map_err(|e| {
            let message = e.inner().to_string();
            let field = match e.path().to_string() {
                path if path == "." => message.split('`').nth(1).unwrap_or("query").to_owned(),
                path => path,
            };
            ApiError::parameter(&field, message)
        }))
    }
}

/// The version an `If-Match` header names: `"3"`, `W/"3"` or `3`; `*` or no header means any.
pub struct IfMatch(pub Option<i64>);

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(if_match_at_least(req, 1).map(IfMatch))
    }
}

/// What `If-Match` may be: `*`, or a version as `"3"`, `W/"3"` or `3`, of at most 18 digits so
/// that it fits an i64. The spec publishes it as the header's pattern; [`if_match_version`]
/// reads exactly these.
pub const IF_MATCH_PATTERN: &str = r#"^(\*|(W/)?("[0-9]{1,18}"|[0-9]{1,18}))$"#;

/// `Some(None)` for `*`, `Some(Some(version))` for an ETag, `None` for anything else.
fn if_match_version(raw: &str) -> Option<Option<i64>> {
    if raw == "*" {
        return Some(None);
    }
    let tag = raw.strip_prefix("W/").unwrap_or(raw);
    let digits = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(tag);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(Some)
}

/// The version `If-Match` names, refusing versions below `min` (records start at 1; a
/// setting never saved reads as version 0).
pub fn if_match_at_least(req: &HttpRequest, min: i64) -> Result<Option<i64>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    match if_match_version(value.to_str().unwrap_or_default().trim()) {
        Some(Some(v)) if v < min => {
            Err(ApiError::new(ErrorCode::InvalidHeader, format!("If-Match names no version below {min}")))
        }
        Some(version) => Ok(version),
        None => Err(ApiError::new(ErrorCode::InvalidHeader, "If-Match must be an ETag this API sent, such as \"3\"")),
    }
}

/// 400 `idempotency_key_required` (the status the IETF Idempotency-Key draft gives) unless the
/// request carries an `Idempotency-Key` (which the idempotency middleware has already checked and
/// claimed): for writes a blind retry must never repeat, such as spending points or using a coupon.
pub fn require_idempotency_key(req: &HttpRequest, detail: &str) -> Result<(), ApiError> {
    if req.headers().contains_key("idempotency-key") {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::IdempotencyKeyRequired, detail))
    }
}

/// An instant query parameter (`created_after=`, `due_before=`, …) within the years 1 to 9999:
/// chrono also reads signed years such as `+10000`, which PostgreSQL refuses and SQLite's text
/// order misplaces. Use with `#[serde(default, deserialize_with = "crate::extract::instant")]`.
pub fn instant<'de, D>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error>
where
    D: Deserializer<'de>,
{
    match Option::<DateTime<Utc>>::deserialize(deserializer)? {
        Some(t) if !(1..=9999).contains(&t.year()) => {
            Err(serde::de::Error::custom("must be an instant between the years 1 and 9999"))
        }
        t => Ok(t),
    }
}

/// Maps actix's own path-extractor errors (such as a malformed UUID) to problem+json.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|e, req| match crate::startup::literal_route_of_other_methods(req) {
        Some(response) => actix_web::error::InternalError::from_response(e, response).into(),
        None => ApiError::parameter("id", format!("not a valid identifier: {e}")).into(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn if_match_reads_exactly_what_its_pattern_allows() {
        let pattern = regex::Regex::new(IF_MATCH_PATTERN).unwrap();
        let samples = [
            "*",
            "3",
            "\"3\"",
            "W/\"3\"",
            "W/3",
            "0",
            "\"000\"",
            "999999999999999999",
            "\"999999999999999999\"",
            "9999999999999999999",
            "\"3",
            "3\"",
            "W/W/\"3\"",
            "w/\"3\"",
            "\"\"",
            "",
            "+3",
            "-3",
            "\"3\"\"",
            "W/",
            "**",
            " 3",
            "\"3 \"",
            "3a",
            "\"0x3\"",
            "W/\"\"",
        ];
        for raw in samples {
            assert_eq!(if_match_version(raw).is_some(), pattern.is_match(raw), "{raw:?}");
        }
        assert_eq!(if_match_version("W/\"42\""), Some(Some(42)));
        assert_eq!(if_match_version("*"), Some(None));
    }
}
