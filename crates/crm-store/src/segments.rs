//! Segments: saved customer criteria. Their members are not stored: a segment is evaluated
//! when read, through the same query as the customer list, so it is never stale.

use crm_domain::audit::{AuditAction, Change, diff};
use crm_domain::segment::{Segment, SegmentInput};
use crm_domain::{SegmentId, ValidationErrors, WorkspaceId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::audit::NewAuditRow;
use crate::schema::{audit_events, segments};
use crate::types::{Id, Json, Ts, now};
use crate::{Conn, Context, Store, StoreError, per_backend, write_tx};

const ENTITY: &str = "segment";

#[derive(Queryable, Selectable)]
#[diesel(table_name = segments)]
struct SegmentRow {
    id: Id,
    name: String,
    description: Option<String>,
    filter: Json,
    version: i64,
    created_at: Ts,
    updated_at: Ts,
    deleted_at: Option<Ts>,
}

impl TryFrom<SegmentRow> for Segment {
    type Error = StoreError;
    fn try_from(r: SegmentRow) -> Result<Self, StoreError> {
        Ok(Segment {
            id: SegmentId(r.id.0),
            name: r.name,
            description: r.description,
            filter: r.filter.decode()?,
            version: r.version,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
            deleted_at: r.deleted_at.map(|t| t.0),
        })
    }
}

fn document(input: &SegmentInput) -> serde_json::Value {
    serde_json::to_value(input).unwrap_or_default()
}

pub async fn create(store: &Store, ctx: &Context, input: SegmentInput) -> Result<Segment, StoreError> {
    let mut conn = store.write().await?;
    let id = SegmentId::generate();
    let at = now();
    let changes = diff(&serde_json::json!({}), &document(&input));
    let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Create, &changes, at);
    let row: SegmentRow = write_tx!(&mut conn, |c| {
        let row = diesel::insert_into(segments::table)
            .values((
                segments::id.eq(Id(id.0)),
                segments::workspace_id.eq(Id(ctx.workspace_id.0)),
                segments::name.eq(&input.name),
                segments::description.eq(&input.description),
                segments::filter.eq(Json::of(&input.filter)),
                segments::version.eq(1),
                segments::created_at.eq(Ts(at)),
                segments::updated_at.eq(Ts(at)),
            ))
            .returning(SegmentRow::as_returning())
            .get_result(c)
            .await?;
        diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        Ok(row)
    })?;
    row.try_into()
}

pub async fn get(store: &Store, ws: WorkspaceId, id: SegmentId, include_deleted: bool) -> Result<Segment, StoreError> {
    let mut conn = store.read().await?;
    fetch(&mut conn, ws, id, include_deleted).await
}

async fn fetch(conn: &mut Conn, ws: WorkspaceId, id: SegmentId, include_deleted: bool) -> Result<Segment, StoreError> {
    let row: SegmentRow = per_backend!(conn, |c| {
        let query = segments::table
            .filter(segments::workspace_id.eq(Id(ws.0)))
            .filter(segments::id.eq(Id(id.0)))
            .select(SegmentRow::as_select());
        if include_deleted {
            query.get_result(c).await
        } else {
            query.filter(segments::deleted_at.is_null()).get_result(c).await
        }
    })?;
    row.try_into()
}

/// A page of segments, newest first; `before` is the id the previous page ended on.
pub async fn list(
    store: &Store,
    ws: WorkspaceId,
    before: Option<uuid::Uuid>,
    deleted: bool,
    limit: u32,
) -> Result<Vec<Segment>, StoreError> {
    let mut conn = store.read().await?;
    let rows: Vec<SegmentRow> = per_backend!(&mut conn, |c| {
        let mut query = segments::table
            .filter(segments::workspace_id.eq(Id(ws.0)))
            .select(SegmentRow::as_select())
            .order(segments::id.desc())
            .limit(i64::from(limit) + 1)
            .into_boxed();
        query = if deleted {
            query.filter(segments::deleted_at.is_not_null())
        } else {
            query.filter(segments::deleted_at.is_null())
        };
        if let Some(before) = before {
            query = query.filter(segments::id.lt(Id(before)));
        }
        query.load(c).await
    })?;
    rows.into_iter().map(Segment::try_from).collect()
}

