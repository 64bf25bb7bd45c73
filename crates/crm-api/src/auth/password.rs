//! Argon2id password hashing, off the request threads.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use crate::error::ApiError;

pub async fn hash(password: String) -> Result<String, ApiError> {
    actix_web::rt::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| ApiError::internal("hashing a password", e))
    })
    .await
    .map_err(|e| ApiError::internal("hashing a password", e))?
}

/// True when `password` matches the stored hash; a malformed hash never matches.
pub async fn verify(password: String, hash: String) -> bool {
    actix_web::rt::task::spawn_blocking(move || {
        Argon2::default().verify_password(password.as_bytes(), hash.as_str()).is_ok()
    })
    .await
    .unwrap_or(false)
}

/// A hash of a random password, verified against when the email is unknown so that a
/// failed sign-in takes as long whether or not the account exists.
pub fn decoy_hash() -> String {
    Argon2::default().hash_password(b"decoy password that nobody has").map(|h| h.to_string()).unwrap_or_default()
}
