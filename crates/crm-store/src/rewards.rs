//! The rewards catalogue: create, read, merge-patch guarded by version, soft delete and
//! restore, keyset lists. Redemptions take stock in `loyalty::redeem`.

use crm_domain::audit::{AuditAction, diff};
use crm_domain::page::Cursor;
use crm_domain::reward::{Reward, RewardFilter, RewardInput};
use crm_domain::{RewardId, ValidationErrors, WorkspaceId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::audit::NewAuditRow;
use crate::query::{Cached, keyset};
use crate::schema::{audit_events, rewards};
use crate::soft_delete;
use crate::types::{Id, Ts, now};
use crate::{Conn, Context, Store, StoreError, per_backend, write_tx};

pub(crate) const ENTITY: &str = "reward";

#[derive(Queryable, Selectable)]
#[diesel(table_name = rewards)]
pub(crate) struct RewardRow {
    id: Id,
    name: String,
    description: Option<String>,
    cost_points: i64,
    stock: Option<i64>,
    active: bool,
    version: i64,
    created_at: Ts,
    updated_at: Ts,
    deleted_at: Option<Ts>,
}

impl From<RewardRow> for Reward {
    fn from(r: RewardRow) -> Reward {
        Reward {
            id: RewardId(r.id.0),
            name: r.name,
            description: r.description,
            cost_points: r.cost_points,
            stock: r.stock,
            active: r.active,
            version: r.version,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
            deleted_at: r.deleted_at.map(|t| t.0),
        }
    }
}

#[derive(AsChangeset, Insertable)]
#[diesel(table_name = rewards, treat_none_as_null = true, treat_none_as_default_value = false)]
struct RewardData<'a> {
    name: &'a str,
    description: Option<&'a str>,
    cost_points: i64,
    stock: Option<i64>,
    active: bool,
}

impl<'a> RewardData<'a> {
    fn new(r: &'a RewardInput) -> Self {
        RewardData {
            name: &r.name,
            description: r.description.as_deref(),
            cost_points: r.cost_points,
            stock: r.stock,
            active: r.active,
        }
    }
}

pub async fn create(store: &Store, ctx: &Context, input: RewardInput) -> Result<Reward, StoreError> {
    let mut conn = store.write().await?;
    let id = RewardId::generate();
    let at = now();
    let changes = diff(&serde_json::json!({}), &serde_json::to_value(&input).unwrap_or_default());
    let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Create, &changes, at);
    let data = RewardData::new(&input);
    let row: RewardRow = write_tx!(&mut conn, |c| {
        let row = diesel::insert_into(rewards::table)
            .values((
                rewards::id.eq(Id(id.0)),
                rewards::workspace_id.eq(Id(ctx.workspace_id.0)),
                &data,
                rewards::version.eq(1_i64),
                rewards::created_at.eq(Ts(at)),
                rewards::updated_at.eq(Ts(at)),
            ))
            .returning(RewardRow::as_returning())
            .get_result(c)
            .await?;
        diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        Ok(row)
    })?;
    Ok(row.into())
}

/// One reward; deleted ones only when `include_deleted`.
pub async fn get(store: &Store, ws: WorkspaceId, id: RewardId, include_deleted: bool) -> Result<Reward, StoreError> {
    let mut conn = store.read().await?;
    fetch(&mut conn, ws, id, include_deleted).await
}

async fn fetch(conn: &mut Conn, ws: WorkspaceId, id: RewardId, include_deleted: bool) -> Result<Reward, StoreError> {
    let row: RewardRow = per_backend!(conn, |c| {
        let query = rewards::table
            .filter(rewards::workspace_id.eq(Id(ws.0)))
            .filter(rewards::id.eq(Id(id.0)))
            .select(RewardRow::as_select());
        if include_deleted {
            query.get_result(c).await
        } else {
            query.filter(rewards::deleted_at.is_null()).get_result(c).await
        }
    })?;
    Ok(row.into())
}

