//! Access tokens: HS256 JWTs, algorithm pinned, `exp`/`iat`/`iss`/`aud`/`sub` required.

use chrono::Utc;
use crm_domain::access::Role;
use crm_domain::user::User;
use crm_domain::{UserId, WorkspaceId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

pub const ACCESS_TOKEN_SECONDS: i64 = 15 * 60;
const ISSUER: &str = "crm";
const AUDIENCE: &str = "crm-api";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: UserId,
    ws: WorkspaceId,
    role: Role,
    iss: String,
    aud: String,
    iat: i64,
    nbf: i64,
    exp: i64,
}

/// The facts a verified token vouches for.
pub struct VerifiedToken {
    pub user_id: UserId,
    pub workspace_id: WorkspaceId,
    pub role: Role,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> JwtKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        JwtKeys { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation }
    }

    /// A token for `user`, valid for [`ACCESS_TOKEN_SECONDS`].
    pub fn issue(&self, user: &User) -> Result<String, ApiError> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user.id,
            ws: user.workspace_id,
            role: user.role,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            nbf: now,
            exp: now + ACCESS_TOKEN_SECONDS,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal("signing a token", e))
    }

    pub fn verify(&self, token: &str) -> Result<VerifiedToken, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| ApiError::unauthorized(format!("invalid access token: {e}")))?;
        Ok(VerifiedToken { user_id: data.claims.sub, workspace_id: data.claims.ws, role: data.claims.role })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: UserId::generate(),
            workspace_id: WorkspaceId::generate(),
            email: "a@b.co".into(),
            name: "A".into(),
            role: Role::Viewer,
            active: true,
            last_login_at: None,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn a_token_verifies_with_its_key_only() {
        let keys = JwtKeys::new(&[7; 32]);
        let user = user();
        let token = keys.issue(&user).unwrap_or_default();
        let verified = keys.verify(&token).ok().map(|t| (t.user_id, t.role));
        assert_eq!(verified, Some((user.id, Role::Viewer)));
        assert!(JwtKeys::new(&[8; 32]).verify(&token).is_err());
    }

    #[test]
    fn unsigned_and_foreign_tokens_are_refused() {
        let keys = JwtKeys::new(&[7; 32]);
        let user = user();
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user.id,
            ws: user.workspace_id,
            role: Role::Admin,
            iss: ISSUER.into(),
            aud: "someone-else".into(),
            iat: now,
            nbf: now,
            exp: now + 60,
        };
        let wrong_audience = jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(&[7; 32]));
        assert!(keys.verify(&wrong_audience.unwrap_or_default()).is_err());
        let expired = Claims { aud: AUDIENCE.into(), exp: now - 60, ..claims };
        let not_yet = Claims { nbf: now + 600, exp: now + 900, ..Claims { aud: AUDIENCE.into(), ..expired } };
        let sign = |c: &Claims| jsonwebtoken::encode(&Header::default(), c, &EncodingKey::from_secret(&[7; 32]));
        assert!(keys.verify(&sign(&not_yet).unwrap_or_default()).is_err());
        let expired = Claims { exp: now - 60, nbf: now - 120, ..not_yet };
        assert!(keys.verify(&sign(&expired).unwrap_or_default()).is_err());
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &Claims { exp: now + 60, nbf: now, ..expired },
            &EncodingKey::from_secret(&[7; 32]),
        );
        assert!(keys.verify(&hs512.unwrap_or_default()).is_err(), "the algorithm is pinned");
        assert!(keys.verify("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.").is_err());
    }
}
