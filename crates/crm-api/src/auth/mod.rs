//! Who is calling: a user with a JWT or an integration with an API key. The gate middleware
//! authenticates once per request; handlers take [`Caller`] and check a scope on their
//! first line.

pub mod api_key;
pub mod jwt;
pub mod password;

use std::future::{Ready, ready};
use std::sync::{Arc, LazyLock};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use crm_domain::WorkspaceId;
use crm_domain::access::{Actor, Role, Scope};
use crm_store::Context;
use crm_store::idempotency::KeyedRequest;

use crate::error::{ApiError, ErrorCode};
use crate::middleware::RequestId;
use crate::state::AppState;

/// An authenticated caller. Cloned for every handler that takes it, so what it shares is
/// behind `Arc`s.
#[derive(Debug, Clone)]
pub struct Caller {
    pub workspace_id: WorkspaceId,
    pub actor: Actor,
    pub scopes: Arc<[Scope]>,
    request_id: Option<Arc<str>>,
    /// Set by the gate on a POST with an `Idempotency-Key`: `idempotency::identity(key(), key)`.
    idempotency_key: Option<String>,
    /// Set by the gate when the route's write records the key itself (`middleware::RECORDED_IN_WRITE`).
    keyed_request: Option<KeyedRequest>,
}

impl Caller {
    /// Fails with 403 unless the caller holds `scope` (or one implying it).
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.iter().any(|held| scope.implied_by(*held)) {
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::Forbidden, format!("this operation needs the `{}` scope", scope.as_str())))
        }
    }

    /// The write context stamped on audit events.
    pub fn context(&self) -> Context {
        Context {
            workspace_id: self.workspace_id,
            actor: self.actor,
            request_id: self.request_id.as_deref().map(str::to_owned),
            idempotency_key: self.idempotency_key.clone(),
        }
    }

    /// The same caller, making a request under an idempotency key (its caller-scoped identity).
    pub fn with_idempotency_key(self, identity: String) -> Caller {
        Caller { idempotency_key: Some(identity), ..self }
    }

    /// The same caller, whose write is to record its Idempotency-Key with the response.
    pub fn with_keyed_request(self, request: KeyedRequest) -> Caller {
        Caller { keyed_request: Some(request), ..self }
    }

    /// The Idempotency-Key the write must record, if the gate left that to it.
    pub fn keyed_request(&self) -> Option<&KeyedRequest> {
        self.keyed_request.as_ref()
    }

    /// The identity idempotency keys are scoped to.
    pub fn key(&self) -> String {
        match self.actor {
            Actor::User(id) => format!("user:{id}"),
            Actor::ApiKey(id) => format!("api_key:{id}"),
            Actor::System => "system".to_owned(),
        }
    }
}

/// What the gate found out about the request's credentials.
#[derive(Clone)]
pub enum Authentication {
    Caller(Caller),
    Failed(String),
}

/// Reads the credentials of a request: `X-API-Key` or `Authorization: Bearer`.
/// `Ok(None)` when there are none.
pub async fn authenticate(state: &AppState, req: &HttpRequest) -> Result<Option<Caller>, ApiError> {
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let header = |name| req.headers().get(name).map(|v| v.to_str().unwrap_or_default());
    if req.headers().contains_key("x-api-key") && req.headers().contains_key("authorization") {
        return Err(ApiError::unauthorized("send either `X-API-Key` or `Authorization`, not both"));
    }
    if let Some(key) = header("x-api-key") {
        let key = state.api_keys.authenticate(&state.store, key).await?;
        return Ok(Some(Caller {
            workspace_id: key.workspace_id,
            actor: Actor::ApiKey(key.id),
            scopes: key.scopes,
            request_id,
            idempotency_key: None,
            keyed_request: None,
        }));
    }
    if let Some(authorization) = header("authorization") {
        let token = authorization
            .strip_prefix("Bearer ")
            .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))?;
        let claims = state.jwt.verify(token.trim())?;
        return Ok(Some(Caller {
            workspace_id: claims.workspace_id,
            actor: Actor::User(claims.user_id),
            scopes: scopes_of(claims.role),
            request_id,
            idempotency_key: None,
            keyed_request: None,
        }));
    }
    Ok(None)
}

/// A role's scopes, built once per process and shared by every request of its users.
fn scopes_of(role: Role) -> Arc<[Scope]> {
    static SCOPES: LazyLock<Vec<(Role, Arc<[Scope]>)>> =
        LazyLock::new(|| Role::ALL.into_iter().map(|role| (role, role.scopes().into())).collect());
    SCOPES.iter().find(|(r, _)| *r == role).map_or_else(|| role.scopes().into(), |(_, scopes)| scopes.clone())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match req.extensions().get::<Authentication>() {
            Some(Authentication::Caller(caller)) => Ok(caller.clone()),
            Some(Authentication::Failed(detail)) => Err(ApiError::unauthorized(detail.clone())),
            None => Err(ApiError::unauthorized("send an `X-API-Key` header or an `Authorization: Bearer` token")),
        })
    }
}
