//! Workspaces and their users.

use crm_domain::access::{Actor, Role, Scope};
use crm_domain::api_key::ApiKey;
use crm_domain::audit::{AuditAction, Change, diff};
use crm_domain::user::{NewUser, User, UserPatch};
use crm_domain::{UserId, WorkspaceId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use crate::api_keys::{ApiKeyRow, KeySecret, NewApiKeyRow};
use crate::audit::NewAuditRow;
use crate::error::is_unique_violation;
use crate::schema::{api_keys, audit_events, refresh_tokens, users, workspaces};
use crate::types::{Id, Ts, now};
use crate::{Context, Store, StoreError, per_backend, write_tx};

const ENTITY: &str = "user";

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
struct UserRow {
    id: Id,
    workspace_id: Id,
    email: String,
    name: String,
    role: String,
    active: bool,
    last_login_at: Option<Ts>,
    version: i64,
    created_at: Ts,
    updated_at: Ts,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<User, StoreError> {
        Ok(User {
            id: UserId(r.id.0),
            workspace_id: WorkspaceId(r.workspace_id.0),
            email: r.email,
            name: r.name,
            role: Role::parse(&r.role).ok_or_else(|| StoreError::Corrupt(format!("user role {:?}", r.role)))?,
            active: r.active,
            last_login_at: r.last_login_at.map(|t| t.0),
            version: r.version,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
struct NewUserRow<'a> {
    id: Id,
    workspace_id: Id,
    email: &'a str,
    name: &'a str,
    role: &'static str,
    password_hash: &'a str,
    active: bool,
    version: i64,
    created_at: Ts,
    updated_at: Ts,
}

fn email_taken(e: StoreError) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::conflict("email_taken", "a user with this email already exists")
    } else {
        e
    }
}

fn created_fields(user: &NewUser) -> Vec<Change> {
    diff(&json!({}), &json!({"email": user.email, "name": user.name, "role": user.role}))
}

/// What `crm admin bootstrap` made.
pub struct Bootstrapped {
    pub workspace_id: WorkspaceId,
    pub user: User,
    pub api_key: ApiKey,
}

/// Creates a workspace, its first admin, an API key with every scope and the default
/// pipeline, in one transaction.
pub async fn bootstrap(
    store: &Store,
    workspace_name: &str,
    admin: &NewUser,
    password_hash: &str,
    key: &KeySecret,
) -> Result<Bootstrapped, StoreError> {
    let at = now();
    let ws = WorkspaceId::generate();
    let user_id = UserId::generate();
    let user_row = NewUserRow {
        id: Id(user_id.0),
        workspace_id: Id(ws.0),
        email: &admin.email,
        name: &admin.name,
        role: Role::Admin.as_str(),
        password_hash,
        active: true,
        version: 1,
        created_at: Ts(at),
        updated_at: Ts(at),
    };
    let key_row = NewApiKeyRow::new(ws, "bootstrap", key, Scope::ALL, None, at);
    let ctx = Context { workspace_id: ws, actor: Actor::System, request_id: None, idempotency_key: None };
    let user_audit = NewAuditRow::new(&ctx, ENTITY, user_id.0, AuditAction::Create, &created_fields(admin), at);
    let key_audit = NewAuditRow::new(&ctx, crate::api_keys::ENTITY, key_row.id.0, AuditAction::Create, &[], at);
    let pipeline = crate::pipelines::NewPipeline::default_for(&ctx, at);
    let mut conn = store.write().await?;
    let (user, key): (UserRow, ApiKeyRow) = write_tx!(&mut conn, |c| {
        diesel::insert_into(workspaces::table)
            .values((
                workspaces::id.eq(Id(ws.0)),
                workspaces::name.eq(workspace_name),
                workspaces::created_at.eq(Ts(at)),
            ))
            .execute(c)
            .await?;
        crate::pipelines::insert_pipeline!(c, &pipeline);
        let user = diesel::insert_into(users::table)
            .values(&user_row)
            .returning(UserRow::as_returning())
            .get_result(c)
            .await
            .map_err(|e| email_taken(e.into()))?;
        let key = diesel::insert_into(api_keys::table)
            .values(&key_row)
            .returning(ApiKeyRow::as_returning())
            .get_result(c)
            .await?;
        diesel::insert_into(audit_events::table).values(&user_audit).execute(c).await?;
        diesel::insert_into(audit_events::table).values(&key_audit).execute(c).await?;
        Ok((user, key))
    })?;
    Ok(Bootstrapped { workspace_id: ws, user: user.try_into()?, api_key: key.try_into()? })
}

pub async fn create(store: &Store, ctx: &Context, new: &NewUser, password_hash: &str) -> Result<User, StoreError> {
    let at = now();
    let id = UserId::generate();
    let row = NewUserRow {
        id: Id(id.0),
        workspace_id: Id(ctx.workspace_id.0),
        email: &new.email,
        name: &new.name,
        role: new.role.as_str(),
        password_hash,
        active: true,
        version: 1,
        created_at: Ts(at),
        updated_at: Ts(at),
    };
    let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Create, &created_fields(new), at);
    let mut conn = store.write().await?;
    let user: UserRow = write_tx!(&mut conn, |c| {
        let user = diesel::insert_into(users::table)
            .values(&row)
            .returning(UserRow::as_returning())
            .get_result(c)
            .await
            .map_err(|e| email_taken(e.into()))?;
        diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        Ok(user)
    })?;
    user.try_into()
}

pub async fn get(store: &Store, ws: WorkspaceId, id: UserId) -> Result<User, StoreError> {
    fetch(&mut store.read().await?, ws, id).await
}

/// The user as the primary has it now, for version checks and sign-in.
pub(crate) async fn get_fresh(store: &Store, ws: WorkspaceId, id: UserId) -> Result<User, StoreError> {
    fetch(&mut store.read_primary().await?, ws, id).await
}

async fn fetch(conn: &mut crate::Conn, ws: WorkspaceId, id: UserId) -> Result<User, StoreError> {
    let row: UserRow = per_backend!(conn, |c| users::table
        .filter(users::workspace_id.eq(Id(ws.0)))
        .filter(users::id.eq(Id(id.0)))
        .filter(users::deleted_at.is_null())
        .select(UserRow::as_select())
        .get_result(c)
        .await)?;
    row.try_into()
}

/// Users newest first; `before` is the id the previous page ended on.
pub async fn list(store: &Store, ws: WorkspaceId, before: Option<Uuid>, limit: u32) -> Result<Vec<User>, StoreError> {
    let mut conn = store.read().await?;
    let rows: Vec<UserRow> = per_backend!(&mut conn, |c| {
        let mut query = users::table
            .filter(users::workspace_id.eq(Id(ws.0)))
            .filter(users::deleted_at.is_null())
            .order(users::id.desc())
            .limit(i64::from(limit) + 1)
            .select(UserRow::as_select())
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(users::id.lt(Id(before)));
        }
        query.load(c).await
    })?;
    rows.into_iter().map(User::try_from).collect()
}

