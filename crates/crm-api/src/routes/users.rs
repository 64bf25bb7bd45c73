//! Users of the workspace: listing for everyone, changes for admins.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use crm_domain::UserId;
use crm_domain::access::Scope;
use crm_domain::page::{Page, paginate};
use crm_domain::user::{NewUser, User, UserPatch};
use crm_store::users;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{BY_ID, created, decode_cursor, id_cursor, page_limit, versioned};
use crate::auth::{Caller, password};
use crate::error::ApiResult;
use crate::extract::{IfMatch, JsonBody, QueryParams};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_user).service(list_users).service(get_user).service(update_user).service(delete_user);
}

/// Paging of lists ordered newest first.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 200; default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Add a user to the workspace.
#[utoipa::path(
    tag = "users",
    request_body = NewUser,
    responses((status = 201, body = User, headers(("Location" = String), ("ETag" = String))), (status = 409, description = "email_taken"))
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<NewUser>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::UsersAdmin)?;
    let new = body.0.validate()?;
    let hash = password::hash(new.password.clone()).await?;
    let user = users::create(&state.store, &caller.context(), &new, &hash).await?;
    Ok(created(format!("/v1/users/{}", user.id), user.version, &user))
}

/// List the workspace's users, newest first.
#[utoipa::path(tag = "users", params(PageParams), responses((status = 200, body = Page<User>)))]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    caller: Caller,
    query: QueryParams<PageParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::UsersRead)?;
    let limit = page_limit(query.0.limit)?;
    let after = decode_cursor(query.0.cursor.as_deref(), BY_ID)?;
    let rows = users::list(&state.store, caller.workspace_id, after.map(|c| c.id), limit).await?;
    Ok(HttpResponse::Ok().json(paginate(rows, limit, |u| id_cursor(u.id.0))))
}

/// One user.
#[utoipa::path(tag = "users", params(("id" = UserId, Path)), responses((status = 200, body = User, headers(("ETag" = String)))))]
#[get("/users/{id}")]
pub async fn get_user(state: web::Data<AppState>, caller: Caller, id: web::Path<UserId>) -> ApiResult<HttpResponse> {
    caller.require(Scope::UsersRead)?;
    let user = users::get(&state.store, caller.workspace_id, id.into_inner()).await?;
    Ok(versioned(user.version, &user))
}

/// Change a user's name, role, password or active flag.
///
/// Deactivating a user or changing the password ends the user's sessions.
#[utoipa::path(
    tag = "users",
    params(("id" = UserId, Path)),
    request_body = UserPatch,
    responses((status = 200, body = User, headers(("ETag" = String))), (status = 412, description = "version_mismatch"))
)]
#[patch("/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<UserId>,
    if_match: IfMatch,
    body: JsonBody<UserPatch>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::UsersAdmin)?;
    let patch = body.0.validate()?;
    let hash = match &patch.password {
        Some(p) => Some(password::hash(p.clone()).await?),
        None => None,
    };
    let user =
        users::update(&state.store, &caller.context(), id.into_inner(), if_match.0, &patch, hash.as_deref()).await?;
    Ok(versioned(user.version, &user))
}

/// Remove a user: they can no longer sign in. Their records keep their owner id.
#[utoipa::path(
    tag = "users",
    params(("id" = UserId, Path)),
    responses((status = 204, description = "Removed"), (status = 412, description = "version_mismatch"))
)]
#[delete("/users/{id}")]
pub async fn delete_user(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<UserId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::UsersAdmin)?;
    users::delete(&state.store, &caller.context(), id.into_inner(), if_match.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
