//! Interactions: rows, the mapping to domain types, and every query, scoped by workspace.
//! The `external_id` of live interactions is unique per workspace (a partial unique index).

use crm_domain::audit::{AuditAction, diff};
use crm_domain::interaction::{
    Channel, Direction, Interaction, InteractionFilter, InteractionInput, InteractionSort, InteractionSortField,
};
use crm_domain::page::Cursor;
use crm_domain::{CustomerId, DealId, InteractionId, LeadId, UserId, ValidationErrors, WorkspaceId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::audit::NewAuditRow;
use crate::error::is_unique_violation;
use crate::query::{Cached, RenderedSelection, keyset, like_pattern};
use crate::schema::{audit_events, customer_stats, interactions};
use crate::soft_delete;
use crate::types::{Id, Json, Ts, now};
use crate::{Conn, Context, Store, StoreError, per_backend, write_tx};

const ENTITY: &str = "interaction";

pub(crate) static INTERACTION_COLUMNS: RenderedSelection<InteractionRow> = RenderedSelection::new();

#[derive(Queryable, Selectable)]
#[diesel(table_name = interactions)]
pub(crate) struct InteractionRow {
    id: Id,
    channel: String,
    direction: String,
    subject: Option<String>,
    body: Option<String>,
    occurred_at: Ts,
    duration_seconds: Option<i32>,
    customer_id: Option<Id>,
    deal_id: Option<Id>,
    lead_id: Option<Id>,
    user_id: Option<Id>,
    external_id: Option<String>,
    metadata: Json,
    version: i64,
    created_at: Ts,
    updated_at: Ts,
    deleted_at: Option<Ts>,
}

/// The data columns, shared by insert and update.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = interactions, treat_none_as_null = true, treat_none_as_default_value = false)]
struct InteractionData {
    channel: &'static str,
    direction: &'static str,
    subject: Option<String>,
    body: Option<String>,
    occurred_at: Ts,
    duration_seconds: Option<i32>,
    customer_id: Option<Id>,
    deal_id: Option<Id>,
    lead_id: Option<Id>,
    user_id: Option<Id>,
    external_id: Option<String>,
    metadata: Json,
    search_text: String,
}

impl From<&InteractionInput> for InteractionData {
    fn from(i: &InteractionInput) -> Self {
        InteractionData {
            channel: i.channel.as_str(),
            direction: i.direction.unwrap_or(Direction::Internal).as_str(),
            subject: i.subject.clone(),
            body: i.body.clone(),
            occurred_at: Ts(i.occurred_at),
            duration_seconds: i.duration_seconds.and_then(|d| i32::try_from(d).ok()),
            customer_id: i.customer_id.map(|id| Id(id.0)),
            deal_id: i.deal_id.map(|id| Id(id.0)),
            lead_id: i.lead_id.map(|id| Id(id.0)),
            user_id: i.user_id.map(|id| Id(id.0)),
            external_id: i.external_id.clone(),
            metadata: Json::of(&i.metadata),
            search_text: i.search_text(),
        }
    }
}

impl TryFrom<InteractionRow> for Interaction {
    type Error = StoreError;
    fn try_from(r: InteractionRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str, value: &str| StoreError::Corrupt(format!("interaction {what} {value:?}"));
        let data = InteractionInput {
            channel: Channel::parse(&r.channel).ok_or_else(|| corrupt("channel", &r.channel))?,
            direction: Some(Direction::parse(&r.direction).ok_or_else(|| corrupt("direction", &r.direction))?),
            subject: r.subject,
            body: r.body,
            occurred_at: r.occurred_at.0,
            duration_seconds: r.duration_seconds.and_then(|d| u32::try_from(d).ok()),
            customer_id: r.customer_id.map(|id| CustomerId(id.0)),
            deal_id: r.deal_id.map(|id| DealId(id.0)),
            lead_id: r.lead_id.map(|id| LeadId(id.0)),
            user_id: r.user_id.map(|id| UserId(id.0)),
            external_id: r.external_id,
            metadata: r.metadata.decode()?,
        };
        Ok(Interaction {
            id: InteractionId(r.id.0),
            data,
            version: r.version,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
            deleted_at: r.deleted_at.map(|t| t.0),
        })
    }
}

/// Checks the links that are new (unchanged links stay valid even when their record was
/// deleted since).
async fn check_references(
    conn: &mut Conn,
    ws: WorkspaceId,
    next: &InteractionInput,
    previous: Option<&InteractionInput>,
) -> Result<(), StoreError> {
    let mut errors = ValidationErrors::default();
    let customer = next.customer_id.filter(|c| previous.is_none_or(|p| p.customer_id != Some(*c)));
    crate::refs::check_customer(conn, ws, customer, "customer_id", &mut errors).await?;
    let user = next.user_id.filter(|u| previous.is_none_or(|p| p.user_id != Some(*u)));
    crate::refs::check_user(conn, ws, user, "user_id", &mut errors).await?;
    let deal = next.deal_id.filter(|d| previous.is_none_or(|p| p.deal_id != Some(*d)));
    crate::refs::check_deal(conn, ws, deal, "deal_id", &mut errors).await?;
    let lead = next.lead_id.filter(|l| previous.is_none_or(|p| p.lead_id != Some(*l)));
    crate::refs::check_lead(conn, ws, lead, "lead_id", &mut errors).await?;
    errors.into_result(()).map_err(StoreError::Invalid)
}

/// Recomputes `customer_stats.last_interaction_at` of each customer in `$customers` (ids) from
/// its live interactions, inside the write transaction that changed them, so segments on
/// "last contact" never lag.
macro_rules! refresh_last_interaction {
    ($c:ident, $ws:expr, $customers:expr) => {{
        let ws: Id = $ws;
        for customer in $customers.into_iter().flatten() {
            let customer = Id(customer.0);
            let last: Option<Ts> = interactions::table
                .filter(interactions::workspace_id.eq(ws))
                .filter(interactions::customer_id.eq(customer))
                .filter(interactions::deleted_at.is_null())
                .order(interactions::occurred_at.desc())
                .select(interactions::occurred_at)
                .first($c)
                .await
                .optional()?;
            diesel::insert_into(customer_stats::table)
                .values((
                    customer_stats::customer_id.eq(customer),
                    customer_stats::workspace_id.eq(ws),
                    customer_stats::last_interaction_at.eq(last),
                ))
                .on_conflict(customer_stats::customer_id)
                .do_update()
                .set(customer_stats::last_interaction_at.eq(last))
                .execute($c)
                .await?;
        }
    }};
}

/// Turns a unique violation on `external_id` into 409 `interaction_exists`, naming the holder.
async fn name_conflict(conn: &mut Conn, ws: WorkspaceId, external_id: Option<&str>, e: StoreError) -> StoreError {
    let (true, Some(external_id)) = (is_unique_violation(&e), external_id) else { return e };
    let holder: Result<Id, StoreError> = per_backend!(conn, |c| interactions::table
        .filter(interactions::workspace_id.eq(Id(ws.0)))
        .filter(interactions::external_id.eq(external_id))
        .filter(interactions::deleted_at.is_null())
        .select(interactions::id)
        .get_result(c)
        .await)
    .map_err(StoreError::from);
    let detail = match holder {
        Ok(id) => format!("interaction {} already has this external_id", id.0),
        Err(_) => "an interaction with this external_id already exists".to_owned(),
    };
    StoreError::conflict("interaction_exists", detail)
}

pub async fn create(store: &Store, ctx: &Context, input: InteractionInput) -> Result<Interaction, StoreError> {
    let mut conn = store.write().await?;
    check_references(&mut conn, ctx.workspace_id, &input, None).await?;
    let id = InteractionId::generate();
    let at = now();
    let data = InteractionData::from(&input);
    let changes = diff(&serde_json::json!({}), &serde_json::to_value(&input).unwrap_or_default());
    let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Create, &changes, at);
    let result: Result<InteractionRow, StoreError> = write_tx!(&mut conn, |c| {
        let row = diesel::insert_into(interactions::table)
            .values((
                interactions::id.eq(Id(id.0)),
                interactions::workspace_id.eq(Id(ctx.workspace_id.0)),
                &data,
                interactions::version.eq(1),
                interactions::created_at.eq(Ts(at)),
                interactions::updated_at.eq(Ts(at)),
            ))
            .returning(InteractionRow::as_returning())
            .get_result(c)
            .await?;
        diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        refresh_last_interaction!(c, Id(ctx.workspace_id.0), [input.customer_id]);
        Ok(row)
    });
    match result {
        Ok(row) => row.try_into(),
        Err(e) => Err(name_conflict(&mut conn, ctx.workspace_id, input.external_id.as_deref(), e).await),
    }
}