/// A page of rewards, oldest first or (`descending`) newest first; `limit + 1` rows.
pub async fn list(
    store: &Store,
    ws: WorkspaceId,
    filter: &RewardFilter,
    descending: bool,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<Vec<Reward>, StoreError> {
    let mut conn = store.read().await?;
    let after = after.and_then(|c| c.at.map(|at| (Ts(at), Id(c.id))));
    let rows: Vec<RewardRow> = per_backend!(&mut conn, |c| {
        let mut query = rewards::table
            .filter(rewards::workspace_id.eq(Id(ws.0)))
            .select(RewardRow::as_select())
            .limit(i64::from(limit) + 1)
            .into_boxed();
        query = if filter.deleted {
            query.filter(rewards::deleted_at.is_not_null())
        } else {
            query.filter(rewards::deleted_at.is_null())
        };
        if let Some(active) = filter.active {
            query = query.filter(rewards::active.eq(active));
        }
        match filter.available {
            Some(true) => {
                query = query
                    .filter(rewards::active.eq(true))
                    .filter(rewards::stock.is_null().or(rewards::stock.gt(0_i64)));
            }
            Some(false) => {
                query = query.filter(rewards::active.eq(false).or(rewards::stock.eq(0_i64)));
            }
            None => {}
        }
        query = if descending {
            keyset!(query, after, rewards::created_at, rewards::id, le, lt, desc)
        } else {
            keyset!(query, after, rewards::created_at, rewards::id, ge, gt, asc)
        };
        query.load(c).await
    })?;
    Ok(rows.into_iter().map(Reward::from).collect())
}

/// Applies `change` to the current reward and stores it, guarded by its version (stale
/// `if_match`: `VersionMismatch`; without it, a concurrent write is retried on the fresh row).
pub async fn update(
    store: &Store,
    ctx: &Context,
    id: RewardId,
    if_match: Option<i64>,
    change: impl Fn(&Reward) -> Result<RewardInput, ValidationErrors>,
) -> Result<Reward, StoreError> {
    let mut conn = store.write().await?;
    for _ in 0..3 {
        let current = fetch(&mut conn, ctx.workspace_id, id, false).await?;
        if if_match.is_some_and(|v| v != current.version) {
            return Err(StoreError::VersionMismatch { current: current.version });
        }
        let next = change(&current).map_err(StoreError::Invalid)?;
        let before = serde_json::to_value(current.input()).unwrap_or_default();
        let changes = diff(&before, &serde_json::to_value(&next).unwrap_or_default());
        if changes.is_empty() {
            return Ok(current);
        }
        let at = now();
        let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Update, &changes, at);
        let data = RewardData::new(&next);
        let row: Option<RewardRow> = write_tx!(&mut conn, |c| {
            let row = Cached(
                diesel::update(
                    rewards::table
                        .filter(rewards::workspace_id.eq(Id(ctx.workspace_id.0)))
                        .filter(rewards::id.eq(Id(id.0)))
                        .filter(rewards::version.eq(current.version))
                        .filter(rewards::deleted_at.is_null()),
                )
                .set((&data, rewards::version.eq(current.version + 1), rewards::updated_at.eq(Ts(at))))
                .returning(RewardRow::as_returning()),
            )
            .get_result(c)
            .await
            .optional()?;
            if row.is_some() {
                diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
            }
            Ok(row)
        })?;
        match row {
            Some(row) => return Ok(row.into()),
            None if if_match.is_some() => {
                let current = fetch(&mut conn, ctx.workspace_id, id, false).await?;
                return Err(StoreError::VersionMismatch { current: current.version });
            }
            None => continue,
        }
    }
    Err(StoreError::conflict("edit_conflict", "the reward kept changing; retry the request"))
}

/// Soft-deletes (`deleted = true`) or restores (`deleted = false`) a reward.
pub async fn set_deleted(
    store: &Store,
    ctx: &Context,
    id: RewardId,
    if_match: Option<i64>,
    deleted: bool,
) -> Result<Reward, StoreError> {
    let mut conn = store.write().await?;
    let current = fetch(&mut conn, ctx.workspace_id, id, true).await?;
    if !soft_delete::needed(current.deleted_at.is_some(), current.version, if_match, deleted)? {
        return Ok(current);
    }
    let written = soft_delete::set_deleted_at!(
        &mut conn,
        ctx,
        ENTITY,
        rewards,
        RewardRow,
        id.0,
        (current.version, current.deleted_at),
        deleted
    );
    match written? {
        Some(row) => Ok(row.into()),
        None => Err(StoreError::VersionMismatch { current: current.version + 1 }),
    }
}

/// The cursor that resumes a list after `reward`.
pub fn cursor_after(sort: &str, reward: &Reward) -> Cursor {
    Cursor { sort: sort.to_owned(), at: Some(reward.created_at), id: reward.id.0 }
}
