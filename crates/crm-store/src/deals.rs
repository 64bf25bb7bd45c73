//! Deals: rows, queries, stage moves (each one a `deal_stage_changes` row written with the deal
//! and its audit event), and the board and forecast aggregates, computed by the database.

use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::access::Actor;
use crm_domain::audit::{AuditAction, diff};
use crm_domain::deal::{
    Board, BoardStage, Deal, DealCursor, DealFilter, DealInput, DealSort, DealSortField, DealStatus, Forecast,
    ForecastGroup, ForecastRow, Outcome, StageAmount, StageChange, enter_stage,
};
use crm_domain::pipeline::{Pipeline, Stage, StageKind};
use crm_domain::{ApiKeyId, CustomerId, DealId, PipelineId, StageId, UserId, ValidationErrors, WorkspaceId};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::audit::NewAuditRow;
use crate::query::{Cached, Param, RenderedSelection, bind_all, keyset, like_pattern, placeholders};
use crate::schema::{audit_events, deal_stage_changes, deals};
use crate::types::{Id, Json, SqlUuid, Ts, now};
use crate::{Conn, Context, Store, StoreError, per_backend, pipelines, write_tx};

pub(crate) const ENTITY: &str = "deal";

pub(crate) static DEAL_COLUMNS: RenderedSelection<DealRow> = RenderedSelection::new();

#[derive(Queryable, Selectable)]
#[diesel(table_name = deals)]
pub(crate) struct DealRow {
    pub(crate) id: Id,
    pub(crate) workspace_id: Id,
    title: String,
    customer_id: Id,
    pipeline_id: Id,
    stage_id: Id,
    status: String,
    amount_minor: i64,
    currency: Option<String>,
    expected_close_date: Option<NaiveDate>,
    owner_id: Option<Id>,
    lost_reason: Option<String>,
    closed_at: Option<Ts>,
    stage_entered_at: Ts,
    tags: Json,
    custom_fields: Json,
    version: i64,
    created_at: Ts,
    updated_at: Ts,
    deleted_at: Option<Ts>,
}

impl TryFrom<DealRow> for Deal {
    type Error = StoreError;
    fn try_from(r: DealRow) -> Result<Deal, StoreError> {
        Ok(Deal {
            id: DealId(r.id.0),
            title: r.title,
            customer_id: CustomerId(r.customer_id.0),
            pipeline_id: PipelineId(r.pipeline_id.0),
            stage_id: StageId(r.stage_id.0),
            status: DealStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("deal status {:?}", r.status)))?,
            amount_minor: r.amount_minor,
            currency: r.currency,
            expected_close_date: r.expected_close_date,
            owner_id: r.owner_id.map(|id| UserId(id.0)),
            lost_reason: r.lost_reason,
            closed_at: r.closed_at.map(|t| t.0),
            stage_entered_at: r.stage_entered_at.0,
            tags: r.tags.decode()?,
            custom_fields: r.custom_fields.decode()?,
            version: r.version,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
            deleted_at: r.deleted_at.map(|t| t.0),
        })
    }
}

/// The data columns, shared by insert and update.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = deals, treat_none_as_null = true, treat_none_as_default_value = false)]
pub(crate) struct DealData {
    title: String,
    customer_id: Id,
    pipeline_id: Id,
    stage_id: Id,
    status: &'static str,
    amount_minor: i64,
    currency: Option<String>,
    expected_close_date: Option<NaiveDate>,
    owner_id: Option<Id>,
    lost_reason: Option<String>,
    closed_at: Option<Ts>,
    stage_entered_at: Ts,
    tags: Json,
    custom_fields: Json,
    search_text: String,
}

