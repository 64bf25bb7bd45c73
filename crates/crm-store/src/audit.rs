//! The audit log: written inside each write transaction, read as a record's history.

use chrono::{DateTime, Utc};
use crm_domain::access::Actor;
use crm_domain::audit::{AuditAction, AuditEvent, Change};
use crm_domain::{ApiKeyId, AuditEventId, UserId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::query::RenderedSelection;
use crate::schema::audit_events;
use crate::types::{Id, Json, Ts};
use crate::{Context, Store, StoreError, per_backend};

/// The `actor_type`/`actor_id` columns of an actor.
pub(crate) fn actor_columns(actor: Actor) -> (&'static str, Option<Id>) {
    match actor {
        Actor::User(id) => ("user", Some(Id(id.0))),
        Actor::ApiKey(id) => ("api_key", Some(Id(id.0))),
        Actor::System => ("system", None),
    }
}

/// The actor that `actor_columns` stored.
pub(crate) fn actor_of(actor_type: &str, actor_id: Option<Id>) -> Actor {
    match (actor_type, actor_id) {
        ("user", Some(id)) => Actor::User(UserId(id.0)),
        ("api_key", Some(id)) => Actor::ApiKey(ApiKeyId(id.0)),
        _ => Actor::System,
    }
}

#[derive(Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
pub(crate) struct NewAuditRow {
    id: Id,
    workspace_id: Id,
    entity_type: &'static str,
    entity_id: Id,
    action: &'static str,
    actor_type: &'static str,
    actor_id: Option<Id>,
    changes: Json,
    request_id: Option<String>,
    created_at: Ts,
    reason: Option<String>,
    idempotency_key: Option<String>,
}

impl NewAuditRow {
    pub(crate) fn new(
        ctx: &Context,
        entity_type: &'static str,
        entity_id: Uuid,
        action: AuditAction,
        changes: &[Change],
        at: DateTime<Utc>,
    ) -> Self {
        let (actor_type, actor_id) = actor_columns(ctx.actor);
        NewAuditRow {
            id: Id(Uuid::now_v7()),
            workspace_id: Id(ctx.workspace_id.0),
            entity_type,
            entity_id: Id(entity_id),
            action: action.as_str(),
            actor_type,
            actor_id,
            changes: Json::of(&changes),
            request_id: ctx.request_id.clone(),
            created_at: Ts(at),
            reason: None,
            idempotency_key: ctx.idempotency_key.clone(),
        }
    }

    /// When the change happened: the time the record's own `updated_at` takes.
    pub(crate) fn at(&self) -> chrono::DateTime<chrono::Utc> {
        self.created_at.0
    }

    /// Records why the change was made.
    pub(crate) fn with_reason(mut self, reason: Option<String>) -> Self {
        self.reason = reason;
        self
    }
}

pub(crate) static AUDIT_COLUMNS: RenderedSelection<AuditRow> = RenderedSelection::new();

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub(crate) struct AuditRow {
    id: Id,
    entity_type: String,
    entity_id: Id,
    action: String,
    actor_type: String,
    actor_id: Option<Id>,
    changes: Json,
    request_id: Option<String>,
    created_at: Ts,
    reason: Option<String>,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = StoreError;
    fn try_from(row: AuditRow) -> Result<Self, StoreError> {
        let actor = actor_of(&row.actor_type, row.actor_id);
        Ok(AuditEvent {
            id: AuditEventId(row.id.0),
            action: AuditAction::parse(&row.action)
                .ok_or_else(|| StoreError::Corrupt(format!("audit action {}", row.action)))?,
            entity_type: row.entity_type,
            entity_id: row.entity_id.0,
            actor,
            changes: row.changes.decode()?,
            request_id: row.request_id,
            reason: row.reason,
            occurred_at: row.created_at.0,
        })
    }
}

/// The events of one record, newest first; `before` is the id the previous page ended on.
pub async fn history(
    store: &Store,
    ctx_workspace: crm_domain::WorkspaceId,
    entity_type: &str,
    entity_id: Uuid,
    before: Option<Uuid>,
    limit: u32,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut conn = store.read().await?;
    let rows: Vec<AuditRow> = per_backend!(&mut conn, |c| {
        let mut query = audit_events::table
            .filter(audit_events::workspace_id.eq(Id(ctx_workspace.0)))
            .filter(audit_events::entity_type.eq(entity_type))
            .filter(audit_events::entity_id.eq(Id(entity_id)))
            .order(audit_events::id.desc())
            .limit(i64::from(limit) + 1)
            .select(AUDIT_COLUMNS.as_select())
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(audit_events::id.lt(Id(before)));
        }
        query.load(c).await
    })?;
    rows.into_iter().map(AuditEvent::try_from).collect()
}
