//! Tasks: to-dos with an assignee, a due date and a status, linked to a customer, deal or lead;
//! the rules of completion, overdue and delegation live here as pure functions.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::customer::str_enum;
use crate::interaction::earliest;
use crate::owner::REASON_MAX;
use crate::{CustomerId, DealId, LeadId, TaskId, UserId, ValidationErrors};

pub const TITLE_MAX: usize = 300;
pub const DESCRIPTION_MAX: usize = 20_000;

/// Where a task stands. `done` and `cancelled` are closed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    #[default]
    Open,
    InProgress,
    Done,
    Cancelled,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

str_enum!(TaskStatus { Open => "open", InProgress => "in_progress", Done => "done", Cancelled => "cancelled" });
str_enum!(Priority { Low => "low", Normal => "normal", High => "high", Urgent => "urgent" });

impl TaskStatus {
    /// Open and in-progress tasks are still to be done; they can be overdue and delegated.
    pub fn is_active(self) -> bool {
        matches!(self, TaskStatus::Open | TaskStatus::InProgress)
    }

    pub const ACTIVE: [TaskStatus; 2] = [TaskStatus::Open, TaskStatus::InProgress];
}

/// The writable fields of a task: the body of `POST /v1/tasks`, and the document a `PATCH`
/// merge patch is applied to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "Send the renewal offer",
    "description": "Prices from the November list, 5 % loyalty discount.",
    "due_at": "2026-12-01T09:00:00Z",
    "assignee_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1b",
    "priority": "high",
    "customer_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1c"
}))]
pub struct TaskInput {
    #[schema(min_length = 1, max_length = 300)]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub description: Option<String>,
    /// Between 1900 and 2999.
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    /// A user of the workspace; defaults to the signed-in user on create.
    #[serde(default)]
    pub assignee_id: Option<UserId>,
    /// Setting `done` sets `progress` to 100 and stamps `completed_at`.
    #[serde(default)]
    pub status: TaskStatus,
    #[serde(default)]
    pub priority: Priority,
    /// Percent done, 0 to 100.
    #[serde(default)]
    #[schema(maximum = 100)]
    pub progress: u32,
    #[serde(default)]
    pub customer_id: Option<CustomerId>,
    #[serde(default)]
    pub deal_id: Option<DealId>,
    #[serde(default)]
    pub lead_id: Option<LeadId>,
}

/// A task as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Task {
    pub id: TaskId,
    #[serde(flatten)]
    pub data: TaskInput,
    pub completed_at: Option<DateTime<Utc>>,
    pub overdue: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl utoipa::PartialSchema for Task {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let overdue = ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .description(Some("Derived when read: due in the past and still open or in progress."))
            .into();
        crate::record_schema::record_schema(
            TaskInput::schema(),
            TaskId::schema(),
            vec![
                ("completed_at", crate::record_schema::timestamp(true, "When the task was last marked done.")),
                ("overdue", overdue),
            ],
            "task",
            "A task: something someone has to do, by a date.",
        )
    }
}

impl ToSchema for Task {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        TaskInput::schemas(schemas);
        schemas.push((TaskInput::name().into_owned(), <TaskInput as utoipa::PartialSchema>::schema()));
        // Path parameters refer to the id type by name.
        schemas.push((TaskId::name().into_owned(), <TaskId as utoipa::PartialSchema>::schema()));
    }
}

/// What a task without a due date sorts as: after every real date (`due_at` ascending lists
/// them last). Stored in the non-null `due_sort` column so one keyset serves both.
pub fn no_due_date() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).single().unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn latest_due() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(3000, 1, 1, 0, 0, 0).single().unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Whether a task is overdue at `now`: due in the past and still open or in progress.
pub fn is_overdue(status: TaskStatus, due_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    status.is_active() && due_at.is_some_and(|due| due < now)
}

/// Applies the completion rules to the next state of a task, given the previous one (`None`
/// on create): `done` forces progress 100 and keeps or stamps `completed_at`; any other
/// status clears it. Returns the task data and its `completed_at`.
pub fn settle(
    mut next: TaskInput,
    previous: Option<(TaskStatus, Option<DateTime<Utc>>)>,
    now: DateTime<Utc>,
) -> (TaskInput, Option<DateTime<Utc>>) {
    if next.status != TaskStatus::Done {
        return (next, None);
    }
    next.progress = 100;
    let completed_at = match previous {
        Some((TaskStatus::Done, Some(at))) => at,
        _ => now,
    };
    (next, Some(completed_at))
}

impl Task {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: TaskId,
        data: TaskInput,
        completed_at: Option<DateTime<Utc>>,
        version: i64,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
        deleted_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Task {
        let overdue = is_overdue(data.status, data.due_at, now);
        Task { id, data, completed_at, overdue, version, created_at, updated_at, deleted_at }
    }
}

