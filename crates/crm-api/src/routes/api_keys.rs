//! API keys for integrations: created with scopes, shown once, revoked at will.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{Duration, Utc};
use crm_domain::ApiKeyId;
use crm_domain::access::Scope;
use crm_domain::api_key::{ApiKey, CreatedApiKey, NewApiKey};
use crm_domain::page::{Page, paginate};
use crm_store::api_keys;
use utoipa_actix_web::service_config::ServiceConfig;

use super::users::PageParams;
use super::{BY_ID, created, decode_cursor, id_cursor, page_limit, versioned};
use crate::auth::{Caller, api_key};
use crate::error::ApiResult;
use crate::extract::{IfMatch, JsonBody, QueryParams};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_api_key).service(list_api_keys).service(get_api_key).service(revoke_api_key);
}

/// Create an API key. The response is the only time the key is shown.
#[utoipa::path(
    tag = "api-keys",
    request_body = NewApiKey,
    responses((status = 201, body = CreatedApiKey, headers(("Location" = String), ("ETag" = String))))
)]
#[post("/api-keys")]
pub async fn create_api_key(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<NewApiKey>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::UsersAdmin)?;
    let new = body.0.validate()?;
    let (full, secret) = api_key::generate();
    let expires_at = new.expires_in_days.map(|d| Utc::now() + Duration::days(i64::from(d)));
    let key = api_keys::create(&state.store, &caller.context(), &new.name, &new.scopes, expires_at, &secret).await?;
    let body = CreatedApiKey { api_key: full, key };
    Ok(created(format!("/v1/api-keys/{}", body.key.id), body.key.version, &body))
}

/// List API keys (never their secrets), newest first, revoked ones included.
#[utoipa::path(tag = "api-keys", params(PageParams), responses((status = 200, body = Page<ApiKey>)))]
#[get("/api-keys")]
pub async fn list_api_keys(
    state: web::Data<AppState>,
    caller: Caller,
    query: QueryParams<PageParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::UsersAdmin)?;
    let limit = page_limit(query.0.limit)?;
    let after = decode_cursor(query.0.cursor.as_deref(), BY_ID)?;
    let rows = api_keys::list(&state.store, caller.workspace_id, after.map(|c| c.id), limit).await?;
    Ok(HttpResponse::Ok().json(paginate(rows, limit, |k| id_cursor(k.id.0))))
}

/// One API key (without its secret).
#[utoipa::path(tag = "api-keys", params(("id" = ApiKeyId, Path)), responses((status = 200, body = ApiKey, headers(("ETag" = String)))))]
#[get("/api-keys/{id}")]
pub async fn get_api_key(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<ApiKeyId>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::UsersAdmin)?;
    let key = api_keys::get(&state.store, caller.workspace_id, id.into_inner()).await?;
    Ok(versioned(key.version, &key))
}

/// Revoke an API key at once.
#[utoipa::path(
    tag = "api-keys",
    params(("id" = ApiKeyId, Path)),
    responses((status = 204, description = "Revoked"), (status = 412, description = "version_mismatch"))
)]
#[delete("/api-keys/{id}")]
pub async fn revoke_api_key(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<ApiKeyId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::UsersAdmin)?;
    let key = api_keys::revoke(&state.store, &caller.context(), id.into_inner(), if_match.0).await?;
    state.api_keys.forget(key.id);
    Ok(HttpResponse::NoContent().finish())
}