impl DealData {
    fn new(input: &DealInput, stage: &Stage, pipeline: PipelineId, outcome: &Outcome, entered: DateTime<Utc>) -> Self {
        DealData {
            title: input.title.clone(),
            customer_id: Id(input.customer_id.0),
            pipeline_id: Id(pipeline.0),
            stage_id: Id(stage.id.0),
            status: outcome.status.as_str(),
            amount_minor: input.amount_minor,
            currency: input.currency.clone(),
            expected_close_date: input.expected_close_date,
            owner_id: input.owner_id.map(|u| Id(u.0)),
            lost_reason: outcome.lost_reason.clone(),
            closed_at: outcome.closed_at.map(Ts),
            stage_entered_at: Ts(entered),
            tags: Json::of(&input.tags),
            custom_fields: Json::of(&input.custom_fields),
            search_text: input.search_text(),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = deals, treat_none_as_default_value = false)]
pub(crate) struct NewDealRow {
    id: Id,
    workspace_id: Id,
    #[diesel(embed)]
    data: DealData,
    version: i64,
    created_at: Ts,
    updated_at: Ts,
}

#[derive(Insertable)]
#[diesel(table_name = deal_stage_changes, treat_none_as_default_value = false)]
pub(crate) struct NewStageChangeRow {
    id: Id,
    workspace_id: Id,
    deal_id: Id,
    customer_id: Id,
    from_stage_id: Option<Id>,
    to_stage_id: Id,
    at: Ts,
    actor_type: &'static str,
    actor_id: Option<Id>,
}

impl NewStageChangeRow {
    fn new(
        ctx: &Context,
        (deal, customer): (Uuid, Uuid),
        from: Option<StageId>,
        to: StageId,
        at: DateTime<Utc>,
    ) -> Self {
        let (actor_type, actor_id) = match ctx.actor {
            Actor::User(id) => ("user", Some(Id(id.0))),
            Actor::ApiKey(id) => ("api_key", Some(Id(id.0))),
            Actor::System => ("system", None),
        };
        NewStageChangeRow {
            id: Id(Uuid::now_v7()),
            workspace_id: Id(ctx.workspace_id.0),
            deal_id: Id(deal),
            customer_id: Id(customer),
            from_stage_id: from.map(|s| Id(s.0)),
            to_stage_id: Id(to.0),
            at: Ts(at),
            actor_type,
            actor_id,
        }
    }
}

/// The rows of one deal moved from `from` to `to` as a side effect (a stage deleted with
/// `move_deals_to`): its stage change and its audit event.
pub(crate) fn stage_move_rows(
    ctx: &Context,
    (deal, customer): (Uuid, Uuid),
    from: StageId,
    to: StageId,
    at: DateTime<Utc>,
) -> (NewStageChangeRow, NewAuditRow) {
    let change = NewStageChangeRow::new(ctx, (deal, customer), Some(from), to, at);
    let field = crm_domain::audit::Change {
        field: "stage_id".into(),
        from: serde_json::json!(from.0),
        to: serde_json::json!(to.0),
    };
    let audit = NewAuditRow::new(ctx, ENTITY, deal, AuditAction::Update, &[field], at)
        .with_reason(Some("stage deleted".to_owned()));
    (change, audit)
}

/// What the audit log records of a deal.
fn audited(input: &DealInput, outcome: &Outcome) -> serde_json::Value {
    let mut doc = serde_json::to_value(input).unwrap_or_default();
    if let serde_json::Value::Object(fields) = &mut doc {
        fields.insert("status".into(), serde_json::json!(outcome.status));
        fields.insert("closed_at".into(), serde_json::json!(outcome.closed_at));
        fields.insert("lost_reason".into(), serde_json::json!(outcome.lost_reason));
    }
    doc
}

/// A deal ready to insert: its row, its first stage change and its audit event. Made by
/// [`prepare_create`] outside a transaction, inserted by [`insert_deal!`] inside one.
pub(crate) struct PreparedDeal {
    /// Known before the insert, so that lead conversion can stamp `converted_deal_id` in the
    /// same transaction.
    pub(crate) id: DealId,
    pub(crate) row: NewDealRow,
    pub(crate) change: NewStageChangeRow,
    pub(crate) audit: NewAuditRow,
}

/// Finds the pipeline and stage a deal goes to, adding field errors when they do not fit.
/// `current` is the deal before a `PATCH`: changing only the pipeline takes the new
/// pipeline's first open stage.
async fn resolve_stage(
    conn: &mut Conn,
    ws: WorkspaceId,
    input: &DealInput,
    current: Option<&Deal>,
    errors: &mut ValidationErrors,
) -> Result<Option<(Pipeline, Stage)>, StoreError> {
    let pipeline = match input.pipeline_id {
        Some(id) => match pipelines::fetch(conn, ws, id).await {
            Ok(p) => p,
            Err(StoreError::NotFound) => {
                errors.add("pipeline_id", "not_found", "no such pipeline in this workspace");
                return Ok(None);
            }
            Err(e) => return Err(e),
        },
        None => pipelines::fetch_default(conn, ws).await?,
    };
    let switched = current.is_some_and(|c| c.pipeline_id != pipeline.id && input.stage_id == Some(c.stage_id));
    let stage = match input.stage_id {
        Some(id) if !switched => match pipeline.stage(id) {
            Some(stage) => stage.clone(),
            None => {
                errors.add("stage_id", "not_in_pipeline", "the stage is not a stage of the deal's pipeline");
                return Ok(None);
            }
        },
        _ => match pipeline.first_open_stage() {
            Some(stage) => stage.clone(),
            None => return Err(StoreError::Corrupt(format!("pipeline {} has no open stage", pipeline.id))),
        },
    };
    Ok(Some((pipeline, stage)))
}

/// Validates the references of a new deal and resolves its pipeline (the default when absent)
/// and stage (the pipeline's first open stage when absent), on `conn` and outside any
/// transaction. With `verify_customer = false` the customer is not looked up: for callers
/// that insert the customer in the same transaction (lead conversion).
pub(crate) async fn prepare_create(
    conn: &mut Conn,
    ctx: &Context,
    input: DealInput,
    verify_customer: bool,
) -> Result<PreparedDeal, StoreError> {
    let ws = ctx.workspace_id;
    let mut errors = ValidationErrors::default();
    if verify_customer {
        crate::refs::check_customer(conn, ws, Some(input.customer_id), "customer_id", &mut errors).await?;
    }
    crate::refs::check_user(conn, ws, input.owner_id, "owner_id", &mut errors).await?;
    let resolved = resolve_stage(conn, ws, &input, None, &mut errors).await?;
    let at = now();
    let outcome = match &resolved {
        Some((_, stage)) => match enter_stage(stage.kind, input.lost_reason.clone(), None, at) {
            Ok(outcome) => Some(outcome),
            Err(e) => {
                errors.0.extend(e.0);
                None
            }
        },
        None => None,
    };
    let (Some((pipeline, stage)), Some(outcome)) = (resolved, outcome) else {
        return Err(StoreError::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(StoreError::Invalid(errors));
    }
    let id = DealId::generate();
    let input = DealInput { pipeline_id: Some(pipeline.id), stage_id: Some(stage.id), ..input };
    let changes = diff(&serde_json::json!({}), &audited(&input, &outcome));
    Ok(PreparedDeal {
        id,
        row: NewDealRow {
            id: Id(id.0),
            workspace_id: Id(ws.0),
            data: DealData::new(&input, &stage, pipeline.id, &outcome, at),
            version: 1,
            created_at: Ts(at),
            updated_at: Ts(at),
        },
        change: NewStageChangeRow::new(ctx, (id.0, input.customer_id.0), None, stage.id, at),
        audit: NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Create, &changes, at),
    })
}

/// Inserts a [`PreparedDeal`] inside a `write_tx!` body where `$c` is the backend's connection:
/// the deal row, its first stage change and its audit event. Evaluates to the inserted
/// [`DealRow`] (`Deal::try_from` it after the commit); errors return from the body with `?`.
macro_rules! insert_deal {
    ($c:expr, $prepared:expr) => {{
        let prepared: &$crate::deals::PreparedDeal = $prepared;
        let row: $crate::deals::DealRow = diesel_async::RunQueryDsl::get_result(
            diesel::insert_into($crate::schema::deals::table)
                .values(&prepared.row)
                .returning(<$crate::deals::DealRow as diesel::SelectableHelper<_>>::as_returning()),
            $c,
        )
        .await?;
        $crate::deals::add_rollup_of_row!($c, row.workspace_id, row.id, 1, None);
        diesel_async::RunQueryDsl::execute(
            diesel::insert_into($crate::schema::deal_stage_changes::table).values(&prepared.change),
            $c,
        )
        .await?;
        diesel_async::RunQueryDsl::execute(
            diesel::insert_into($crate::schema::audit_events::table).values(&prepared.audit),
            $c,
        )
        .await?;
        row
    }};
}
pub(crate) use insert_deal;

pub async fn create(store: &Store, ctx: &Context, input: DealInput) -> Result<Deal, StoreError> {
    let mut conn = store.write().await?;
    let prepared = prepare_create(&mut conn, ctx, input, true).await?;
    let row: DealRow = write_tx!(&mut conn, |c| { Ok(crate::deals::insert_deal!(c, &prepared)) })?;
    row.try_into()
}

/// One deal; deleted ones only when `include_deleted`.
pub async fn get(store: &Store, ws: WorkspaceId, id: DealId, include_deleted: bool) -> Result<Deal, StoreError> {
    fetch(&mut store.read().await?, ws, id, include_deleted).await
}

async fn fetch(conn: &mut Conn, ws: WorkspaceId, id: DealId, include_deleted: bool) -> Result<Deal, StoreError> {
    let row: DealRow = per_backend!(conn, |c| {
        let query = deals::table
            .filter(deals::workspace_id.eq(Id(ws.0)))
            .filter(deals::id.eq(Id(id.0)))
            .select(DEAL_COLUMNS.as_select());
        if include_deleted {
            query.get_result(c).await
        } else {
            query.filter(deals::deleted_at.is_null()).get_result(c).await
        }
    })?;
    row.try_into()
}

/// Whether a deal exists in the workspace (deleted or not): history stays readable.
pub async fn exists(store: &Store, ws: WorkspaceId, id: DealId) -> Result<bool, StoreError> {
    let mut conn = store.read().await?;
    let n: i64 = per_backend!(&mut conn, |c| deals::table
        .filter(deals::workspace_id.eq(Id(ws.0)))
        .filter(deals::id.eq(Id(id.0)))
        .count()
        .get_result(c)
        .await)?;
    Ok(n > 0)
}

/// A page of deals (`limit + 1` rows, so the caller can tell whether more exist).
pub async fn list(
    store: &Store,
    ws: WorkspaceId,
    filter: &DealFilter,
    sort: DealSort,
    after: Option<&DealCursor>,
    limit: u32,
) -> Result<Vec<Deal>, StoreError> {
    let mut conn = store.read().await?;
    let after_at = after.and_then(|c| c.at.map(|at| (Ts(at), Id(c.id))));
    let after_amount = after.and_then(|c| c.amount.map(|n| (n, Id(c.id))));
    let after_date = after.map(|c| (c.date, Id(c.id)));
    let rows: Vec<DealRow> = per_backend!(&mut conn, |c| {
        let mut query = deals::table
            .filter(deals::workspace_id.eq(Id(ws.0)))
            .select(DEAL_COLUMNS.as_select())
            .limit(i64::from(limit) + 1)
            .into_boxed();
        query = if filter.deleted {
            query.filter(deals::deleted_at.is_not_null())
        } else {
            query.filter(deals::deleted_at.is_null())
        };
        if let Some(id) = filter.pipeline_id {
            query = query.filter(deals::pipeline_id.eq(Id(id.0)));
        }
        if let Some(id) = filter.stage_id {
            query = query.filter(deals::stage_id.eq(Id(id.0)));
        }
        if let Some(status) = filter.status {
            query = query.filter(deals::status.eq(status.as_str()));
        }
        if let Some(id) = filter.owner_id {
            query = query.filter(deals::owner_id.eq(Id(id.0)));
        }
        if let Some(id) = filter.customer_id {
            query = query.filter(deals::customer_id.eq(Id(id.0)));
        }
        if let Some(currency) = &filter.currency {
            query = query.filter(deals::currency.eq(currency.clone()));
        }
        if let Some(d) = filter.expected_close_after {
            query = query.filter(deals::expected_close_date.ge(d));
        }
        if let Some(d) = filter.expected_close_before {
            query = query.filter(deals::expected_close_date.lt(d));
        }
        if let Some(n) = filter.amount_min {
            query = query.filter(deals::amount_minor.ge(n));
        }
        if let Some(n) = filter.amount_max {
            query = query.filter(deals::amount_minor.le(n));
        }
        if let Some(t) = filter.created_after {
            query = query.filter(deals::created_at.ge(Ts(t)));
        }
        if let Some(t) = filter.created_before {
            query = query.filter(deals::created_at.lt(Ts(t)));
        }
        if let Some(q) = &filter.q {
            query = query.filter(deals::search_text.like(like_pattern(q)).escape('\\'));
        }
        let date = deals::expected_close_date;
        query = match (sort.field, sort.descending) {
            (DealSortField::CreatedAt, false) => keyset!(query, after_at, deals::created_at, deals::id, ge, gt, asc),
            (DealSortField::CreatedAt, true) => keyset!(query, after_at, deals::created_at, deals::id, le, lt, desc),
            (DealSortField::UpdatedAt, false) => keyset!(query, after_at, deals::updated_at, deals::id, ge, gt, asc),
            (DealSortField::UpdatedAt, true) => keyset!(query, after_at, deals::updated_at, deals::id, le, lt, desc),
            (DealSortField::AmountMinor, false) => {
                keyset!(query, after_amount, deals::amount_minor, deals::id, ge, gt, asc)
            }
            (DealSortField::AmountMinor, true) => {
                keyset!(query, after_amount, deals::amount_minor, deals::id, le, lt, desc)
            }
            // Deals without a date come after the dated ones ascending, before them descending.
            (DealSortField::ExpectedCloseDate, false) => {
                query = match after_date {
                    Some((Some(t), u)) => query.filter(
                        date.assume_not_null()
                            .gt(t)
                            .or(date.assume_not_null().eq(t).and(deals::id.gt(u)))
                            .or(date.is_null()),
                    ),
                    Some((None, u)) => query.filter(date.is_null().and(deals::id.gt(u))),
                    None => query,
                };
                query.order((date.is_null().asc(), date.asc(), deals::id.asc()))
            }
            (DealSortField::ExpectedCloseDate, true) => {
                query = match after_date {
                    Some((Some(t), u)) => {
                        query.filter(date.assume_not_null().lt(t).or(date.assume_not_null().eq(t).and(deals::id.lt(u))))
                    }
                    Some((None, u)) => query.filter(date.is_null().and(deals::id.lt(u)).or(date.is_not_null())),
                    None => query,
                };
                query.order((date.is_null().desc(), date.desc(), deals::id.desc()))
            }
        };
        query.load(c).await
    })?;
    rows.into_iter().map(Deal::try_from).collect()
}

/// A write to a deal: a merge patch, a move, or a reassignment.
struct Edit<'a> {
    action: AuditAction,
    reason: Option<String>,
    change: &'a dyn Fn(&Deal) -> Result<DealInput, ValidationErrors>,
}

