//! Tasks: create, read, merge-patch (completion rules in the domain), delegate, soft delete
//! and restore, lists by assignee (`me`), status, priority, due window and overdue, history.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use crm_domain::access::Scope;
use crm_domain::audit::AuditEvent;
use crm_domain::interaction::acting_user;
use crm_domain::page::{Cursor, Page, paginate};
use crm_domain::patch::merge;
use crm_domain::task::{Delegate, Priority, Task, TaskFilter, TaskInput, TaskSort, TaskStatus};
use crm_domain::{CustomerId, DealId, LeadId, TaskId, UserId};
use crm_store::{audit, tasks};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::interactions::{comma_list, search_query};
use super::users::PageParams;
use super::{created, decode_cursor, page_limit, versioned};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{IfMatch, JsonBody, QueryParams};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_task)
        .service(list_tasks)
        .service(get_task)
        .service(update_task)
        .service(delete_task)
        .service(restore_task)
        .service(delegate_task)
        .service(task_history);
}

crate::merge_patch_schema!(TaskPatch, TaskInput);

fn location(task: &Task) -> String {
    format!("/v1/tasks/{}", task.id)
}

/// Create a task. `assignee_id` defaults to the signed-in user (unassigned for API keys).
///
/// Creating it `done` sets `progress` to 100 and stamps `completed_at`.
#[utoipa::path(
    tag = "tasks",
    request_body = TaskInput,
    responses((status = 201, body = Task, headers(("Location" = String), ("ETag" = String))))
)]
#[post("/tasks")]
pub async fn create_task(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<TaskInput>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::TasksWrite)?;
    let input = body.0.with_default_assignee(caller.actor).validate()?;
    let task = tasks::create(&state.store, &caller.context(), input).await?;
    Ok(created(location(&task), task.version, &task))
}

/// Filters, order and paging of the task list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1 to 200; default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page (with the same `sort`).
    cursor: Option<String>,
    #[param(schema_with = sort_schema)]
    sort: Option<String>,
    /// A user id, or `me` for the signed-in user (not available to API keys).
    #[param(example = "me")]
    assignee_id: Option<String>,
    /// One status or a comma-separated list, e.g. `open,in_progress`.
    status: Option<String>,
    /// One priority or a comma-separated list, e.g. `high,urgent`.
    priority: Option<String>,
    /// `true`: due in the past and still open or in progress; `false`: all others.
    overdue: Option<bool>,
    /// Tasks due at or after this instant.
    #[serde(default, deserialize_with = "crate::extract::instant")]
    due_after: Option<DateTime<Utc>>,
    /// Tasks due before this instant.
    #[serde(default, deserialize_with = "crate::extract::instant")]
    due_before: Option<DateTime<Utc>>,
    customer_id: Option<CustomerId>,
    deal_id: Option<DealId>,
    lead_id: Option<LeadId>,
    /// Case-insensitive search in the title.
    q: Option<String>,
    /// `true` lists deleted (restorable) tasks instead.
    deleted: Option<bool>,
}

fn sort_schema() -> utoipa::openapi::Object {
    crate::openapi::sort_schema(
        &TaskSort::ACCEPTED,
        "Default `due_at`, tasks without a due date last (`-due_at`: those first).",
    )
}

impl ListParams {
    fn filter(&self, caller: &Caller) -> ApiResult<TaskFilter> {
        let assignee_id = match self.assignee_id.as_deref().map(str::trim) {
            None => None,
            Some("me") => Some(acting_user(caller.actor).ok_or_else(|| {
                ApiError::parameter("assignee_id", "`me` needs a signed-in user; an API key must name the user")
            })?),
            Some(raw) => Some(
                raw.parse::<UserId>().map_err(|_| ApiError::parameter("assignee_id", "must be a user id or `me`"))?,
            ),
        };
        Ok(TaskFilter {
            assignee_id,
            statuses: comma_list("status", self.status.as_deref(), TaskStatus::parse)?,
            priorities: comma_list("priority", self.priority.as_deref(), Priority::parse)?,
            overdue: self.overdue,
            due_after: self.due_after,
            due_before: self.due_before,
            customer_id: self.customer_id,
            deal_id: self.deal_id,
            lead_id: self.lead_id,
            q: search_query(self.q.as_deref())?,
            deleted: self.deleted.unwrap_or(false),
        })
    }
}

/// List tasks: e.g. `?assignee_id=me&overdue=true` for what the caller should have done already.
#[utoipa::path(tag = "tasks", params(ListParams), responses((status = 200, body = Page<Task>)))]
#[get("/tasks")]
pub async fn list_tasks(
    state: web::Data<AppState>,
    caller: Caller,
    query: QueryParams<ListParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::TasksRead)?;
    let params = query.0;
    let limit = page_limit(params.limit)?;
    let sort = match params.sort.as_deref() {
        None => TaskSort::default(),
        Some(s) => TaskSort::parse(s)
            .ok_or_else(|| ApiError::parameter("sort", format!("must be one of {}", TaskSort::ACCEPTED.join(", "))))?,
    };
    let after = decode_cursor(params.cursor.as_deref(), sort.as_str())?;
    let filter = params.filter(&caller)?;
    let rows = tasks::list(&state.store, caller.workspace_id, &filter, sort, after.as_ref(), limit).await?;
    Ok(HttpResponse::Ok().json(paginate(rows, limit, |t| tasks::cursor_after(sort, t))))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GetParams {
    /// `true` returns the task even when it is deleted.
    include_deleted: Option<bool>,
}

