//! Sign-in with email and password, rotating refresh tokens, sign-out, and `me`.

use actix_web::{HttpResponse, get, post, web};
use chrono::{Duration, Utc};
use crm_domain::WorkspaceId;
use crm_domain::access::{Actor, Scope};
use crm_domain::user::User;
use crm_store::sessions::{self, Rotation};
use crm_store::users;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::jwt::ACCESS_TOKEN_SECONDS;
use crate::auth::{Caller, api_key, password};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::JsonBody;
use crate::state::{AppState, check_rate};

const REFRESH_TOKEN_DAYS: i64 = 30;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(login).service(refresh).service(logout).service(me);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "admin@acme.test", "password": "correct horse battery"}))]
pub struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "rt_3kJ9…"}))]
pub struct RefreshRequest {
    refresh_token: String,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"access_token": "eyJhbGciOiJIUzI1NiJ9…", "refresh_token": "rt_3kJ9…", "token_type": "Bearer", "expires_in": 900}))]
pub struct TokenResponse {
    access_token: String,
    /// Single use: each refresh returns a new one. Reusing a spent token ends the session.
    refresh_token: String,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
}

/// Opaque refresh tokens: 256 random bits; only their SHA-256 is stored.
fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("rt_{}", hex::encode(bytes))
}

fn tokens(state: &AppState, user: &User, refresh_token: String) -> ApiResult<HttpResponse> {
    let access_token = state.jwt.issue(user)?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_SECONDS,
    }))
}

fn invalid_credentials() -> ApiError {
    ApiError::new(ErrorCode::InvalidCredentials, "email or password is wrong, or the account is disabled")
}

/// Sign in with email and password.
///
/// Attempts are rate limited per email address.
#[utoipa::path(
    tag = "auth",
    security(()),
    request_body = LoginRequest,
    responses((status = 200, body = TokenResponse))
)]
#[post("/auth/login")]
pub async fn login(state: web::Data<AppState>, body: JsonBody<LoginRequest>) -> ApiResult<HttpResponse> {
    let LoginRequest { email, password } = body.0;
    let email = email.trim().to_lowercase();
    check_rate(&state.login_limiter, &email, "too many sign-in attempts for this account; wait and retry")?;
    let found = users::find_for_login(&state.store, &email).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, state.decoy_hash.clone()),
    };
    let matches = password::verify(password, hash).await;
    let user = match user {
        Some(user) if matches && user.active => user,
        _ => return Err(invalid_credentials()),
    };
    let refresh_token = new_refresh_token();
    let expires = Utc::now() + Duration::days(REFRESH_TOKEN_DAYS);
    sessions::start(&state.store, &user, &api_key::hash(&refresh_token), expires).await?;
    users::record_login(&state.store, user.id).await?;
    tokens(&state, &user, refresh_token)
}

/// Exchange a refresh token for a new access token and a new refresh token.
#[utoipa::path(
    tag = "auth",
    security(()),
    request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse))
)]
#[post("/auth/refresh")]
pub async fn refresh(state: web::Data<AppState>, body: JsonBody<RefreshRequest>) -> ApiResult<HttpResponse> {
    let refresh_token = new_refresh_token();
    let expires = Utc::now() + Duration::days(REFRESH_TOKEN_DAYS);
    let old = api_key::hash(&body.0.refresh_token);
    match sessions::rotate(&state.store, &old, &api_key::hash(&refresh_token), expires).await? {
        Rotation::Rotated(user) => tokens(&state, &user, refresh_token),
        Rotation::Reused => {
            Err(ApiError::unauthorized("this refresh token was already used; the session has been ended"))
        }
        Rotation::Invalid => Err(ApiError::unauthorized("the refresh token is not valid")),
    }
}

/// End the session a refresh token belongs to.
#[utoipa::path(
    tag = "auth",
    security(()),
    request_body = RefreshRequest,
    responses((status = 204, description = "Signed out"))
)]
#[post("/auth/logout")]
pub async fn logout(state: web::Data<AppState>, body: JsonBody<RefreshRequest>) -> ApiResult<HttpResponse> {
    sessions::revoke_family(&state.store, &api_key::hash(&body.0.refresh_token)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller: workspace, identity, scopes, and the user when signed in as one.
#[derive(Serialize, ToSchema)]
pub struct Me {
    workspace_id: WorkspaceId,
    actor: Actor,
    scopes: Vec<Scope>,
    user: Option<User>,
}

/// Who am I?
#[utoipa::path(tag = "auth", responses((status = 200, body = Me)))]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    let user = match caller.actor {
        Actor::User(id) => Some(users::get(&state.store, caller.workspace_id, id).await?),
        _ => None,
    };
    Ok(HttpResponse::Ok().json(Me {
        workspace_id: caller.workspace_id,
        actor: caller.actor,
        scopes: caller.scopes.to_vec(),
        user,
    }))
}