/// Applies `change` to the current deal and stores the result, guarded by its version. A
/// changed stage is a move: it stamps `stage_entered_at` and writes a stage change row.
pub async fn update(
    store: &Store,
    ctx: &Context,
    id: DealId,
    if_match: Option<i64>,
    change: impl Fn(&Deal) -> Result<DealInput, ValidationErrors>,
) -> Result<Deal, StoreError> {
    apply(store, ctx, id, if_match, Edit { action: AuditAction::Update, reason: None, change: &change }).await
}

/// Moves a deal to `stage`, of its pipeline or another one of the workspace.
pub async fn move_to(
    store: &Store,
    ctx: &Context,
    id: DealId,
    if_match: Option<i64>,
    stage: StageId,
    lost_reason: Option<String>,
) -> Result<Deal, StoreError> {
    let pipeline = match pipelines::fetch_by_stage(&mut store.read_primary().await?, ctx.workspace_id, stage).await {
        Ok(pipeline) => pipeline,
        Err(StoreError::NotFound) => {
            return Err(StoreError::invalid("stage_id", "not_found", "no such stage in this workspace"));
        }
        Err(e) => return Err(e),
    };
    let change = |current: &Deal| {
        Ok(DealInput {
            pipeline_id: Some(pipeline.id),
            stage_id: Some(stage),
            lost_reason: lost_reason.clone(),
            ..current.input()
        })
    };
    apply(store, ctx, id, if_match, Edit { action: AuditAction::Update, reason: None, change: &change }).await
}

