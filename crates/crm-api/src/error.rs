//! The one error type of the HTTP layer, rendered as RFC 9457 `application/problem+json`.
//! Every stable `code` lives in the table in [`ErrorCode`]; codes are API and never renamed.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use crm_domain::{FieldError, ValidationErrors};
use crm_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

macro_rules! error_codes {
    ($($variant:ident => ($status:expr, $code:literal, $title:literal)),* $(,)?) => {
        /// Every problem `code` the API can answer with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $($variant),* }

        impl ErrorCode {
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant),*];

            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => $status),* }
            }

            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),* }
            }

            pub fn title(self) -> &'static str {
                match self { $(ErrorCode::$variant => $title),* }
            }
        }
    };
}

error_codes! {
    MalformedJson => (StatusCode::BAD_REQUEST, "malformed_json", "The body is not valid JSON"),
    InvalidParameter => (StatusCode::BAD_REQUEST, "invalid_parameter", "A path or query parameter is invalid"),
    InvalidCursor => (StatusCode::BAD_REQUEST, "invalid_cursor", "The cursor is not valid for this list"),
    InvalidHeader => (StatusCode::BAD_REQUEST, "invalid_header", "A request header is invalid"),
    Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Authentication is required"),
    InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials", "Email or password is wrong"),
    Forbidden => (StatusCode::FORBIDDEN, "forbidden", "The caller lacks a required scope"),
    NotFound => (StatusCode::NOT_FOUND, "not_found", "Not found"),
    MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed"),
    EmailTaken => (StatusCode::CONFLICT, "email_taken", "The email is already in use"),
    EditConflict => (StatusCode::CONFLICT, "edit_conflict", "The record changed during the request"),
    InteractionExists => (StatusCode::CONFLICT, "interaction_exists", "An interaction with this external id exists"),
    TaskClosed => (StatusCode::CONFLICT, "task_closed", "The task is done or cancelled"),
    StageNotEmpty => (StatusCode::CONFLICT, "stage_not_empty", "The stage still holds deals"),
    PipelineNotEmpty => (StatusCode::CONFLICT, "pipeline_not_empty", "The pipeline still holds deals"),
    DefaultPipeline => (StatusCode::CONFLICT, "default_pipeline", "The default pipeline cannot be deleted"),
    AlreadyConverted => (StatusCode::CONFLICT, "already_converted", "The lead was converted already"),
    LeadDisqualified => (StatusCode::CONFLICT, "lead_disqualified", "The lead is disqualified"),
    LeadExists => (StatusCode::CONFLICT, "lead_exists", "A live lead already has this email"),
    AlreadyRefunded => (StatusCode::CONFLICT, "already_refunded", "The purchase is refunded in full"),
    CouponCodeTaken => (StatusCode::CONFLICT, "coupon_code_taken", "A live coupon already has this code"),
    CouponInUse => (StatusCode::CONFLICT, "coupon_in_use", "The coupon has been redeemed; its terms are fixed"),
    CouponExhausted => (StatusCode::CONFLICT, "coupon_exhausted", "The coupon has no redemptions left"),
    CouponLimitReached => (StatusCode::CONFLICT, "coupon_limit_reached", "The customer has used up this coupon"),
    CouponAlreadyRedeemed => (StatusCode::CONFLICT, "coupon_already_redeemed", "The coupon was already redeemed for this order"),
    RewardOutOfStock => (StatusCode::CONFLICT, "reward_out_of_stock", "The reward is out of stock"),
    IdempotencyKeyInUse => (StatusCode::CONFLICT, "idempotency_key_in_use", "A request with this idempotency key is still running"),
    VersionMismatch => (StatusCode::PRECONDITION_FAILED, "version_mismatch", "The record has changed since that version"),
    IdempotencyKeyRequired => (StatusCode::BAD_REQUEST, "idempotency_key_required", "This request needs an Idempotency-Key header"),
    PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "The body is too large"),
    UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "The body must be JSON"),
    ValidationFailed => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "The input is invalid"),
    CurrencyRequired => (StatusCode::UNPROCESSABLE_ENTITY, "currency_required", "Several currencies: pass `currency`"),
    IdempotencyKeyReused => (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", "The idempotency key was used for a different request"),
    RefundExceedsRemaining => (StatusCode::UNPROCESSABLE_ENTITY, "refund_exceeds_remaining", "The refund is more than is left to refund"),
    CouponInactive => (StatusCode::UNPROCESSABLE_ENTITY, "coupon_inactive", "The coupon is not active"),
    CouponNotYetValid => (StatusCode::UNPROCESSABLE_ENTITY, "coupon_not_yet_valid", "The coupon is not valid yet"),
    CouponExpired => (StatusCode::UNPROCESSABLE_ENTITY, "coupon_expired", "The coupon has expired"),
    CouponNotEligible => (StatusCode::UNPROCESSABLE_ENTITY, "coupon_not_eligible", "The customer may not use this coupon"),
    CurrencyMismatch => (StatusCode::UNPROCESSABLE_ENTITY, "currency_mismatch", "The order's currency is not the coupon's"),
    MinOrderNotMet => (StatusCode::UNPROCESSABLE_ENTITY, "min_order_not_met", "The order is below the coupon's minimum"),
    InsufficientPoints => (StatusCode::UNPROCESSABLE_ENTITY, "insufficient_points", "The points balance is too low"),
    RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", "Too many requests"),
    InternalError => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Internal error"),
    ServiceUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", "The service is temporarily unavailable"),
}