impl TaskInput {
    /// Fills `assignee_id` with the signed-in user when the client left it out (creates only).
    pub fn with_default_assignee(mut self, actor: crate::access::Actor) -> TaskInput {
        self.assignee_id = self.assignee_id.or(crate::interaction::acting_user(actor));
        self
    }

    /// Lower-cased text that `q=` searches: the title.
    pub fn search_text(&self) -> String {
        self.title.to_lowercase()
    }

    /// Checks every field and returns the normalised task, or every problem found.
    pub fn validate(self) -> Result<TaskInput, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let title = e.text("title", Some(self.title), TITLE_MAX);
        if title.is_none() && e.is_empty() {
            e.add("title", "required", "a task needs a title");
        }
        let description = e.text("description", self.description, DESCRIPTION_MAX);
        if self.due_at.is_some_and(|due| due < earliest() || due >= latest_due()) {
            e.add("due_at", "out_of_range", "must be between 1900 and 2999");
        }
        if self.progress > 100 {
            e.add("progress", "out_of_range", "must be between 0 and 100");
        }
        e.into_result(TaskInput { title: title.unwrap_or_default(), description, ..self })
    }
}

/// The body of `POST /v1/tasks/{id}/delegate`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"assignee_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1b", "note": "You know this customer best"}))]
pub struct Delegate {
    /// The new assignee: an active user of the workspace other than the current one.
    pub assignee_id: UserId,
    /// Why, or what the new assignee should know; kept in the task's history.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub note: Option<String>,
}

impl Delegate {
    pub fn validate(self) -> Result<Delegate, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let note = e.text("note", self.note, REASON_MAX);
        e.into_result(Delegate { assignee_id: self.assignee_id, note })
    }
}

/// Why a task cannot be delegated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelegationRefused {
    /// Done or cancelled: reopen it first.
    Closed,
    /// It is already assigned to that user.
    SameAssignee,
}

/// Whether `task` may be handed to `to`.
pub fn check_delegation(task: &TaskInput, to: UserId) -> Result<(), DelegationRefused> {
    if !task.status.is_active() {
        return Err(DelegationRefused::Closed);
    }
    if task.assignee_id == Some(to) {
        return Err(DelegationRefused::SameAssignee);
    }
    Ok(())
}

/// The filters `GET /v1/tasks` accepts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskFilter {
    pub assignee_id: Option<UserId>,
    /// Any of these statuses (empty: all).
    pub statuses: Vec<TaskStatus>,
    /// Any of these priorities (empty: all).
    pub priorities: Vec<Priority>,
    /// `true`: only overdue tasks; `false`: only tasks that are not overdue.
    pub overdue: Option<bool>,
    /// `due_at >= due_after`.
    pub due_after: Option<DateTime<Utc>>,
    /// `due_at < due_before`.
    pub due_before: Option<DateTime<Utc>>,
    pub customer_id: Option<CustomerId>,
    pub deal_id: Option<DealId>,
    pub lead_id: Option<LeadId>,
    /// Case-insensitive substring of the title.
    pub q: Option<String>,
    pub deleted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskSortField {
    /// Tasks without a due date come after every dated one.
    DueAt,
    CreatedAt,
    UpdatedAt,
}

/// A list order of tasks, ties broken by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskSort {
    pub field: TaskSortField,
    pub descending: bool,
}

impl Default for TaskSort {
    fn default() -> Self {
        TaskSort { field: TaskSortField::DueAt, descending: false }
    }
}

impl TaskSort {
    pub const ACCEPTED: [&str; 6] = ["due_at", "-due_at", "created_at", "-created_at", "updated_at", "-updated_at"];

    pub fn parse(s: &str) -> Option<TaskSort> {
        let (descending, name) = s.strip_prefix('-').map_or((false, s), |name| (true, name));
        let field = match name {
            "due_at" => TaskSortField::DueAt,
            "created_at" => TaskSortField::CreatedAt,
            "updated_at" => TaskSortField::UpdatedAt,
            _ => return None,
        };
        Some(TaskSort { field, descending })
    }

