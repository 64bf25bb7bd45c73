//! The customer timeline: one keyset page per kind of entry, each from its own index on
//! `(workspace_id, customer_id, time, id)`, merged in crm-domain. Every page of every source
//! starts at the cursor, so page 100 costs what page 1 does.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use crm_domain::audit::AuditEvent;
use crm_domain::deal::StageChange;
use crm_domain::interaction::Interaction;
use crm_domain::loyalty::entry_summary;
use crm_domain::purchase::summary as purchase_summary;
use crm_domain::task::Task;
use crm_domain::timeline::{
    TimelineData, TimelineEntry, TimelineKind, change_summary, interaction_summary, merge_newest_first,
    stage_change_summary, task_summary,
};
use crm_domain::{CustomerId, WorkspaceId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::audit::{AUDIT_COLUMNS, AuditRow};
use crate::deals::{STAGE_CHANGE_COLUMNS, StageChangeRow};
use crate::interactions::{INTERACTION_COLUMNS, InteractionRow};
use crate::purchases::{PURCHASE_COLUMNS, PurchaseRow};
use crate::schema::{audit_events, deal_stage_changes, deals, interactions, pipeline_stages, purchases, tasks};
use crate::tasks::{TASK_COLUMNS, TaskRow};
use crate::types::{Id, Ts};
use crate::{Conn, Store, StoreError, per_backend};

/// Keeps the rows strictly older than the cursor `(t, u)` in `(time, id)` order, newest first:
/// `time <= t AND (time < t OR id < u)`, both in the index condition.
macro_rules! older_than {
    ($query:expr, $before:expr, $time:expr, $id:expr) => {{
        let mut query = $query;
        if let Some((t, u)) = $before {
            query = query.filter($time.le(t).and($time.lt(t).or($id.lt(u))));
        }
        query.order(($time.desc(), $id.desc()))
    }};
}

/// A page of one customer's timeline (`limit + 1` entries, so the caller can tell whether more
/// exist), with only the `kinds` asked for.
pub async fn page(
    store: &Store,
    ws: WorkspaceId,
    customer: CustomerId,
    kinds: &[TimelineKind],
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: u32,
) -> Result<Vec<TimelineEntry>, StoreError> {
    // Up to six range reads of `limit + 1` rows, one after the other.
    let mut conn = store.read_several().await?;
    let before = before.map(|(t, u)| (Ts(t), Id(u)));
    let n = i64::from(limit) + 1;
    let mut sources = Vec::with_capacity(kinds.len());
    for kind in kinds {
        sources.push(match kind {
            TimelineKind::Interaction => interactions(&mut conn, ws, customer, before, n).await?,
            TimelineKind::Task => tasks(&mut conn, ws, customer, before, n).await?,
            TimelineKind::DealStageChange => stage_changes(&mut conn, ws, customer, before, n).await?,
            TimelineKind::Change => changes(&mut conn, ws, customer, before, n).await?,
            TimelineKind::Purchase => purchases(&mut conn, ws, customer, before, n).await?,
            TimelineKind::Points => crate::loyalty::timeline_rows(&mut conn, ws, customer, before, n)
                .await?
                .into_iter()
                .map(|e| {
                    let summary = entry_summary(&e);
                    TimelineEntry::new(TimelineData::Points(e), summary)
                })
                .collect(),
        });
    }
    Ok(merge_newest_first(sources, n as usize))
}

async fn interactions(
    conn: &mut Conn,
    ws: WorkspaceId,
    customer: CustomerId,
    before: Option<(Ts, Id)>,
    n: i64,
) -> Result<Vec<TimelineEntry>, StoreError> {
    let rows: Vec<InteractionRow> = per_backend!(conn, |c| {
        let query = interactions::table
            .filter(interactions::workspace_id.eq(Id(ws.0)))
            .filter(interactions::customer_id.eq(Id(customer.0)))
            .filter(interactions::deleted_at.is_null())
            .select(INTERACTION_COLUMNS.as_select())
            .limit(n)
            .into_boxed();
        older_than!(query, before, interactions::occurred_at, interactions::id).load(c).await
    })?;
    rows.into_iter()
        .map(|row| {
            let i = Interaction::try_from(row)?;
            let summary = interaction_summary(&i);
            Ok(TimelineEntry::new(TimelineData::Interaction(i), summary))
        })
        .collect()
}

async fn tasks(
    conn: &mut Conn,
    ws: WorkspaceId,
    customer: CustomerId,
    before: Option<(Ts, Id)>,
    n: i64,
) -> Result<Vec<TimelineEntry>, StoreError> {
    let rows: Vec<TaskRow> = per_backend!(conn, |c| {
        let query = tasks::table
            .filter(tasks::workspace_id.eq(Id(ws.0)))
            .filter(tasks::customer_id.eq(Id(customer.0)))
            .filter(tasks::deleted_at.is_null())
            .select(TASK_COLUMNS.as_select())
            .limit(n)
            .into_boxed();
        older_than!(query, before, tasks::created_at, tasks::id).load(c).await
    })?;
    rows.into_iter()
        .map(|row| {
            let t = Task::try_from(row)?;
            let summary = task_summary(&t);
            Ok(TimelineEntry::new(TimelineData::Task(t), summary))
        })
        .collect()
}

async fn stage_changes(
    conn: &mut Conn,
    ws: WorkspaceId,
    customer: CustomerId,
    before: Option<(Ts, Id)>,
    n: i64,
) -> Result<Vec<TimelineEntry>, StoreError> {
    let rows: Vec<StageChangeRow> = per_backend!(conn, |c| {
        let query = deal_stage_changes::table
            .filter(deal_stage_changes::workspace_id.eq(Id(ws.0)))
            .filter(deal_stage_changes::customer_id.eq(Id(customer.0)))
            .select(STAGE_CHANGE_COLUMNS.as_select())
            .limit(n)
            .into_boxed();
        older_than!(query, before, deal_stage_changes::at, deal_stage_changes::id).load(c).await
    })?;
    let changes: Vec<StageChange> = rows.into_iter().map(StageChange::from).collect();
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    // Names for the summaries: one query each for the page's stages and deals, not one per row.
    let stage_ids: Vec<Id> =
        changes.iter().flat_map(|c| [Some(c.to_stage_id), c.from_stage_id]).flatten().map(|s| Id(s.0)).collect();
    let deal_ids: Vec<Id> = changes.iter().map(|c| Id(c.deal_id.0)).collect();
    let stages: HashMap<Uuid, String> = per_backend!(conn, |c| pipeline_stages::table
        .filter(pipeline_stages::workspace_id.eq(Id(ws.0)))
        .filter(pipeline_stages::id.eq_any(&stage_ids))
        .select((pipeline_stages::id, pipeline_stages::name))
        .load::<(Id, String)>(c)
        .await)?
    .into_iter()
    .map(|(id, name)| (id.0, name))
    .collect();
    let deals: HashMap<Uuid, String> = per_backend!(conn, |c| deals::table
        .filter(deals::workspace_id.eq(Id(ws.0)))
        .filter(deals::id.eq_any(&deal_ids))
        .select((deals::id, deals::title))
        .load::<(Id, String)>(c)
        .await)?
    .into_iter()
    .map(|(id, title)| (id.0, title))
    .collect();
    let name = |id: Option<&Uuid>, names: &HashMap<Uuid, String>| {
        id.and_then(|id| names.get(id)).cloned().unwrap_or_else(|| "(deleted)".to_owned())
    };
    Ok(changes
        .into_iter()
        .map(|change| {
            let deal = name(Some(&change.deal_id.0), &deals);
            let from = change.from_stage_id.map(|s| name(Some(&s.0), &stages));
            let to = name(Some(&change.to_stage_id.0), &stages);
            let summary = stage_change_summary(&deal, from.as_deref(), &to);
            TimelineEntry::new(TimelineData::DealStageChange(change), summary)
        })
        .collect())
}

async fn changes(
    conn: &mut Conn,
    ws: WorkspaceId,
    customer: CustomerId,
    before: Option<(Ts, Id)>,
    n: i64,
) -> Result<Vec<TimelineEntry>, StoreError> {
    let rows: Vec<AuditRow> = per_backend!(conn, |c| {
        let query = audit_events::table
            .filter(audit_events::workspace_id.eq(Id(ws.0)))
            .filter(audit_events::entity_type.eq("customer"))
            .filter(audit_events::entity_id.eq(Id(customer.0)))
            .select(AUDIT_COLUMNS.as_select())
            .limit(n)
            .into_boxed();
        older_than!(query, before, audit_events::created_at, audit_events::id).load(c).await
    })?;
    rows.into_iter()
        .map(|row| {
            let event = AuditEvent::try_from(row)?;
            let summary = change_summary(&event);
            Ok(TimelineEntry::new(TimelineData::Change(event), summary))
        })
        .collect()
}

async fn purchases(
    conn: &mut Conn,
    ws: WorkspaceId,
    customer: CustomerId,
    before: Option<(Ts, Id)>,
    n: i64,
) -> Result<Vec<TimelineEntry>, StoreError> {
    let rows: Vec<PurchaseRow> = per_backend!(conn, |c| {
        let query = purchases::table
            .filter(purchases::workspace_id.eq(Id(ws.0)))
            .filter(purchases::customer_id.eq(Id(customer.0)))
            .select(PURCHASE_COLUMNS.as_select())
            .limit(n)
            .into_boxed();
        older_than!(query, before, purchases::occurred_at, purchases::id).load(c).await
    })?;
    Ok(crate::purchases::load(conn, ws, rows)
        .await?
        .into_iter()
        .map(|p| {
            let summary = purchase_summary(&p);
            TimelineEntry::new(TimelineData::Purchase(Box::new(p)), summary)
        })
        .collect())
}
