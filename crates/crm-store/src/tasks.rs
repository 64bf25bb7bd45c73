//! Tasks: rows, the mapping to domain types, and every query, scoped by workspace.
//! `due_sort` (due date, or a far-future sentinel) gives the due-date order one non-null keyset.

use chrono::{DateTime, Utc};
use crm_domain::audit::{AuditAction, diff};
use crm_domain::page::Cursor;
use crm_domain::task::{
    DelegationRefused, Priority, Task, TaskFilter, TaskInput, TaskSort, TaskSortField, TaskStatus, check_delegation,
    no_due_date, settle,
};
use crm_domain::{CustomerId, DealId, LeadId, TaskId, UserId, ValidationErrors, WorkspaceId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::audit::NewAuditRow;
use crate::query::{Cached, RenderedSelection, keyset, like_pattern};
use crate::schema::{audit_events, tasks};
use crate::soft_delete;
use crate::types::{Id, Ts, now};
use crate::{Conn, Context, Store, StoreError, per_backend, write_tx};

const ENTITY: &str = "task";

pub(crate) static TASK_COLUMNS: RenderedSelection<TaskRow> = RenderedSelection::new();

#[derive(Queryable, Selectable)]
#[diesel(table_name = tasks)]
pub(crate) struct TaskRow {
    id: Id,
    title: String,
    description: Option<String>,
    due_at: Option<Ts>,
    assignee_id: Option<Id>,
    status: String,
    priority: String,
    progress: i32,
    customer_id: Option<Id>,
    deal_id: Option<Id>,
    lead_id: Option<Id>,
    completed_at: Option<Ts>,
    version: i64,
    created_at: Ts,
    updated_at: Ts,
    deleted_at: Option<Ts>,
}

/// The data columns, shared by insert and update.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = tasks, treat_none_as_null = true, treat_none_as_default_value = false)]
struct TaskData {
    title: String,
    description: Option<String>,
    due_at: Option<Ts>,
    due_sort: Ts,
    assignee_id: Option<Id>,
    status: &'static str,
    priority: &'static str,
    progress: i32,
    customer_id: Option<Id>,
    deal_id: Option<Id>,
    lead_id: Option<Id>,
    completed_at: Option<Ts>,
    search_text: String,
}

impl TaskData {
    fn new(t: &TaskInput, completed_at: Option<DateTime<Utc>>) -> Self {
        TaskData {
            title: t.title.clone(),
            description: t.description.clone(),
            due_at: t.due_at.map(Ts),
            due_sort: Ts(t.due_at.unwrap_or_else(no_due_date)),
            assignee_id: t.assignee_id.map(|id| Id(id.0)),
            status: t.status.as_str(),
            priority: t.priority.as_str(),
            progress: i32::try_from(t.progress).unwrap_or(100),
            customer_id: t.customer_id.map(|id| Id(id.0)),
            deal_id: t.deal_id.map(|id| Id(id.0)),
            lead_id: t.lead_id.map(|id| Id(id.0)),
            completed_at: completed_at.map(Ts),
            search_text: t.search_text(),
        }
    }
}

impl TryFrom<TaskRow> for Task {
    type Error = StoreError;
    fn try_from(r: TaskRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str, value: &str| StoreError::Corrupt(format!("task {what} {value:?}"));
        let data = TaskInput {
            title: r.title,
            description: r.description,
            due_at: r.due_at.map(|t| t.0),
            assignee_id: r.assignee_id.map(|id| UserId(id.0)),
            status: TaskStatus::parse(&r.status).ok_or_else(|| corrupt("status", &r.status))?,
            priority: Priority::parse(&r.priority).ok_or_else(|| corrupt("priority", &r.priority))?,
            progress: u32::try_from(r.progress).map_err(|_| corrupt("progress", &r.progress.to_string()))?,
            customer_id: r.customer_id.map(|id| CustomerId(id.0)),
            deal_id: r.deal_id.map(|id| DealId(id.0)),
            lead_id: r.lead_id.map(|id| LeadId(id.0)),
        };
        Ok(Task::new(
            TaskId(r.id.0),
            data,
            r.completed_at.map(|t| t.0),
            r.version,
            r.created_at.0,
            r.updated_at.0,
            r.deleted_at.map(|t| t.0),
            Utc::now(),
        ))
    }
}

/// Checks the assignee and the links that are new (unchanged links stay valid even when their
/// record was deleted since).
async fn check_references(
    conn: &mut Conn,
    ws: WorkspaceId,
    next: &TaskInput,
    previous: Option<&TaskInput>,
) -> Result<(), StoreError> {
    let mut errors = ValidationErrors::default();
    let assignee = next.assignee_id.filter(|u| previous.is_none_or(|p| p.assignee_id != Some(*u)));
    crate::refs::check_user(conn, ws, assignee, "assignee_id", &mut errors).await?;
    let customer = next.customer_id.filter(|c| previous.is_none_or(|p| p.customer_id != Some(*c)));
    crate::refs::check_customer(conn, ws, customer, "customer_id", &mut errors).await?;
    let deal = next.deal_id.filter(|d| previous.is_none_or(|p| p.deal_id != Some(*d)));
    crate::refs::check_deal(conn, ws, deal, "deal_id", &mut errors).await?;
    let lead = next.lead_id.filter(|l| previous.is_none_or(|p| p.lead_id != Some(*l)));
    crate::refs::check_lead(conn, ws, lead, "lead_id", &mut errors).await?;
    errors.into_result(()).map_err(StoreError::Invalid)
}

pub async fn create(store: &Store, ctx: &Context, input: TaskInput) -> Result<Task, StoreError> {
    let mut conn = store.write().await?;
    check_references(&mut conn, ctx.workspace_id, &input, None).await?;
    let id = TaskId::generate();
    let at = now();
    let (input, completed_at) = settle(input, None, at);
    let data = TaskData::new(&input, completed_at);
    let changes = diff(&serde_json::json!({}), &serde_json::to_value(&input).unwrap_or_default());
    let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Create, &changes, at);
    let row: TaskRow = write_tx!(&mut conn, |c| {
        let row = diesel::insert_into(tasks::table)
            .values((
                tasks::id.eq(Id(id.0)),
                tasks::workspace_id.eq(Id(ctx.workspace_id.0)),
                &data,
                tasks::version.eq(1),
                tasks::created_at.eq(Ts(at)),
                tasks::updated_at.eq(Ts(at)),
            ))
            .returning(TaskRow::as_returning())
            .get_result(c)
            .await?;
        diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        Ok(row)
    })?;
    row.try_into()
}

