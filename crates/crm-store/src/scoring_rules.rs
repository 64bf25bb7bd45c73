//! Lead scoring rules: configuration rows, hard-deleted (the audit log keeps what they were).
//! Every rule change rescores the workspace's live leads before it returns.

use crm_domain::audit::{AuditAction, diff};
use crm_domain::scoring::{MAX_RULES, Operator, ScoringRule, ScoringRuleInput};
use crm_domain::{ScoringRuleId, ValidationErrors, WorkspaceId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::audit::NewAuditRow;
use crate::query::Cached;
use crate::schema::{audit_events, scoring_rules};
use crate::types::{Id, Json, Ts, now};
use crate::{Conn, Context, Store, StoreError, per_backend, write_tx};

const ENTITY: &str = "scoring_rule";

#[derive(Queryable, Selectable)]
#[diesel(table_name = scoring_rules)]
pub(crate) struct RuleRow {
    id: Id,
    field: String,
    operator: String,
    value: Option<Json>,
    points: i32,
    description: Option<String>,
    version: i64,
    created_at: Ts,
    updated_at: Ts,
}

impl TryFrom<RuleRow> for ScoringRule {
    type Error = StoreError;
    fn try_from(r: RuleRow) -> Result<Self, StoreError> {
        Ok(ScoringRule {
            id: ScoringRuleId(r.id.0),
            operator: Operator::parse(&r.operator)
                .ok_or_else(|| StoreError::Corrupt(format!("scoring rule operator {:?}", r.operator)))?,
            field: r.field,
            value: r.value.map(|v| v.0),
            points: r.points,
            description: r.description,
            version: r.version,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        })
    }
}

/// Converts loaded rows, failing on the first corrupt one.
pub(crate) fn to_rules(rows: Vec<RuleRow>) -> Result<Vec<ScoringRule>, StoreError> {
    rows.into_iter().map(ScoringRule::try_from).collect()
}

/// The rules of a workspace in creation order, read on the connection `$c` of the enclosing
/// `write_tx!` body (so the score and the rules come from one transaction).
macro_rules! rules_of {
    ($c:ident, $ws:expr) => {{
        let rows: Vec<$crate::scoring_rules::RuleRow> = $crate::schema::scoring_rules::table
            .filter($crate::schema::scoring_rules::workspace_id.eq($crate::types::Id($ws.0)))
            .order($crate::schema::scoring_rules::id.asc())
            .select($crate::scoring_rules::RuleRow::as_select())
            .load($c)
            .await?;
        $crate::scoring_rules::to_rules(rows)?
    }};
}
pub(crate) use rules_of;

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = scoring_rules, treat_none_as_null = true, treat_none_as_default_value = false)]
struct RuleData {
    field: String,
    operator: &'static str,
    value: Option<Json>,
    points: i32,
    description: Option<String>,
}

impl From<&ScoringRuleInput> for RuleData {
    fn from(r: &ScoringRuleInput) -> Self {
        RuleData {
            field: r.field.clone(),
            operator: r.operator.as_str(),
            value: r.value.clone().map(Json),
            points: r.points,
            description: r.description.clone(),
        }
    }
}

async fn fetch(conn: &mut Conn, ws: WorkspaceId, id: ScoringRuleId) -> Result<ScoringRule, StoreError> {
    let row: RuleRow = per_backend!(conn, |c| scoring_rules::table
        .filter(scoring_rules::workspace_id.eq(Id(ws.0)))
        .filter(scoring_rules::id.eq(Id(id.0)))
        .select(RuleRow::as_select())
        .get_result(c)
        .await)?;
    row.try_into()
}

pub async fn get(store: &Store, ws: WorkspaceId, id: ScoringRuleId) -> Result<ScoringRule, StoreError> {
    let mut conn = store.read().await?;
    fetch(&mut conn, ws, id).await
}

/// A page of rules in creation order (`limit + 1` rows); `after` is the last id of the previous page.
pub async fn list(
    store: &Store,
    ws: WorkspaceId,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<ScoringRule>, StoreError> {
    let mut conn = store.read().await?;
    let rows: Vec<RuleRow> = per_backend!(&mut conn, |c| {
        let mut query = scoring_rules::table
            .filter(scoring_rules::workspace_id.eq(Id(ws.0)))
            .order(scoring_rules::id.asc())
            .limit(i64::from(limit) + 1)
            .select(RuleRow::as_select())
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(scoring_rules::id.gt(Id(after)));
        }
        query.load(c).await
    })?;
    to_rules(rows)
}