/// Hands the deal to another owner; the reason goes to the history.
pub async fn reassign(
    store: &Store,
    ctx: &Context,
    id: DealId,
    if_match: Option<i64>,
    owner: UserId,
    reason: String,
) -> Result<Deal, StoreError> {
    let change = |current: &Deal| Ok(DealInput { owner_id: Some(owner), ..current.input() });
    apply(store, ctx, id, if_match, Edit { action: AuditAction::Reassign, reason: Some(reason), change: &change }).await
}

async fn apply(
    store: &Store,
    ctx: &Context,
    id: DealId,
    if_match: Option<i64>,
    edit: Edit<'_>,
) -> Result<Deal, StoreError> {
    let ws = ctx.workspace_id;
    let mut conn = store.write().await?;
    for _ in 0..3 {
        let current = fetch(&mut conn, ws, id, false).await?;
        if if_match.is_some_and(|v| v != current.version) {
            return Err(StoreError::VersionMismatch { current: current.version });
        }
        let next = (edit.change)(&current).map_err(StoreError::Invalid)?;
        let mut errors = ValidationErrors::default();
        if next.customer_id != current.customer_id {
            crate::refs::check_customer(&mut conn, ws, Some(next.customer_id), "customer_id", &mut errors).await?;
        }
        if next.owner_id != current.owner_id {
            crate::refs::check_user(&mut conn, ws, next.owner_id, "owner_id", &mut errors).await?;
        }
        let resolved = resolve_stage(&mut conn, ws, &next, Some(&current), &mut errors).await?;
        let at = now();
        let before =
            Outcome { status: current.status, closed_at: current.closed_at, lost_reason: current.lost_reason.clone() };
        let outcome = match &resolved {
            Some((_, stage)) => match enter_stage(stage.kind, next.lost_reason.clone(), Some(&before), at) {
                Ok(outcome) => Some(outcome),
                Err(e) => {
                    errors.0.extend(e.0);
                    None
                }
            },
            None => None,
        };
        let (Some((pipeline, stage)), Some(outcome), true) = (resolved, outcome, errors.is_empty()) else {
            return Err(StoreError::Invalid(errors));
        };
        let next = DealInput { pipeline_id: Some(pipeline.id), stage_id: Some(stage.id), ..next };
        let changes = diff(&audited(&current.input(), &before), &audited(&next, &outcome));
        if changes.is_empty() {
            return Ok(current);
        }
        let moved = stage.id != current.stage_id;
        let entered = if moved { at } else { current.stage_entered_at };
        let data = DealData::new(&next, &stage, pipeline.id, &outcome, entered);
        let audit = NewAuditRow::new(ctx, ENTITY, id.0, edit.action, &changes, at).with_reason(edit.reason.clone());
        let change = moved
            .then(|| NewStageChangeRow::new(ctx, (id.0, next.customer_id.0), Some(current.stage_id), stage.id, at));
        let row: Option<DealRow> = write_tx!(&mut conn, |c| {
            let row = Cached(
                diesel::update(
                    deals::table
                        .filter(deals::workspace_id.eq(Id(ws.0)))
                        .filter(deals::id.eq(Id(id.0)))
                        .filter(deals::version.eq(current.version))
                        .filter(deals::deleted_at.is_null()),
                )
                .set((&data, deals::version.eq(current.version + 1), deals::updated_at.eq(Ts(at))))
                .returning(DealRow::as_returning()),
            )
            .get_result(c)
            .await
            .optional()?;
            if row.is_some() {
                sub_rollup_of!(c, ws, &current);
                add_rollup_of_row!(c, Id(ws.0), Id(id.0), 1, None);
                if let Some(change) = &change {
                    diesel::insert_into(deal_stage_changes::table).values(change).execute(c).await?;
                }
                diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
            }
            Ok(row)
        })?;
        match row {
            Some(row) => return row.try_into(),
            None if if_match.is_some() => {
                let current = fetch(&mut conn, ws, id, false).await?;
                return Err(StoreError::VersionMismatch { current: current.version });
            }
            None => continue,
        }
    }
    Err(StoreError::conflict("edit_conflict", "the deal kept changing; retry the request"))
}