    pub fn as_str(self) -> &'static str {
        let index = match self.field {
            TaskSortField::DueAt => 0,
            TaskSortField::CreatedAt => 2,
            TaskSortField::UpdatedAt => 4,
        } + usize::from(self.descending);
        Self::ACCEPTED[index]
    }

    pub fn key_of(self, task: &Task) -> DateTime<Utc> {
        match self.field {
            TaskSortField::DueAt => task.data.due_at.unwrap_or_else(no_due_date),
            TaskSortField::CreatedAt => task.created_at,
            TaskSortField::UpdatedAt => task.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::patch::decode;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, 0, 0).single().unwrap_or_default()
    }

    fn input(value: Value) -> TaskInput {
        decode(value).unwrap_or_else(|e| panic!("decodes: {e}"))
    }

    fn codes(value: Value) -> Vec<(String, String)> {
        match input(value).validate() {
            Ok(t) => panic!("expected errors, got {t:?}"),
            Err(e) => e.0.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    }

    #[test]
    fn defaults_and_trimming() {
        let task = input(json!({"title": "  Call back "})).validate().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(task.title, "Call back");
        assert_eq!((task.status, task.priority, task.progress), (TaskStatus::Open, Priority::Normal, 0));
        assert_eq!(task.search_text(), "call back");
    }

    #[test]
    fn bad_values_are_all_reported() {
        let codes = codes(json!({"title": " ", "description": "a\u{0}b", "progress": 101,
                                 "due_at": "3000-01-01T00:00:00Z"}));
        assert_eq!(
            codes,
            [
                ("title".into(), "required".into()),
                ("description".into(), "invalid_characters".into()),
                ("due_at".into(), "out_of_range".into()),
                ("progress".into(), "out_of_range".into())
            ]
        );
        let long = codes_of_title("x".repeat(TITLE_MAX + 1));
        assert_eq!(long, [("title".into(), "too_long".into())]);
        let bad_status = decode::<TaskInput>(json!({"title": "x", "status": "paused"}));
        assert_eq!(bad_status.err().map(|e| e.0[0].code.clone()).as_deref(), Some("invalid_value"));
    }

    fn codes_of_title(title: String) -> Vec<(String, String)> {
        codes(json!({ "title": title }))
    }

    #[test]
    fn done_means_complete_and_leaving_done_clears_the_stamp() {
        let mut task = input(json!({"title": "x", "progress": 40}));
        task.status = TaskStatus::Done;
        let (done, completed_at) = settle(task.clone(), None, at(10));
        assert_eq!((done.progress, completed_at), (100, Some(at(10))));
        // Saving a done task again keeps the original stamp.
        let (_, again) = settle(done.clone(), Some((TaskStatus::Done, Some(at(10)))), at(12));
        assert_eq!(again, Some(at(10)));
        // Reopening clears it; progress stays what the client says.
        let reopened = TaskInput { status: TaskStatus::InProgress, progress: 80, ..done };
        let (reopened, cleared) = settle(reopened, Some((TaskStatus::Done, Some(at(10)))), at(12));
        assert_eq!((reopened.progress, cleared), (80, None));
        // Done after cancelled is stamped now.
        let redone = TaskInput { status: TaskStatus::Done, ..reopened };
        assert_eq!(settle(redone, Some((TaskStatus::Cancelled, None)), at(13)).1, Some(at(13)));
    }

    #[test]
    fn overdue_needs_a_past_due_date_and_an_active_status() {
        assert!(is_overdue(TaskStatus::Open, Some(at(9)), at(10)));
        assert!(is_overdue(TaskStatus::InProgress, Some(at(9)), at(10)));
        assert!(!is_overdue(TaskStatus::Open, Some(at(10)), at(10)), "due now is not yet overdue");
        assert!(!is_overdue(TaskStatus::Open, None, at(10)));
        assert!(!is_overdue(TaskStatus::Done, Some(at(9)), at(10)));
        assert!(!is_overdue(TaskStatus::Cancelled, Some(at(9)), at(10)));
    }

    #[test]
    fn delegation_rules() {
        let me = UserId(uuid::Uuid::nil());
        let you = UserId(uuid::Uuid::max());
        let mut task = input(json!({"title": "x"}));
        task.assignee_id = Some(me);
        assert_eq!(check_delegation(&task, you), Ok(()));
        assert_eq!(check_delegation(&task, me), Err(DelegationRefused::SameAssignee));
        task.status = TaskStatus::Done;
        assert_eq!(check_delegation(&task, you), Err(DelegationRefused::Closed));
        let note = Delegate { assignee_id: you, note: Some("  ".into()) }.validate().map(|d| d.note);
        assert_eq!(note, Ok(None));
        let nul = Delegate { assignee_id: you, note: Some("a\0".into()) }.validate();
        assert_eq!(nul.err().map(|e| e.0[0].code.clone()).as_deref(), Some("invalid_characters"));
    }

    #[test]
    fn sorts_round_trip_and_undated_tasks_sort_last() {
        for s in TaskSort::ACCEPTED {
            assert_eq!(TaskSort::parse(s).map(TaskSort::as_str), Some(s));
        }
        assert_eq!(TaskSort::default().as_str(), "due_at");
        assert_eq!(TaskSort::parse("priority"), None);
        assert!(no_due_date() > latest_due());
    }
}