/// One task; deleted ones only when `include_deleted`.
pub async fn get(store: &Store, ws: WorkspaceId, id: TaskId, include_deleted: bool) -> Result<Task, StoreError> {
    let mut conn = store.read().await?;
    fetch(&mut conn, ws, id, include_deleted).await
}

async fn fetch(conn: &mut Conn, ws: WorkspaceId, id: TaskId, include_deleted: bool) -> Result<Task, StoreError> {
    let row: TaskRow = per_backend!(conn, |c| {
        let query = tasks::table
            .filter(tasks::workspace_id.eq(Id(ws.0)))
            .filter(tasks::id.eq(Id(id.0)))
            .select(TASK_COLUMNS.as_select());
        if include_deleted {
            query.get_result(c).await
        } else {
            query.filter(tasks::deleted_at.is_null()).get_result(c).await
        }
    })?;
    row.try_into()
}

/// A page of tasks (`limit + 1` rows, so the caller can tell whether more exist). `overdue`
/// is evaluated against the database time of the call: `due_at < now` and still active.
pub async fn list(
    store: &Store,
    ws: WorkspaceId,
    filter: &TaskFilter,
    sort: TaskSort,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<Vec<Task>, StoreError> {
    let mut conn = store.read().await?;
    let after = after.and_then(|c| c.at.map(|at| (Ts(at), Id(c.id))));
    let statuses: Vec<&'static str> = filter.statuses.iter().map(|s| s.as_str()).collect();
    let priorities: Vec<&'static str> = filter.priorities.iter().map(|p| p.as_str()).collect();
    let active: Vec<&'static str> = TaskStatus::ACTIVE.iter().map(|s| s.as_str()).collect();
    let at = Ts(now());
    let rows: Vec<TaskRow> = per_backend!(&mut conn, |c| {
        let mut query = tasks::table
            .filter(tasks::workspace_id.eq(Id(ws.0)))
            .select(TASK_COLUMNS.as_select())
            .limit(i64::from(limit) + 1)
            .into_boxed();
        query = if filter.deleted {
            query.filter(tasks::deleted_at.is_not_null())
        } else {
            query.filter(tasks::deleted_at.is_null())
        };
        if let Some(id) = filter.assignee_id {
            query = query.filter(tasks::assignee_id.eq(Id(id.0)));
        }
        if !statuses.is_empty() {
            query = query.filter(tasks::status.eq_any(statuses.clone()));
        }
        if !priorities.is_empty() {
            query = query.filter(tasks::priority.eq_any(priorities.clone()));
        }
        // The sentinel of undated tasks is never in the past, so `due_sort < now` is `due_at < now`.
        match filter.overdue {
            Some(true) => {
                query = query.filter(tasks::due_sort.lt(at)).filter(tasks::status.eq_any(active.clone()));
            }
            Some(false) => {
                query = query.filter(tasks::due_sort.ge(at).or(tasks::status.ne_all(active.clone())));
            }
            None => {}
        }
        if let Some(t) = filter.due_after {
            query = query.filter(tasks::due_at.ge(Ts(t)));
        }
        if let Some(t) = filter.due_before {
            query = query.filter(tasks::due_at.lt(Ts(t)));
        }
        if let Some(id) = filter.customer_id {
            query = query.filter(tasks::customer_id.eq(Id(id.0)));
        }
        if let Some(id) = filter.deal_id {
            query = query.filter(tasks::deal_id.eq(Id(id.0)));
        }
        if let Some(id) = filter.lead_id {
            query = query.filter(tasks::lead_id.eq(Id(id.0)));
        }
        if let Some(q) = &filter.q {
            query = query.filter(tasks::search_text.like(like_pattern(q)).escape('\\'));
        }
        query = match (sort.field, sort.descending) {
            (TaskSortField::DueAt, false) => keyset!(query, after, tasks::due_sort, tasks::id, ge, gt, asc),
            (TaskSortField::DueAt, true) => keyset!(query, after, tasks::due_sort, tasks::id, le, lt, desc),
            (TaskSortField::CreatedAt, false) => keyset!(query, after, tasks::created_at, tasks::id, ge, gt, asc),
            (TaskSortField::CreatedAt, true) => keyset!(query, after, tasks::created_at, tasks::id, le, lt, desc),
            (TaskSortField::UpdatedAt, false) => keyset!(query, after, tasks::updated_at, tasks::id, ge, gt, asc),
            (TaskSortField::UpdatedAt, true) => keyset!(query, after, tasks::updated_at, tasks::id, le, lt, desc),
        };
        query.load(c).await
    })?;
    rows.into_iter().map(Task::try_from).collect()
}

/// Applies `change` to the current task and stores the result (with the completion rules),
/// guarded by its version. With `if_match`, a stale version is a `VersionMismatch`; without,
/// a concurrent write between our read and our update is retried on the fresh row.
pub async fn update(
    store: &Store,
    ctx: &Context,
    id: TaskId,
    if_match: Option<i64>,
    change: impl Fn(&Task) -> Result<TaskInput, ValidationErrors>,
) -> Result<Task, StoreError> {
    apply(store, ctx, id, if_match, (AuditAction::Update, None), |current| change(current).map_err(StoreError::Invalid))
        .await
}

/// Hands an open or in-progress task to another user; recorded in the history as a
/// `reassign` with the note as its reason. A closed task is 409 `task_closed`; the current
/// assignee is 422 `assignee_id`/`unchanged`.
pub async fn delegate(
    store: &Store,
    ctx: &Context,
    id: TaskId,
    if_match: Option<i64>,
    to: UserId,
    note: Option<String>,
) -> Result<Task, StoreError> {
    apply(store, ctx, id, if_match, (AuditAction::Reassign, note), |current| {
        match check_delegation(&current.data, to) {
            Ok(()) => Ok(TaskInput { assignee_id: Some(to), ..current.data.clone() }),
            Err(DelegationRefused::Closed) => {
                Err(StoreError::conflict("task_closed", "the task is done or cancelled; reopen it to delegate it"))
            }
            Err(DelegationRefused::SameAssignee) => {
                Err(StoreError::invalid("assignee_id", "unchanged", "the task is already assigned to this user"))
            }
        }
    })
    .await
}

async fn apply(
    store: &Store,
    ctx: &Context,
    id: TaskId,
    if_match: Option<i64>,
    (action, reason): (AuditAction, Option<String>),
    change: impl Fn(&Task) -> Result<TaskInput, StoreError>,
) -> Result<Task, StoreError> {
    let mut conn = store.write().await?;
    for _ in 0..3 {
        let current = fetch(&mut conn, ctx.workspace_id, id, false).await?;
        if if_match.is_some_and(|v| v != current.version) {
            return Err(StoreError::VersionMismatch { current: current.version });
        }
        let at = now();
        let (next, completed_at) = settle(change(&current)?, Some((current.data.status, current.completed_at)), at);
        check_references(&mut conn, ctx.workspace_id, &next, Some(&current.data)).await?;
        let before = serde_json::to_value(&current.data).unwrap_or_default();
        let changes = diff(&before, &serde_json::to_value(&next).unwrap_or_default());
        if changes.is_empty() {
            return Ok(current);
        }
        let data = TaskData::new(&next, completed_at);
        let audit = NewAuditRow::new(ctx, ENTITY, id.0, action, &changes, at).with_reason(reason.clone());
        let row: Option<TaskRow> = write_tx!(&mut conn, |c| {
            let row = Cached(
                diesel::update(
                    tasks::table
                        .filter(tasks::workspace_id.eq(Id(ctx.workspace_id.0)))
                        .filter(tasks::id.eq(Id(id.0)))
                        .filter(tasks::version.eq(current.version))
                        .filter(tasks::deleted_at.is_null()),
                )
                .set((&data, tasks::version.eq(current.version + 1), tasks::updated_at.eq(Ts(at))))
                .returning(TaskRow::as_returning()),
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
            Some(row) => return row.try_into(),
            None if if_match.is_some() => {
                let current = fetch(&mut conn, ctx.workspace_id, id, false).await?;
                return Err(StoreError::VersionMismatch { current: current.version });
            }
            None => continue,
        }
    }
    Err(StoreError::conflict("edit_conflict", "the task kept changing; retry the request"))
}

/// Soft-deletes (`deleted = true`) or restores (`deleted = false`) a task.
pub async fn set_deleted(
    store: &Store,
    ctx: &Context,
    id: TaskId,
    if_match: Option<i64>,
    deleted: bool,
) -> Result<Task, StoreError> {
    let mut conn = store.write().await?;
    let current = fetch(&mut conn, ctx.workspace_id, id, true).await?;
    if !soft_delete::needed(current.deleted_at.is_some(), current.version, if_match, deleted)? {
        return Ok(current);
    }
    let written = soft_delete::set_deleted_at!(
        &mut conn,
        ctx,
        ENTITY,
        tasks,
        TaskRow,
        id.0,
        (current.version, current.deleted_at),
        deleted
    );
    match written? {
        Some(row) => row.try_into(),
        None => Err(StoreError::VersionMismatch { current: current.version + 1 }),
    }
}

/// The cursor that resumes a list after `task`.
pub fn cursor_after(sort: TaskSort, task: &Task) -> Cursor {
    Cursor { sort: sort.as_str().to_owned(), at: Some(sort.key_of(task)), id: task.id.0 }
}

/// Whether a task exists in the workspace (deleted or not): history stays readable.
pub async fn exists(store: &Store, ws: WorkspaceId, id: TaskId) -> Result<bool, StoreError> {
    let mut conn = store.read().await?;
    let n: i64 = per_backend!(&mut conn, |c| tasks::table
        .filter(tasks::workspace_id.eq(Id(ws.0)))
        .filter(tasks::id.eq(Id(id.0)))
        .count()
        .get_result(c)
        .await)?;
    Ok(n > 0)
}