/// Soft-deletes (`deleted = true`) or restores (`deleted = false`) a deal.
pub async fn set_deleted(
    store: &Store,
    ctx: &Context,
    id: DealId,
    if_match: Option<i64>,
    deleted: bool,
) -> Result<Deal, StoreError> {
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
    let change = crm_domain::audit::Change {
        field: "deleted_at".into(),
        from: serde_json::to_value(current.deleted_at).unwrap_or_default(),
        to: serde_json::to_value(deleted_at.map(|t| t.0)).unwrap_or_default(),
    };
    let audit = NewAuditRow::new(ctx, ENTITY, id.0, action, &[change], at);
    let row: Option<DealRow> = write_tx!(&mut conn, |c| {
        let row = diesel::update(
            deals::table
                .filter(deals::workspace_id.eq(Id(ctx.workspace_id.0)))
                .filter(deals::id.eq(Id(id.0)))
                .filter(deals::version.eq(current.version)),
        )
        .set((deals::deleted_at.eq(deleted_at), deals::version.eq(current.version + 1), deals::updated_at.eq(Ts(at))))
        .returning(DealRow::as_returning())
        .get_result(c)
        .await
        .optional()?;
        if row.is_some() {
            sub_rollup_of!(c, ctx.workspace_id, &current);
            add_rollup_of_row!(c, Id(ctx.workspace_id.0), Id(id.0), 1, None);
            diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        }
        Ok(row)
    })?;
    match row {
        Some(row) => row.try_into(),
        None => Err(StoreError::VersionMismatch { current: current.version + 1 }),
    }
}

pub(crate) static STAGE_CHANGE_COLUMNS: RenderedSelection<StageChangeRow> = RenderedSelection::new();

#[derive(Queryable, Selectable)]
#[diesel(table_name = deal_stage_changes)]
pub(crate) struct StageChangeRow {
    id: Id,
    deal_id: Id,
    customer_id: Id,
    from_stage_id: Option<Id>,
    to_stage_id: Id,
    at: Ts,
    actor_type: String,
    actor_id: Option<Id>,
}

impl From<StageChangeRow> for StageChange {
    fn from(r: StageChangeRow) -> StageChange {
        let actor = match (r.actor_type.as_str(), r.actor_id) {
            ("user", Some(id)) => Actor::User(UserId(id.0)),
            ("api_key", Some(id)) => Actor::ApiKey(ApiKeyId(id.0)),
            _ => Actor::System,
        };
        StageChange {
            id: r.id.0,
            deal_id: DealId(r.deal_id.0),
            customer_id: CustomerId(r.customer_id.0),
            from_stage_id: r.from_stage_id.map(|s| StageId(s.0)),
            to_stage_id: StageId(r.to_stage_id.0),
            at: r.at.0,
            actor,
        }
    }
}

/// The moves of a deal, newest first; `before` is the id the previous page ended on.
pub async fn stage_changes(
    store: &Store,
    ws: WorkspaceId,
    deal: DealId,
    before: Option<Uuid>,
    limit: u32,
) -> Result<Vec<StageChange>, StoreError> {
    let mut conn = store.read().await?;
    let rows: Vec<StageChangeRow> = per_backend!(&mut conn, |c| {
        let mut query = deal_stage_changes::table
            .filter(deal_stage_changes::workspace_id.eq(Id(ws.0)))
            .filter(deal_stage_changes::deal_id.eq(Id(deal.0)))
            .order(deal_stage_changes::id.desc())
            .limit(i64::from(limit) + 1)
            .select(STAGE_CHANGE_COLUMNS.as_select())
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(deal_stage_changes::id.lt(Id(before)));
        }
        query.load(c).await
    })?;
    Ok(rows.into_iter().map(StageChange::from).collect())
}

// --- Rollups -----------------------------------------------------------------------------------
// `deal_rollups` holds, per workspace, pipeline, stage, status (open, won), owner, currency and
// day, the count, amount and weighted amount of the live deals; the forecast and the board sum
// these few rows instead of every deal. Every write that changes a deal's contribution applies
// `−old/+new` in its own transaction. Key columns hold '' for "none" (see the migration).

/// Which SQL dialect a write-transaction connection speaks.
pub(crate) trait Dialect {
    const POSTGRES: bool;
}
impl Dialect for diesel_async::AsyncPgConnection {
    const POSTGRES: bool = true;
}
impl Dialect for crate::db::SqliteConn {
    const POSTGRES: bool = false;
}
pub(crate) fn is_postgres<C: Dialect>(_: &C) -> bool {
    C::POSTGRES
}