/// The problem document every error response carries.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:crm:problem:validation_failed",
    "title": "The input is invalid",
    "status": 422,
    "detail": "email: must be a valid email address",
    "code": "validation_failed",
    "errors": [{"field": "email", "code": "invalid_format", "message": "must be a valid email address"}]
}))]
pub struct Problem {
    /// `urn:crm:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine code: branch on this, not on the text.
    pub code: String,
    /// Per-field problems, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Seconds, for `Retry-After` on 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        ApiError { code, detail: detail.into(), errors: Vec::new(), retry_after: None }
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "no such resource in this workspace")
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, detail)
    }

    pub fn parameter(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError {
            errors: vec![FieldError {
                field: field.to_owned(),
                code: "invalid_value".into(),
                message: message.clone(),
            }],
            ..Self::new(ErrorCode::InvalidParameter, format!("{field}: {message}"))
        }
    }

    /// Problems found in query parameters: a 400 listing each of them.
    pub fn parameters(errors: ValidationErrors) -> Self {
        ApiError { errors: errors.0.clone(), ..Self::new(ErrorCode::InvalidParameter, errors.to_string()) }
    }

    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        // The detail stays in the log (with the request id); the client sees only the code.
        log::error!("{context}: {error}");
        Self::new(ErrorCode::InternalError, "an internal error occurred; the request id identifies it in the logs")
    }

    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:crm:problem:{}", self.code.as_str()),
            title: self.code.title().to_owned(),
            status: self.code.status().as_u16(),
            detail: self.detail.clone(),
            code: self.code.as_str().to_owned(),
            errors: self.errors.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json")));
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        ApiError { errors: e.0.clone(), ..ApiError::new(ErrorCode::ValidationFailed, e.to_string()) }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::VersionMismatch { current } => ApiError::new(
                ErrorCode::VersionMismatch,
                format!("the record is at version {current}; fetch it again and retry"),
            ),
            // The store names the conflict by its API code; an unlisted one is a plain edit conflict.
            StoreError::Conflict { code, detail } => {
                let code =
                    ErrorCode::ALL.iter().copied().find(|c| c.as_str() == code).unwrap_or(ErrorCode::EditConflict);
                ApiError::new(code, detail)
            }
            StoreError::Invalid(errors) => errors.into(),
            StoreError::Unavailable(detail) => {
                log::warn!("database unavailable: {detail}");
                ApiError {
                    retry_after: Some(1),
                    ..ApiError::new(ErrorCode::ServiceUnavailable, "the database is unavailable; retry shortly")
                }
            }
            other => ApiError::internal("store", other),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_4xx_or_5xx() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate code {}", code.as_str());
            assert!(code.as_str().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }

    #[test]
    fn every_coupon_refusal_has_its_own_code() {
        for refusal in crm_domain::coupon::Refusal::ALL {
            let error = ApiError::from(StoreError::conflict(refusal.code(), refusal.message()));
            assert_eq!(error.code.as_str(), refusal.code());
        }
    }

    #[test]
    fn store_errors_map_to_codes() {
        let cases = [
            (StoreError::NotFound, "not_found"),
            (StoreError::VersionMismatch { current: 3 }, "version_mismatch"),
            (StoreError::conflict("email_taken", "x"), "email_taken"),
            (StoreError::Unavailable("down".into()), "service_unavailable"),
            (StoreError::Corrupt("x".into()), "internal_error"),
        ];
        for (error, code) in cases {
            assert_eq!(ApiError::from(error).code.as_str(), code);
        }
    }
}