/// One task.
#[utoipa::path(
    tag = "tasks",
    params(("id" = TaskId, Path), GetParams),
    responses((status = 200, body = Task, headers(("ETag" = String))))
)]
#[get("/tasks/{id}")]
pub async fn get_task(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<TaskId>,
    query: QueryParams<GetParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::TasksRead)?;
    let include_deleted = query.0.include_deleted.unwrap_or(false);
    let task = tasks::get(&state.store, caller.workspace_id, id.into_inner(), include_deleted).await?;
    Ok(versioned(task.version, &task))
}

/// Update a task with a JSON Merge Patch (RFC 7396): absent fields stay, `null` clears.
///
/// `{"status": "done"}` completes it (progress 100, `completed_at` stamped); any other status
/// clears `completed_at`. Send `If-Match` with the ETag you read.
#[utoipa::path(
    tag = "tasks",
    params(("id" = TaskId, Path)),
    request_body(content = TaskPatch, content_type = "application/merge-patch+json"),
    responses((status = 200, body = Task, headers(("ETag" = String))), (status = 409, description = "edit_conflict"), (status = 412, description = "version_mismatch"))
)]
#[patch("/tasks/{id}")]
pub async fn update_task(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<TaskId>,
    if_match: IfMatch,
    body: JsonBody<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::TasksWrite)?;
    let patch = body.0;
    let task = tasks::update(&state.store, &caller.context(), id.into_inner(), if_match.0, |current| {
        merge(&current.data, patch.clone())?.validate()
    })
    .await?;
    Ok(versioned(task.version, &task))
}

/// Delegate a task to another user; the note is kept in its history (action `reassign`).
///
/// Answers 409 `task_closed` for a done or cancelled task, and 422 when the user is the
/// current assignee (`unchanged`) or not an active user of the workspace (`not_found`).
#[utoipa::path(
    tag = "tasks",
    params(("id" = TaskId, Path)),
    request_body = Delegate,
    responses((status = 200, body = Task, headers(("ETag" = String))), (status = 412, description = "version_mismatch"))
)]
#[post("/tasks/{id}/delegate")]
pub async fn delegate_task(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<TaskId>,
    if_match: IfMatch,
    body: JsonBody<Delegate>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::TasksWrite)?;
    let Delegate { assignee_id, note } = body.0.validate()?;
    let task = tasks::delegate(&state.store, &caller.context(), id.into_inner(), if_match.0, assignee_id, note).await?;
    Ok(versioned(task.version, &task))
}

/// Delete a task (soft: restorable with `POST /v1/tasks/{id}/restore`).
#[utoipa::path(
    tag = "tasks",
    params(("id" = TaskId, Path)),
    responses((status = 204, description = "Deleted"), (status = 412, description = "version_mismatch"))
)]
#[delete("/tasks/{id}")]
pub async fn delete_task(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<TaskId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::TasksWrite)?;
    tasks::set_deleted(&state.store, &caller.context(), id.into_inner(), if_match.0, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a deleted task. Restoring a live one changes nothing.
#[utoipa::path(
    tag = "tasks",
    params(("id" = TaskId, Path)),
    responses((status = 200, body = Task, headers(("ETag" = String))), (status = 412, description = "version_mismatch"))
)]
#[post("/tasks/{id}/restore")]
pub async fn restore_task(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<TaskId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::TasksWrite)?;
    let task = tasks::set_deleted(&state.store, &caller.context(), id.into_inner(), if_match.0, false).await?;
    Ok(versioned(task.version, &task))
}

/// The audit history of a task, newest first, delegations included.
#[utoipa::path(
    tag = "tasks",
    params(("id" = TaskId, Path), PageParams),
    responses((status = 200, body = Page<AuditEvent>))
)]
#[get("/tasks/{id}/history")]
pub async fn task_history(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<TaskId>,
    query: QueryParams<PageParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::TasksRead)?;
    let id = id.into_inner();
    let limit = page_limit(query.0.limit)?;
    let after = decode_cursor(query.0.cursor.as_deref(), super::BY_ID)?;
    if !tasks::exists(&state.store, caller.workspace_id, id).await? {
        return Err(ApiError::not_found());
    }
    let events =
        audit::history(&state.store, caller.workspace_id, "task", id.0, after.map(|c: Cursor| c.id), limit).await?;
    Ok(HttpResponse::Ok().json(paginate(events, limit, |e| super::id_cursor(e.id.0))))
}