/// Applies a patch; deactivating a user or changing the password ends their sessions.
pub async fn update(
    store: &Store,
    ctx: &Context,
    id: UserId,
    if_match: Option<i64>,
    patch: &UserPatch,
    password_hash: Option<&str>,
) -> Result<User, StoreError> {
    let current = get_fresh(store, ctx.workspace_id, id).await?;
    if if_match.is_some_and(|v| v != current.version) {
        return Err(StoreError::VersionMismatch { current: current.version });
    }
    let name = patch.name.clone().unwrap_or_else(|| current.name.clone());
    let role = patch.role.unwrap_or(current.role);
    let active = patch.active.unwrap_or(current.active);
    let mut changes = diff(
        &json!({"name": current.name, "role": current.role, "active": current.active}),
        &json!({"name": name, "role": role, "active": active}),
    );
    if password_hash.is_some() {
        changes.push(Change { field: "password".into(), from: json!("[redacted]"), to: json!("[redacted]") });
    }
    if changes.is_empty() {
        return Ok(current);
    }
    let end_sessions = !active || password_hash.is_some();
    let at = now();
    let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Update, &changes, at);
    let mut conn = store.write().await?;
    let row: Option<UserRow> = write_tx!(&mut conn, |c| {
        let target = users::table
            .filter(users::workspace_id.eq(Id(ctx.workspace_id.0)))
            .filter(users::id.eq(Id(id.0)))
            .filter(users::version.eq(current.version));
        let row = diesel::update(target)
            .set((
                users::name.eq(&name),
                users::role.eq(role.as_str()),
                users::active.eq(active),
                users::version.eq(current.version + 1),
                users::updated_at.eq(Ts(at)),
            ))
            .returning(UserRow::as_returning())
            .get_result(c)
            .await
            .optional()?;
        if row.is_none() {
            return Ok(None);
        }
        if let Some(hash) = password_hash {
            diesel::update(users::table.filter(users::id.eq(Id(id.0))))
                .set(users::password_hash.eq(hash))
                .execute(c)
                .await?;
        }
        if end_sessions {
            diesel::update(refresh_tokens::table.filter(refresh_tokens::user_id.eq(Id(id.0))))
                .filter(refresh_tokens::revoked_at.is_null())
                .set(refresh_tokens::revoked_at.eq(Some(Ts(at))))
                .execute(c)
                .await?;
        }
        diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        Ok(row)
    })?;
    match row {
        Some(row) => row.try_into(),
        None => Err(StoreError::VersionMismatch { current: current.version + 1 }),
    }
}