const ROLLUP_COLUMNS: &str = "INSERT INTO deal_rollups (workspace_id, pipeline_id, stage_id, status, owner_key, \
     currency_key, day, deal_count, amount_minor, weighted_minor) ";
const ROLLUP_UPSERT: &str = " ON CONFLICT (workspace_id, pipeline_id, stage_id, status, owner_key, currency_key, day) \
     DO UPDATE SET deal_count = deal_rollups.deal_count + excluded.deal_count, \
     amount_minor = deal_rollups.amount_minor + excluded.amount_minor, \
     weighted_minor = deal_rollups.weighted_minor + excluded.weighted_minor";
/// What counts: live open and won deals (lost ones appear in neither the board nor the forecast).
const ROLLUP_COUNTED: &str = "d.deleted_at IS NULL AND d.status IN ('open', 'won')";

/// The key expressions of a deal row `d` (joined to its stage `s`): owner, currency, day.
fn rollup_keys(postgres: bool) -> (&'static str, &'static str) {
    if postgres {
        (
            "COALESCE(CAST(d.owner_id AS text), '')",
            "CASE WHEN d.status = 'open' THEN COALESCE(to_char(d.expected_close_date, 'YYYY-MM-DD'), '') \
             ELSE COALESCE(to_char(d.closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), '') END",
        )
    } else {
        (
            "COALESCE(d.owner_id, '')",
            "CASE WHEN d.status = 'open' THEN COALESCE(d.expected_close_date, '') \
             ELSE COALESCE(substr(d.closed_at, 1, 10), '') END",
        )
    }
}

/// `$n` placeholders for PostgreSQL, `?n` for SQLite.
fn numbered(sql: String, postgres: bool) -> String {
    if postgres { sql } else { sql.replace('$', "?") }
}

/// Adds `$3` × the contribution of deal `$2` as it is now in the transaction (nothing when it
/// is deleted or lost), attributed to owner key `$4` when given. The caller holds the deal's
/// row lock (it has just written the row). On PostgreSQL the stage row is share-locked, so a
/// concurrent win-probability change (which recomputes the stage) is ordered with this write.
pub(crate) fn row_delta_sql(postgres: bool) -> String {
    let (owner, day) = rollup_keys(postgres);
    let lock = if postgres { " FOR SHARE OF s" } else { "" };
    numbered(
        format!(
            "{ROLLUP_COLUMNS}SELECT d.workspace_id, d.pipeline_id, d.stage_id, d.status, COALESCE($4, {owner}), \
             COALESCE(d.currency, ''), {day}, $3, $3 * d.amount_minor, \
             $3 * CASE WHEN d.status = 'open' THEN {WEIGHTED} ELSE 0 END \
             FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id \
             WHERE d.workspace_id = $1 AND d.id = $2 AND {ROLLUP_COUNTED}{lock}{ROLLUP_UPSERT}"
        ),
        postgres,
    )
}

/// Adds `$8` × a contribution given by value (a deal as it was before a write).
pub(crate) fn value_delta_sql(postgres: bool) -> String {
    let lock = if postgres { " FOR SHARE OF s" } else { "" };
    numbered(
        format!(
            "{ROLLUP_COLUMNS}SELECT $1, $2, $3, $4, $5, $6, $7, $8, $8 * $9, \
             $8 * CASE WHEN $4 = 'open' THEN ($9 * s.win_probability + 50) / 100 ELSE 0 END \
             FROM pipeline_stages s WHERE s.id = $3{lock}{ROLLUP_UPSERT}"
        ),
        postgres,
    )
}

/// Recomputes the rollups of stage `$2` of workspace `$1` from its deals (run after deleting
/// them): for win-probability changes and deals moved by a stage deletion.
pub(crate) fn rebuild_stage_sql(postgres: bool) -> String {
    let (owner, day) = rollup_keys(postgres);
    numbered(
        format!(
            "{ROLLUP_COLUMNS}SELECT d.workspace_id, d.pipeline_id, d.stage_id, d.status, {owner}, \
             COALESCE(d.currency, ''), {day}, COUNT(*), SUM(d.amount_minor), \
             SUM(CASE WHEN d.status = 'open' THEN {WEIGHTED} ELSE 0 END) \
             FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id \
             WHERE d.workspace_id = $1 AND d.stage_id = $2 AND {ROLLUP_COUNTED} \
             GROUP BY d.workspace_id, d.pipeline_id, d.stage_id, d.status, 5, 6, 7"
        ),
        postgres,
    )
}

/// A deal's share of the rollups: `None` when it does not count (deleted or lost).
pub(crate) struct Contribution {
    pub(crate) pipeline: Id,
    pub(crate) stage: Id,
    pub(crate) status: &'static str,
    pub(crate) owner: String,
    pub(crate) currency: String,
    pub(crate) day: String,
    pub(crate) amount: i64,
}

impl Contribution {
    pub(crate) fn of(deal: &Deal) -> Option<Contribution> {
        if deal.deleted_at.is_some() {
            return None;
        }
        let day = match deal.status {
            DealStatus::Open => deal.expected_close_date,
            DealStatus::Won => deal.closed_at.map(|t| t.date_naive()),
            DealStatus::Lost => return None,
        };
        Some(Contribution {
            pipeline: Id(deal.pipeline_id.0),
            stage: Id(deal.stage_id.0),
            status: deal.status.as_str(),
            owner: deal.owner_id.map(|u| u.0.hyphenated().to_string()).unwrap_or_default(),
            currency: deal.currency.clone().unwrap_or_default(),
            day: day.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default(),
            amount: deal.amount_minor,
        })
    }
}