/// One interaction; deleted ones only when `include_deleted`.
pub async fn get(
    store: &Store,
    ws: WorkspaceId,
    id: InteractionId,
    include_deleted: bool,
) -> Result<Interaction, StoreError> {
    let mut conn = store.read().await?;
    fetch(&mut conn, ws, id, include_deleted).await
}

async fn fetch(
    conn: &mut Conn,
    ws: WorkspaceId,
    id: InteractionId,
    include_deleted: bool,
) -> Result<Interaction, StoreError> {
    let row: InteractionRow = per_backend!(conn, |c| {
        let query = interactions::table
            .filter(interactions::workspace_id.eq(Id(ws.0)))
            .filter(interactions::id.eq(Id(id.0)))
            .select(INTERACTION_COLUMNS.as_select());
        if include_deleted {
            query.get_result(c).await
        } else {
            query.filter(interactions::deleted_at.is_null()).get_result(c).await
        }
    })?;
    row.try_into()
}

/// A page of interactions (`limit + 1` rows, so the caller can tell whether more exist).
pub async fn list(
    store: &Store,
    ws: WorkspaceId,
    filter: &InteractionFilter,
    sort: InteractionSort,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<Vec<Interaction>, StoreError> {
    let mut conn = store.read().await?;
    let after = after.and_then(|c| c.at.map(|at| (Ts(at), Id(c.id))));
    let channels: Vec<&'static str> = filter.channels.iter().map(|c| c.as_str()).collect();
    let rows: Vec<InteractionRow> = per_backend!(&mut conn, |c| {
        let mut query = interactions::table
            .filter(interactions::workspace_id.eq(Id(ws.0)))
            .select(INTERACTION_COLUMNS.as_select())
            .limit(i64::from(limit) + 1)
            .into_boxed();
        query = if filter.deleted {
            query.filter(interactions::deleted_at.is_not_null())
        } else {
            query.filter(interactions::deleted_at.is_null())
        };
        if let Some(id) = filter.customer_id {
            query = query.filter(interactions::customer_id.eq(Id(id.0)));
        }
        if let Some(id) = filter.deal_id {
            query = query.filter(interactions::deal_id.eq(Id(id.0)));
        }
        if let Some(id) = filter.lead_id {
            query = query.filter(interactions::lead_id.eq(Id(id.0)));
        }
        if !channels.is_empty() {
            query = query.filter(interactions::channel.eq_any(channels.clone()));
        }
        if let Some(direction) = filter.direction {
            query = query.filter(interactions::direction.eq(direction.as_str()));
        }
        if let Some(id) = filter.user_id {
            query = query.filter(interactions::user_id.eq(Id(id.0)));
        }
        if let Some(t) = filter.occurred_after {
            query = query.filter(interactions::occurred_at.ge(Ts(t)));
        }
        if let Some(t) = filter.occurred_before {
            query = query.filter(interactions::occurred_at.lt(Ts(t)));
        }
        if let Some(q) = &filter.q {
            query = query.filter(interactions::search_text.like(like_pattern(q)).escape('\\'));
        }
        query = match (sort.field, sort.descending) {
            (InteractionSortField::OccurredAt, false) => {
                keyset!(query, after, interactions::occurred_at, interactions::id, ge, gt, asc)
            }
            (InteractionSortField::OccurredAt, true) => {
                keyset!(query, after, interactions::occurred_at, interactions::id, le, lt, desc)
            }
            (InteractionSortField::CreatedAt, false) => {
                keyset!(query, after, interactions::created_at, interactions::id, ge, gt, asc)
            }
            (InteractionSortField::CreatedAt, true) => {
                keyset!(query, after, interactions::created_at, interactions::id, le, lt, desc)
            }
        };
        query.load(c).await
    })?;
    rows.into_iter().map(Interaction::try_from).collect()
}

/// Applies `change` to the current interaction and stores the result, guarded by its version.
/// With `if_match`, a stale version is a `VersionMismatch`; without, a concurrent write
/// between our read and our update is retried on the fresh row.
pub async fn update(
    store: &Store,
    ctx: &Context,
    id: InteractionId,
    if_match: Option<i64>,
    change: impl Fn(&Interaction) -> Result<InteractionInput, ValidationErrors>,
) -> Result<Interaction, StoreError> {
    let mut conn = store.write().await?;
    for _ in 0..3 {
        let current = fetch(&mut conn, ctx.workspace_id, id, false).await?;
        if if_match.is_some_and(|v| v != current.version) {
            return Err(StoreError::VersionMismatch { current: current.version });
        }
        let next = change(&current).map_err(StoreError::Invalid)?;
        check_references(&mut conn, ctx.workspace_id, &next, Some(&current.data)).await?;
        let before = serde_json::to_value(&current.data).unwrap_or_default();
        let changes = diff(&before, &serde_json::to_value(&next).unwrap_or_default());
        if changes.is_empty() {
            return Ok(current);
        }
        let at = now();
        let data = InteractionData::from(&next);
        let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Update, &changes, at);
        let result: Result<Option<InteractionRow>, StoreError> = write_tx!(&mut conn, |c| {
            let row = Cached(
                diesel::update(
                    interactions::table
                        .filter(interactions::workspace_id.eq(Id(ctx.workspace_id.0)))
                        .filter(interactions::id.eq(Id(id.0)))
                        .filter(interactions::version.eq(current.version))
                        .filter(interactions::deleted_at.is_null()),
                )
                .set((&data, interactions::version.eq(current.version + 1), interactions::updated_at.eq(Ts(at))))
                .returning(InteractionRow::as_returning()),
            )
            .get_result(c)
            .await
            .optional()?;
            if row.is_some() {
                diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
                refresh_last_interaction!(c, Id(ctx.workspace_id.0), [current.data.customer_id, next.customer_id]);
            }
            Ok(row)
        });
        let row = match result {
            Ok(row) => row,
            Err(e) => return Err(name_conflict(&mut conn, ctx.workspace_id, next.external_id.as_deref(), e).await),
        };
        match row {
            Some(row) => return row.try_into(),
            None if if_match.is_some() => {
                let current = fetch(&mut conn, ctx.workspace_id, id, false).await?;
                return Err(StoreError::VersionMismatch { current: current.version });
            }
            None => continue,
        }
    }
    Err(StoreError::conflict("edit_conflict", "the interaction kept changing; retry the request"))
}