/// Removes a user from the workspace: soft delete, deactivation and the end of every session.
pub async fn delete(store: &Store, ctx: &Context, id: UserId, if_match: Option<i64>) -> Result<(), StoreError> {
    let current = get_fresh(store, ctx.workspace_id, id).await?;
    if if_match.is_some_and(|v| v != current.version) {
        return Err(StoreError::VersionMismatch { current: current.version });
    }
    let at = now();
    let change = Change { field: "deleted_at".into(), from: json!(null), to: json!(at) };
    let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Delete, &[change], at);
    let mut conn = store.write().await?;
    let n: usize = write_tx!(&mut conn, |c| {
        let n = diesel::update(
            users::table
                .filter(users::workspace_id.eq(Id(ctx.workspace_id.0)))
                .filter(users::id.eq(Id(id.0)))
                .filter(users::version.eq(current.version)),
        )
        .set((
            users::deleted_at.eq(Some(Ts(at))),
            users::active.eq(false),
            users::version.eq(current.version + 1),
            users::updated_at.eq(Ts(at)),
        ))
        .execute(c)
        .await?;
        if n == 1 {
            diesel::update(refresh_tokens::table.filter(refresh_tokens::user_id.eq(Id(id.0))))
                .set(refresh_tokens::revoked_at.eq(Some(Ts(at))))
                .execute(c)
                .await?;
            diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        }
        Ok(n)
    })?;
    if n == 1 { Ok(()) } else { Err(StoreError::VersionMismatch { current: current.version + 1 }) }
}

/// A live user by email with the password hash, for sign-in. Not workspace-scoped: the
/// email is what tells which workspace the person belongs to.
pub async fn find_for_login(store: &Store, email: &str) -> Result<Option<(User, String)>, StoreError> {
    let mut conn = store.read_primary().await?;
    let found: Option<(UserRow, String)> = per_backend!(&mut conn, |c| users::table
        .filter(users::email.eq(email))
        .filter(users::deleted_at.is_null())
        .select((UserRow::as_select(), users::password_hash))
        .get_result(c)
        .await
        .optional())?;
    match found {
        Some((row, hash)) => Ok(Some((row.try_into()?, hash))),
        None => Ok(None),
    }
}

pub async fn record_login(store: &Store, id: UserId) -> Result<(), StoreError> {
    let mut conn = store.write().await?;
    per_backend!(&mut conn, |c| diesel::update(users::table.filter(users::id.eq(Id(id.0))))
        .set(users::last_login_at.eq(Some(Ts(now()))))
        .execute(c)
        .await)?;
    Ok(())
}