/// Applies `change` to the segment's writable fields, guarded by its version.
pub async fn update(
    store: &Store,
    ctx: &Context,
    id: SegmentId,
    if_match: Option<i64>,
    change: impl Fn(&SegmentInput) -> Result<SegmentInput, ValidationErrors>,
) -> Result<Segment, StoreError> {
    let mut conn = store.write().await?;
    let current = fetch(&mut conn, ctx.workspace_id, id, false).await?;
    if if_match.is_some_and(|v| v != current.version) {
        return Err(StoreError::VersionMismatch { current: current.version });
    }
    let before = current.input();
    let next = change(&before).map_err(StoreError::Invalid)?;
    let changes = diff(&document(&before), &document(&next));
    if changes.is_empty() {
        return Ok(current);
    }
    let at = now();
    let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Update, &changes, at);
    let row = write(&mut conn, ctx, id, current.version, audit, Write::Fields(&next)).await?;
    row.try_into()
}

/// Soft-deletes (`deleted = true`) or restores a segment.
pub async fn set_deleted(
    store: &Store,
    ctx: &Context,
    id: SegmentId,
    if_match: Option<i64>,
    deleted: bool,
) -> Result<Segment, StoreError> {
    let mut conn = store.write().await?;
    let current = fetch(&mut conn, ctx.workspace_id, id, true).await?;
    if current.deleted_at.is_some() == deleted {
        return if deleted { Err(StoreError::NotFound) } else { Ok(current) };
    }
    if if_match.is_some_and(|v| v != current.version) {
        return Err(StoreError::VersionMismatch { current: current.version });
    }
    let at = now();
    let (action, deleted_at) = if deleted { (AuditAction::Delete, Some(Ts(at))) } else { (AuditAction::Restore, None) };
    let change = Change {
        field: "deleted_at".into(),
        from: serde_json::to_value(current.deleted_at).unwrap_or_default(),
        to: serde_json::to_value(deleted_at.map(|t| t.0)).unwrap_or_default(),
    };
    let audit = NewAuditRow::new(ctx, ENTITY, id.0, action, &[change], at);
    let row = write(&mut conn, ctx, id, current.version, audit, Write::DeletedAt(deleted_at)).await?;
    row.try_into()
}

enum Write<'a> {
    Fields(&'a SegmentInput),
    DeletedAt(Option<Ts>),
}

/// Writes the change with the next version and its audit event when the segment is still at
/// `version`; a concurrent change in between is a version mismatch.
async fn write(
    conn: &mut Conn,
    ctx: &Context,
    id: SegmentId,
    version: i64,
    audit: NewAuditRow,
    change: Write<'_>,
) -> Result<SegmentRow, StoreError> {
    let at = audit.at();
    let row: Option<SegmentRow> = write_tx!(conn, |c| {
        let target = diesel::update(
            segments::table
                .filter(segments::workspace_id.eq(Id(ctx.workspace_id.0)))
                .filter(segments::id.eq(Id(id.0)))
                .filter(segments::version.eq(version)),
        );
        let stamp = (segments::version.eq(version + 1), segments::updated_at.eq(Ts(at)));
        let row = match &change {
            Write::Fields(next) => target
                .set((
                    segments::name.eq(&next.name),
                    segments::description.eq(&next.description),
                    segments::filter.eq(Json::of(&next.filter)),
                    stamp,
                ))
                .returning(SegmentRow::as_returning())
                .get_result(c)
                .await
                .optional()?,
            Write::DeletedAt(deleted_at) => target
                .set((segments::deleted_at.eq(*deleted_at), stamp))
                .returning(SegmentRow::as_returning())
                .get_result(c)
                .await
                .optional()?,
        };
        if row.is_some() {
            diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        }
        Ok(row)
    })?;
    row.ok_or(StoreError::VersionMismatch { current: version + 1 })
}