/// Soft-deletes (`deleted = true`) or restores (`deleted = false`) an interaction. Restoring
/// one whose `external_id` a live interaction now holds is 409 `interaction_exists`.
pub async fn set_deleted(
    store: &Store,
    ctx: &Context,
    id: InteractionId,
    if_match: Option<i64>,
    deleted: bool,
) -> Result<Interaction, StoreError> {
    let mut conn = store.write().await?;
    let current = fetch(&mut conn, ctx.workspace_id, id, true).await?;
    if !soft_delete::needed(current.deleted_at.is_some(), current.version, if_match, deleted)? {
        return Ok(current);
    }
    let written = soft_delete::set_deleted_at!(
        &mut conn,
        ctx,
        ENTITY,
        interactions,
        InteractionRow,
        id.0,
        (current.version, current.deleted_at),
        deleted,
        then c => {
            refresh_last_interaction!(c, Id(ctx.workspace_id.0), [current.data.customer_id]);
        }
    );
    match written {
        Ok(Some(row)) => row.try_into(),
        Ok(None) => Err(StoreError::VersionMismatch { current: current.version + 1 }),
        Err(e) => Err(name_conflict(&mut conn, ctx.workspace_id, current.data.external_id.as_deref(), e).await),
    }
}

/// The cursor that resumes a list after `interaction`.
pub fn cursor_after(sort: InteractionSort, interaction: &Interaction) -> Cursor {
    Cursor { sort: sort.as_str().to_owned(), at: Some(sort.key_of(interaction)), id: interaction.id.0 }
}

/// Whether an interaction exists in the workspace (deleted or not): history stays readable.
pub async fn exists(store: &Store, ws: WorkspaceId, id: InteractionId) -> Result<bool, StoreError> {
    let mut conn = store.read().await?;
    let n: i64 = per_backend!(&mut conn, |c| interactions::table
        .filter(interactions::workspace_id.eq(Id(ws.0)))
        .filter(interactions::id.eq(Id(id.0)))
        .count()
        .get_result(c)
        .await)?;
    Ok(n > 0)
}