/// Inside a `write_tx!` body (`$c` the backend's connection): adds `$sign` × the contribution
/// of deal `$deal` as the transaction sees it, optionally under owner key `$owner`
/// (`Option<String>`). Errors return from the body with `?`.
macro_rules! add_rollup_of_row {
    ($c:expr, $ws:expr, $deal:expr, $sign:expr, $owner:expr) => {{
        let sql = $crate::deals::row_delta_sql($crate::deals::is_postgres(&*$c));
        let owner: Option<String> = $owner;
        diesel_async::RunQueryDsl::execute(
            diesel::sql_query(sql)
                .bind::<$crate::types::SqlUuid, _>($ws)
                .bind::<$crate::types::SqlUuid, _>($deal)
                .bind::<diesel::sql_types::BigInt, _>($sign as i64)
                .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(owner),
            $c,
        )
        .await?;
    }};
}
pub(crate) use add_rollup_of_row;

/// Inside a `write_tx!` body: takes away the contribution of `$deal` (a [`Deal`] as it was
/// before the write, in workspace `$ws`).
macro_rules! sub_rollup_of {
    ($c:expr, $ws:expr, $deal:expr) => {{
        if let Some(old) = $crate::deals::Contribution::of($deal) {
            let sql = $crate::deals::value_delta_sql($crate::deals::is_postgres(&*$c));
            let ws: $crate::types::Id = $crate::types::Id($ws.0);
            diesel_async::RunQueryDsl::execute(
                diesel::sql_query(sql)
                    .bind::<$crate::types::SqlUuid, _>(ws)
                    .bind::<$crate::types::SqlUuid, _>(old.pipeline)
                    .bind::<$crate::types::SqlUuid, _>(old.stage)
                    .bind::<diesel::sql_types::Text, _>(old.status)
                    .bind::<diesel::sql_types::Text, _>(old.owner)
                    .bind::<diesel::sql_types::Text, _>(old.currency)
                    .bind::<diesel::sql_types::Text, _>(old.day)
                    .bind::<diesel::sql_types::BigInt, _>(-1_i64)
                    .bind::<diesel::sql_types::BigInt, _>(old.amount),
                $c,
            )
            .await?;
        }
    }};
}
pub(crate) use sub_rollup_of;

/// Inside a `write_tx!` body: recomputes the rollups of stage `$stage` (a [`StageId`]).
macro_rules! rebuild_stage_rollups {
    ($c:expr, $ws:expr, $stage:expr) => {{
        let (ws, stage): ($crate::types::Id, $crate::types::Id) =
            ($crate::types::Id($ws.0), $crate::types::Id($stage.0));
        diesel_async::RunQueryDsl::execute(
            diesel::delete(
                $crate::schema::deal_rollups::table
                    .filter($crate::schema::deal_rollups::workspace_id.eq(ws))
                    .filter($crate::schema::deal_rollups::stage_id.eq(stage)),
            ),
            $c,
        )
        .await?;
        let sql = $crate::deals::rebuild_stage_sql($crate::deals::is_postgres(&*$c));
        diesel_async::RunQueryDsl::execute(
            diesel::sql_query(sql).bind::<$crate::types::SqlUuid, _>(ws).bind::<$crate::types::SqlUuid, _>(stage),
            $c,
        )
        .await?;
    }};
}
pub(crate) use rebuild_stage_rollups;

/// The weighted amount of a deal in SQL: the same rounding as `crm_domain::deal::weighted_minor`.
const WEIGHTED: &str = "(d.amount_minor * s.win_probability + 50) / 100";

#[derive(QueryableByName)]
struct StageSumRow {
    #[diesel(sql_type = SqlUuid)]
    stage_id: Id,
    #[diesel(sql_type = Nullable<Text>)]
    currency: Option<String>,
    #[diesel(sql_type = BigInt)]
    deal_count: i64,
    #[diesel(sql_type = BigInt)]
    amount_minor: i64,
    #[diesel(sql_type = BigInt)]
    weighted_minor: i64,
}

/// The board's counts and sums per open stage and currency, summed from the rollups of the
/// pipeline's open deals, a few rows per stage (binds: workspace, pipeline, the owner if
/// `by_owner`).
pub(crate) fn board_sql(by_owner: bool, postgres: bool) -> String {
    let owner = if by_owner { " AND r.owner_key = ?" } else { "" };
    // Deals without a currency last, on both databases.
    let sql = format!(
        "SELECT r.stage_id AS stage_id, NULLIF(r.currency_key, '') AS currency, \
         CAST(SUM(r.deal_count) AS BIGINT) AS deal_count, CAST(SUM(r.amount_minor) AS BIGINT) AS amount_minor, \
         CAST(SUM(r.weighted_minor) AS BIGINT) AS weighted_minor \
         FROM deal_rollups r WHERE r.workspace_id = ? AND r.pipeline_id = ? AND r.status = 'open'{owner} \
         GROUP BY r.stage_id, r.currency_key HAVING SUM(r.deal_count) <> 0 \
         ORDER BY CASE WHEN r.currency_key = '' THEN 1 ELSE 0 END, r.currency_key"
    );
    placeholders(&sql, postgres)
}