/// Creates a rule (at most [`MAX_RULES`] per workspace) and rescores the workspace's leads.
pub async fn create(store: &Store, ctx: &Context, input: ScoringRuleInput) -> Result<ScoringRule, StoreError> {
    let ws = ctx.workspace_id;
    let mut conn = store.write().await?;
    let id = ScoringRuleId::generate();
    let at = now();
    let changes = diff(&serde_json::json!({}), &serde_json::to_value(&input).unwrap_or_default());
    let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Create, &changes, at);
    let data = RuleData::from(&input);
    let row: RuleRow = write_tx!(&mut conn, |c| {
        let count: i64 =
            scoring_rules::table.filter(scoring_rules::workspace_id.eq(Id(ws.0))).count().get_result(c).await?;
        if count >= MAX_RULES as i64 {
            return Err(StoreError::Invalid(ValidationErrors::single(
                "",
                "too_many",
                format!("a workspace has at most {MAX_RULES} scoring rules"),
            )));
        }
        let row = diesel::insert_into(scoring_rules::table)
            .values((
                scoring_rules::id.eq(Id(id.0)),
                scoring_rules::workspace_id.eq(Id(ws.0)),
                &data,
                scoring_rules::version.eq(1),
                scoring_rules::created_at.eq(Ts(at)),
                scoring_rules::updated_at.eq(Ts(at)),
            ))
            .returning(RuleRow::as_returning())
            .get_result(c)
            .await?;
        diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        Ok(row)
    })?;
    crate::leads::rescore_workspace(&mut conn, ws).await?;
    row.try_into()
}

/// Applies `change` to a rule, guarded by its version, and rescores the leads.
pub async fn update(
    store: &Store,
    ctx: &Context,
    id: ScoringRuleId,
    if_match: Option<i64>,
    change: impl Fn(&ScoringRule) -> Result<ScoringRuleInput, ValidationErrors>,
) -> Result<ScoringRule, StoreError> {
    let ws = ctx.workspace_id;
    let mut conn = store.write().await?;
    let current = fetch(&mut conn, ws, id).await?;
    if if_match.is_some_and(|v| v != current.version) {
        return Err(StoreError::VersionMismatch { current: current.version });
    }
    let next = change(&current).map_err(StoreError::Invalid)?;
    let changes = diff(
        &serde_json::to_value(current.input()).unwrap_or_default(),
        &serde_json::to_value(&next).unwrap_or_default(),
    );
    if changes.is_empty() {
        return Ok(current);
    }
    let at = now();
    let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Update, &changes, at);
    let data = RuleData::from(&next);
    let row: Option<RuleRow> = write_tx!(&mut conn, |c| {
        let row = Cached(
            diesel::update(
                scoring_rules::table
                    .filter(scoring_rules::workspace_id.eq(Id(ws.0)))
                    .filter(scoring_rules::id.eq(Id(id.0)))
                    .filter(scoring_rules::version.eq(current.version)),
            )
            .set((&data, scoring_rules::version.eq(current.version + 1), scoring_rules::updated_at.eq(Ts(at))))
            .returning(RuleRow::as_returning()),
        )
        .get_result(c)
        .await
        .optional()?;
        if row.is_some() {
            diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        }
        Ok(row)
    })?;
    let Some(row) = row else {
        let current = fetch(&mut conn, ws, id).await?;
        return Err(StoreError::VersionMismatch { current: current.version });
    };
    crate::leads::rescore_workspace(&mut conn, ws).await?;
    row.try_into()
}

/// Deletes a rule for good (the audit event keeps its last state) and rescores the leads.
pub async fn delete(store: &Store, ctx: &Context, id: ScoringRuleId, if_match: Option<i64>) -> Result<(), StoreError> {
    let ws = ctx.workspace_id;
    let mut conn = store.write().await?;
    let current = fetch(&mut conn, ws, id).await?;
    if if_match.is_some_and(|v| v != current.version) {
        return Err(StoreError::VersionMismatch { current: current.version });
    }
    let changes = diff(&serde_json::to_value(current.input()).unwrap_or_default(), &serde_json::json!({}));
    let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Delete, &changes, now());
    let deleted: usize = write_tx!(&mut conn, |c| {
        let n = diesel::delete(
            scoring_rules::table
                .filter(scoring_rules::workspace_id.eq(Id(ws.0)))
                .filter(scoring_rules::id.eq(Id(id.0)))
                .filter(scoring_rules::version.eq(current.version)),
        )
        .execute(c)
        .await?;
        if n > 0 {
            diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        }
        Ok(n)
    })?;
    if deleted == 0 {
        return Err(StoreError::VersionMismatch { current: current.version + 1 });
    }
    crate::leads::rescore_workspace(&mut conn, ws).await?;
    Ok(())
}
