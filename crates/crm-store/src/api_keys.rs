//! API keys. Only a SHA-256 hash of each key is stored; the store never sees the secret.

use chrono::{DateTime, Utc};
use crm_domain::access::Scope;
use crm_domain::api_key::ApiKey;
use crm_domain::audit::{AuditAction, Change, diff};
use crm_domain::{ApiKeyId, WorkspaceId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use crate::audit::NewAuditRow;
use crate::schema::{api_keys, audit_events};
use crate::types::{Id, Json, Ts, now};
use crate::{Context, Store, StoreError, per_backend, write_tx};

pub(crate) const ENTITY: &str = "api_key";

/// The public prefix and the hash of a new key.
pub struct KeySecret {
    pub prefix: String,
    pub hash: String,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub(crate) struct ApiKeyRow {
    id: Id,
    workspace_id: Id,
    name: String,
    prefix: String,
    scopes: Json,
    expires_at: Option<Ts>,
    last_used_at: Option<Ts>,
    revoked_at: Option<Ts>,
    version: i64,
    created_at: Ts,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;
    fn try_from(r: ApiKeyRow) -> Result<ApiKey, StoreError> {
        let names: Vec<String> = r.scopes.decode()?;
        // A scope this build does not know (from a newer release) grants nothing.
        let scopes = names.iter().filter_map(|s| Scope::parse(s)).collect();
        Ok(ApiKey {
            id: ApiKeyId(r.id.0),
            name: r.name,
            prefix: r.prefix,
            scopes,
            expires_at: r.expires_at.map(|t| t.0),
            last_used_at: r.last_used_at.map(|t| t.0),
            revoked_at: r.revoked_at.map(|t| t.0),
            version: r.version,
            created_at: r.created_at.0,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = api_keys, treat_none_as_default_value = false)]
pub(crate) struct NewApiKeyRow {
    pub(crate) id: Id,
    workspace_id: Id,
    name: String,
    prefix: String,
    key_hash: String,
    scopes: Json,
    expires_at: Option<Ts>,
    version: i64,
    created_at: Ts,
}

impl NewApiKeyRow {
    pub(crate) fn new(
        ws: WorkspaceId,
        name: &str,
        secret: &KeySecret,
        scopes: &[Scope],
        expires_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Self {
        let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        NewApiKeyRow {
            id: Id(Uuid::now_v7()),
            workspace_id: Id(ws.0),
            name: name.to_owned(),
            prefix: secret.prefix.clone(),
            key_hash: secret.hash.clone(),
            scopes: Json::of(&names),
            expires_at: expires_at.map(Ts),
            version: 1,
            created_at: Ts(at),
        }
    }
}

pub async fn create(
    store: &Store,
    ctx: &Context,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<DateTime<Utc>>,
    secret: &KeySecret,
) -> Result<ApiKey, StoreError> {
    let at = now();
    let row = NewApiKeyRow::new(ctx.workspace_id, name, secret, scopes, expires_at, at);
    let changes = diff(&json!({}), &json!({"name": name, "scopes": scopes, "expires_at": expires_at}));
    let audit = NewAuditRow::new(ctx, ENTITY, row.id.0, AuditAction::Create, &changes, at);
    let mut conn = store.write().await?;
    let key: ApiKeyRow = write_tx!(&mut conn, |c| {
        let key = diesel::insert_into(api_keys::table)
            .values(&row)
            .returning(ApiKeyRow::as_returning())
            .get_result(c)
            .await?;
        diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        Ok(key)
    })?;
    key.try_into()
}

pub async fn get(store: &Store, ws: WorkspaceId, id: ApiKeyId) -> Result<ApiKey, StoreError> {
    let mut conn = store.read_primary().await?;
    let row: ApiKeyRow = per_backend!(&mut conn, |c| api_keys::table
        .filter(api_keys::workspace_id.eq(Id(ws.0)))
        .filter(api_keys::id.eq(Id(id.0)))
        .select(ApiKeyRow::as_select())
        .get_result(c)
        .await)?;
    row.try_into()
}

/// Keys newest first, revoked ones included; `before` is the id the previous page ended on.
pub async fn list(store: &Store, ws: WorkspaceId, before: Option<Uuid>, limit: u32) -> Result<Vec<ApiKey>, StoreError> {
    let mut conn = store.read().await?;
    let rows: Vec<ApiKeyRow> = per_backend!(&mut conn, |c| {
        let mut query = api_keys::table
            .filter(api_keys::workspace_id.eq(Id(ws.0)))
            .order(api_keys::id.desc())
            .limit(i64::from(limit) + 1)
            .select(ApiKeyRow::as_select())
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(api_keys::id.lt(Id(before)));
        }
        query.load(c).await
    })?;
    rows.into_iter().map(ApiKey::try_from).collect()
}

/// Revokes a key. Revoking a revoked key changes nothing.
pub async fn revoke(store: &Store, ctx: &Context, id: ApiKeyId, if_match: Option<i64>) -> Result<ApiKey, StoreError> {
    let current = get(store, ctx.workspace_id, id).await?;
    if current.revoked_at.is_some() {
        return Ok(current);
    }
    if if_match.is_some_and(|v| v != current.version) {
        return Err(StoreError::VersionMismatch { current: current.version });
    }
    let at = now();
    let change = Change { field: "revoked_at".into(), from: json!(null), to: json!(at) };
    let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Delete, &[change], at);
    let mut conn = store.write().await?;
    let row: Option<ApiKeyRow> = write_tx!(&mut conn, |c| {
        let row = diesel::update(
            api_keys::table
                .filter(api_keys::workspace_id.eq(Id(ctx.workspace_id.0)))
                .filter(api_keys::id.eq(Id(id.0)))
                .filter(api_keys::version.eq(current.version)),
        )
        .set((api_keys::revoked_at.eq(Some(Ts(at))), api_keys::version.eq(current.version + 1)))
        .returning(ApiKeyRow::as_returning())
        .get_result(c)
        .await
        .optional()?;
        if row.is_some() {
            diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        }
        Ok(row)
    })?;
    match row {
        Some(row) => row.try_into(),
        None => Err(StoreError::VersionMismatch { current: current.version + 1 }),
    }
}

/// The key with this hash and its workspace, whatever its state: the caller judges expiry
/// and revocation.
pub async fn find_by_hash(store: &Store, hash: &str) -> Result<Option<(WorkspaceId, ApiKey)>, StoreError> {
    let mut conn = store.read_primary().await?;
    let row: Option<ApiKeyRow> = per_backend!(&mut conn, |c| api_keys::table
        .filter(api_keys::key_hash.eq(hash))
        .select(ApiKeyRow::as_select())
        .get_result(c)
        .await
        .optional())?;
    match row {
        Some(row) => {
            let ws = WorkspaceId(row.workspace_id.0);
            Ok(Some((ws, row.try_into()?)))
        }
        None => Ok(None),
    }
}

pub async fn touch(store: &Store, id: ApiKeyId, at: DateTime<Utc>) -> Result<(), StoreError> {
    let mut conn = store.write().await?;
    per_backend!(&mut conn, |c| diesel::update(api_keys::table.filter(api_keys::id.eq(Id(id.0))))
        .set(api_keys::last_used_at.eq(Some(Ts(at))))
        .execute(c)
        .await)?;
    Ok(())
}
