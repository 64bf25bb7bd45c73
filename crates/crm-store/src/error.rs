//! What can go wrong below the API.

use crm_domain::ValidationErrors;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::deadpool::PoolError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("version mismatch: current version is {current}")]
    VersionMismatch { current: i64 },
    /// A uniqueness or state conflict with a stable code, e.g. `email_taken`.
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// Input that is well-formed but refers to something that does not fit (an unknown owner).
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(DieselError),
}

impl StoreError {
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        StoreError::Conflict { code, detail: detail.into() }
    }

    pub fn invalid(field: &str, code: &str, message: &str) -> Self {
        StoreError::Invalid(ValidationErrors::single(field, code, message))
    }
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => StoreError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_owned())
            }
            other => StoreError::Database(other),
        }
    }
}

impl From<PoolError> for StoreError {
    fn from(e: PoolError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// A sum or cast past the 64-bit range: PostgreSQL's `bigint out of range`, SQLite's
/// `integer overflow`.
pub(crate) fn is_integer_overflow(e: &StoreError) -> bool {
    match e {
        StoreError::Database(DieselError::DatabaseError(_, info)) => {
            matches!(info.message(), "bigint out of range" | "integer overflow")
        }
        _ => false,
    }
}

/// True for a unique-constraint violation, which callers turn into a named conflict.
pub(crate) fn is_unique_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)))
}