/// The open stages of a pipeline with their counts and sums per currency (one grouped query)
/// and their first `limit` open deals, most recently updated first.
pub async fn board(
    store: &Store,
    ws: WorkspaceId,
    pipeline: PipelineId,
    owner: Option<UserId>,
    limit: u32,
) -> Result<Board, StoreError> {
    // The sums group the pipeline's rollups in one statement of several milliseconds, which on
    // the shared connection would hold up the thread's other reads; the cards below are short.
    let mut conn = store.read_pooled().await?;
    let pipeline = pipelines::fetch(&mut conn, ws, pipeline).await?;
    let postgres = !matches!(conn, Conn::Sqlite(_));
    let sql = board_sql(owner.is_some(), postgres);
    let mut params = vec![Param::Id(Id(ws.0)), Param::Id(Id(pipeline.id.0))];
    params.extend(owner.map(|owner| Param::Text(owner.0.hyphenated().to_string())));
    let sums: Vec<StageSumRow> =
        per_backend!(&mut conn, |c| bind_all(diesel::sql_query(sql.clone()).into_boxed(), &params).load(c).await)?;
    drop(conn);

    let sort = DealSort { field: DealSortField::UpdatedAt, descending: true };
    let mut stages = Vec::new();
    for stage in pipeline.stages.iter().filter(|s| s.kind == StageKind::Open) {
        let own: Vec<&StageSumRow> = sums.iter().filter(|r| r.stage_id.0 == stage.id.0).collect();
        let filter = DealFilter {
            stage_id: Some(stage.id),
            status: Some(DealStatus::Open),
            owner_id: owner,
            ..DealFilter::default()
        };
        let mut deals = list(store, ws, &filter, sort, None, limit).await?;
        let next_cursor = if deals.len() > limit as usize {
            deals.truncate(limit as usize);
            deals.last().map(|d| sort.cursor_after(d).encode())
        } else {
            None
        };
        stages.push(BoardStage {
            stage: stage.clone(),
            deal_count: own.iter().map(|r| r.deal_count).sum(),
            amounts: own
                .iter()
                .map(|r| StageAmount {
                    currency: r.currency.clone(),
                    amount_minor: r.amount_minor,
                    weighted_minor: r.weighted_minor,
                })
                .collect(),
            deals,
            next_cursor,
        });
    }
    Ok(Board { pipeline_id: pipeline.id, stages })
}

#[derive(QueryableByName)]
struct ForecastSqlRow {
    #[diesel(sql_type = Nullable<Text>)]
    period: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    currency: Option<String>,
    #[diesel(sql_type = BigInt)]
    open_count: i64,
    #[diesel(sql_type = BigInt)]
    open_amount_minor: i64,
    #[diesel(sql_type = BigInt)]
    weighted_amount_minor: i64,
    #[diesel(sql_type = BigInt)]
    won_count: i64,
    #[diesel(sql_type = BigInt)]
    won_amount_minor: i64,
}

/// Open deals expected to close in `[from, to]` (weighted by their stage's probability) and
/// deals won in that range (by `closed_at`, UTC days), grouped by month or owner and currency
/// in one SQL query. Periods are formatted by the database, so that SQL differs per backend.
pub async fn forecast(
    store: &Store,
    ws: WorkspaceId,
    pipeline: Option<PipelineId>,
    (from, to): (NaiveDate, NaiveDate),
    group_by: ForecastGroup,
) -> Result<Forecast, StoreError> {
    // It reads every deal of the range: a long read (see `Store::read_pooled`).
    let mut conn = store.read_pooled().await?;
    if let Some(id) = pipeline {
        pipelines::fetch(&mut conn, ws, id).await?;
    }
    let postgres = !matches!(conn, Conn::Sqlite(_));
    let sql = forecast_sql(group_by, pipeline.is_some(), postgres);
    let day = |d: NaiveDate| Param::Text(d.format("%Y-%m-%d").to_string());
    let mut params = vec![Param::Id(Id(ws.0)), day(from), day(to)];
    params.extend(pipeline.map(|p| Param::Id(Id(p.0))));
    let rows: Vec<ForecastSqlRow> =
        per_backend!(&mut conn, |c| bind_all(diesel::sql_query(sql.clone()).into_boxed(), &params).load(c).await)?;
    let mut rows: Vec<ForecastRow> = rows
        .into_iter()
        .map(|r| ForecastRow {
            period: r.period,
            currency: r.currency,
            open_count: r.open_count,
            open_amount_minor: r.open_amount_minor,
            weighted_amount_minor: r.weighted_amount_minor,
            won_count: r.won_count,
            won_amount_minor: r.won_amount_minor,
        })
        .collect();
    // The same order on both databases: groups without a period or currency last.
    rows.sort_by(|a, b| {
        (a.period.is_none(), &a.period, a.currency.is_none(), &a.currency).cmp(&(
            b.period.is_none(),
            &b.period,
            b.currency.is_none(),
            &b.currency,
        ))
    });
    Ok(Forecast { group_by, from, to, rows })
}

/// The forecast's statement (binds: workspace, first and last day, the pipeline if
/// `in_pipeline`). Summed from the rollups: their `day` is the close date of open deals and the
/// UTC day of `closed_at` of won ones, so the range applies per day exactly as on the deals.
pub(crate) fn forecast_sql(group_by: ForecastGroup, in_pipeline: bool, postgres: bool) -> String {
    let period = match group_by {
        ForecastGroup::Month => "substr(r.day, 1, 7)",
        ForecastGroup::Owner => "NULLIF(r.owner_key, '')",
    };
    let in_pipeline = if in_pipeline { " AND r.pipeline_id = ?" } else { "" };
    let open = "CASE WHEN r.status = 'open'";
    let won = "CASE WHEN r.status = 'won'";
    let sql = format!(
        "SELECT {period} AS period, NULLIF(r.currency_key, '') AS currency, \
         CAST(SUM({open} THEN r.deal_count ELSE 0 END) AS BIGINT) AS open_count, \
         CAST(SUM({open} THEN r.amount_minor ELSE 0 END) AS BIGINT) AS open_amount_minor, \
         CAST(SUM({open} THEN r.weighted_minor ELSE 0 END) AS BIGINT) AS weighted_amount_minor, \
         CAST(SUM({won} THEN r.deal_count ELSE 0 END) AS BIGINT) AS won_count, \
         CAST(SUM({won} THEN r.amount_minor ELSE 0 END) AS BIGINT) AS won_amount_minor \
         FROM deal_rollups r \
         WHERE r.workspace_id = ? AND r.status IN ('open', 'won') AND r.day >= ? AND r.day <= ?{in_pipeline} \
         GROUP BY 1, 2 HAVING SUM(r.deal_count) <> 0"
    );
    placeholders(&sql, postgres)
}
