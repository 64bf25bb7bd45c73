//! Pipelines and their stages: rows, queries, and every configuration change, each bumping
//! the pipeline's version and audited (entity `pipeline`) in the same transaction.

use chrono::{DateTime, Utc};
use crm_domain::access::Actor;
use crm_domain::audit::{AuditAction, diff};
use crm_domain::pipeline::{
    DEFAULT_PIPELINE_NAME, Pipeline, PipelineChange, Stage, StageChange, StageInput, StageKind, check_stage_kinds,
    default_stages, is_permutation,
};
use crm_domain::{PipelineId, StageId, ValidationErrors, WorkspaceId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::audit::NewAuditRow;
use crate::schema::{audit_events, deal_rollups, deals, pipeline_stages, pipelines, workspaces};
use crate::types::{Id, Ts, now};
use crate::{Conn, Context, Store, StoreError, per_backend, write_tx};

pub(crate) const ENTITY: &str = "pipeline";

#[derive(Queryable, Selectable)]
#[diesel(table_name = pipelines)]
struct PipelineRow {
    id: Id,
    name: String,
    is_default: bool,
    version: i64,
    created_at: Ts,
    updated_at: Ts,
}

#[derive(Insertable)]
#[diesel(table_name = pipelines, treat_none_as_default_value = false)]
pub(crate) struct NewPipelineRow {
    id: Id,
    workspace_id: Id,
    name: String,
    is_default: bool,
    version: i64,
    created_at: Ts,
    updated_at: Ts,
}

#[derive(Queryable, Selectable, Insertable, Clone)]
#[diesel(table_name = pipeline_stages, treat_none_as_default_value = false)]
pub(crate) struct StageRow {
    pub(crate) id: Id,
    pub(crate) workspace_id: Id,
    pub(crate) pipeline_id: Id,
    pub(crate) name: String,
    pub(crate) position: i32,
    pub(crate) win_probability: i32,
    pub(crate) kind: String,
}

impl TryFrom<StageRow> for Stage {
    type Error = StoreError;
    fn try_from(r: StageRow) -> Result<Stage, StoreError> {
        Ok(Stage {
            id: StageId(r.id.0),
            kind: StageKind::parse(&r.kind).ok_or_else(|| StoreError::Corrupt(format!("stage kind {:?}", r.kind)))?,
            name: r.name,
            position: r.position,
            win_probability: r.win_probability,
        })
    }
}

fn stage_row(ws: WorkspaceId, pipeline: PipelineId, stage: &Stage) -> StageRow {
    StageRow {
        id: Id(stage.id.0),
        workspace_id: Id(ws.0),
        pipeline_id: Id(pipeline.0),
        name: stage.name.clone(),
        position: stage.position,
        win_probability: stage.win_probability,
        kind: stage.kind.as_str().to_owned(),
    }
}

fn assemble(row: PipelineRow, stages: Vec<StageRow>) -> Result<Pipeline, StoreError> {
    let mut stages = stages.into_iter().map(Stage::try_from).collect::<Result<Vec<_>, _>>()?;
    stages.sort_by_key(|s| s.position);
    Ok(Pipeline {
        id: PipelineId(row.id.0),
        name: row.name,
        is_default: row.is_default,
        stages,
        version: row.version,
        created_at: row.created_at.0,
        updated_at: row.updated_at.0,
    })
}

/// What the audit log shows of a pipeline: its configuration, stages by position.
fn audited(pipeline: &Pipeline) -> serde_json::Value {
    serde_json::json!({"name": pipeline.name, "is_default": pipeline.is_default, "stages": pipeline.stages})
}

/// A pipeline ready to insert, with its stages and its audit event.
pub(crate) struct NewPipeline {
    pub(crate) id: PipelineId,
    pub(crate) row: NewPipelineRow,
    pub(crate) stages: Vec<StageRow>,
    pub(crate) audit: NewAuditRow,
}

impl NewPipeline {
    pub(crate) fn new(ctx: &Context, change: &PipelineChange, inputs: &[StageInput], at: DateTime<Utc>) -> NewPipeline {
        let id = PipelineId::generate();
        let stages: Vec<Stage> = inputs
            .iter()
            .zip(0..)
            .map(|(s, position)| Stage {
                id: StageId::generate(),
                name: s.name.clone(),
                position,
                win_probability: s.win_probability,
                kind: s.kind,
            })
            .collect();
        let pipeline = Pipeline {
            id,
            name: change.name.clone(),
            is_default: change.is_default,
            stages,
            version: 1,
            created_at: at,
            updated_at: at,
        };
        let changes = diff(&serde_json::json!({}), &audited(&pipeline));
        NewPipeline {
            id,
            row: NewPipelineRow {
                id: Id(id.0),
                workspace_id: Id(ctx.workspace_id.0),
                name: pipeline.name.clone(),
                is_default: pipeline.is_default,
                version: 1,
                created_at: Ts(at),
                updated_at: Ts(at),
            },
            stages: pipeline.stages.iter().map(|s| stage_row(ctx.workspace_id, id, s)).collect(),
            audit: NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Create, &changes, at),
        }
    }

    /// The "Sales" pipeline every workspace starts with.
    pub(crate) fn default_for(ctx: &Context, at: DateTime<Utc>) -> NewPipeline {
        let change = PipelineChange { name: DEFAULT_PIPELINE_NAME.to_owned(), is_default: true };
        NewPipeline::new(ctx, &change, &default_stages(), at)
    }
}

/// Inserts a [`NewPipeline`] (pipeline row, stage rows, audit event) inside a `write_tx!` body,
/// where `$c` is the backend's connection. Clearing another default is the caller's job.
macro_rules! insert_pipeline {
    ($c:expr, $new:expr) => {{
        let new: &$crate::pipelines::NewPipeline = $new;
        diesel_async::RunQueryDsl::execute(diesel::insert_into($crate::schema::pipelines::table).values(&new.row), $c)
            .await?;
        for stage in &new.stages {
            diesel_async::RunQueryDsl::execute(
                diesel::insert_into($crate::schema::pipeline_stages::table).values(stage),
                $c,
            )
            .await?;
        }
        diesel_async::RunQueryDsl::execute(
            diesel::insert_into($crate::schema::audit_events::table).values(&new.audit),
            $c,
        )
        .await?;
    }};
}
pub(crate) use insert_pipeline;

/// Clears the default flag of every other pipeline of the workspace, bumping their versions
/// and auditing each, inside a `write_tx!` body.
macro_rules! clear_other_defaults {
    ($c:expr, $ctx:expr, $keep:expr, $at:expr) => {{
        use diesel::prelude::*;
        let ctx: &$crate::Context = $ctx;
        let others: Vec<$crate::types::Id> = diesel_async::RunQueryDsl::load(
            $crate::schema::pipelines::table
                .filter($crate::schema::pipelines::workspace_id.eq($crate::types::Id(ctx.workspace_id.0)))
                .filter($crate::schema::pipelines::is_default.eq(true))
                .filter($crate::schema::pipelines::id.ne($crate::types::Id($keep.0)))
                .select($crate::schema::pipelines::id),
            $c,
        )
        .await?;
        for other in others {
            diesel_async::RunQueryDsl::execute(
                diesel::update($crate::schema::pipelines::table.filter($crate::schema::pipelines::id.eq(other))).set((
                    $crate::schema::pipelines::is_default.eq(false),
                    $crate::schema::pipelines::version.eq($crate::schema::pipelines::version + 1),
                    $crate::schema::pipelines::updated_at.eq($crate::types::Ts($at)),
                )),
                $c,
            )
            .await?;
            let change = crm_domain::audit::Change {
                field: "is_default".into(),
                from: serde_json::Value::Bool(true),
                to: serde_json::Value::Bool(false),
            };
            let audit = $crate::audit::NewAuditRow::new(
                ctx,
                $crate::pipelines::ENTITY,
                other.0,
                crm_domain::audit::AuditAction::Update,
                &[change],
                $at,
            );
            diesel_async::RunQueryDsl::execute(
                diesel::insert_into($crate::schema::audit_events::table).values(&audit),
                $c,
            )
            .await?;
        }
    }};
}

/// A foreign-key violation on delete means a deal still points at the row: a named conflict.
fn still_referenced(e: diesel::result::Error, code: &'static str, detail: &str) -> StoreError {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => StoreError::conflict(code, detail),
        other => other.into(),
    }
}

/// Creates a pipeline; with `is_default` it replaces the workspace's default.
pub async fn create(
    store: &Store,
    ctx: &Context,
    change: PipelineChange,
    stages: Vec<StageInput>,
) -> Result<Pipeline, StoreError> {
    let at = now();
    let new = NewPipeline::new(ctx, &change, &stages, at);
    let mut conn = store.write().await?;
    write_tx!(&mut conn, |c| {
        if new.row.is_default {
            clear_other_defaults!(c, ctx, new.id, at);
        }
        insert_pipeline!(c, &new);
        Ok(())
    })?;
    fetch(&mut conn, ctx.workspace_id, new.id).await
}

/// Gives every workspace without a pipeline the default one: run once at start-up, so that
/// databases created before pipelines existed upgrade. Returns how many were created.
pub async fn ensure_defaults(store: &Store) -> Result<usize, StoreError> {
    let mut conn = store.write().await?;
    let bare: Vec<Id> = per_backend!(&mut conn, |c| workspaces::table
        .filter(diesel::dsl::not(diesel::dsl::exists(
            pipelines::table.filter(pipelines::workspace_id.eq(workspaces::id)),
        )))
        .select(workspaces::id)
        .load(c)
        .await)?;
    for ws in &bare {
        let ctx =
            Context { workspace_id: WorkspaceId(ws.0), actor: Actor::System, request_id: None, idempotency_key: None };
        let new = NewPipeline::default_for(&ctx, now());
        write_tx!(&mut conn, |c| {
            insert_pipeline!(c, &new);
            Ok(())
        })?;
    }
    Ok(bare.len())
}

pub async fn get(store: &Store, ws: WorkspaceId, id: PipelineId) -> Result<Pipeline, StoreError> {
    fetch(&mut store.read().await?, ws, id).await
}

pub(crate) async fn fetch(conn: &mut Conn, ws: WorkspaceId, id: PipelineId) -> Result<Pipeline, StoreError> {
    let (row, stages): (PipelineRow, Vec<StageRow>) = per_backend!(conn, |c| {
        let row = pipelines::table
            .filter(pipelines::workspace_id.eq(Id(ws.0)))
            .filter(pipelines::id.eq(Id(id.0)))
            .select(PipelineRow::as_select())
            .get_result(c)
            .await?;
        let stages = pipeline_stages::table
            .filter(pipeline_stages::pipeline_id.eq(Id(id.0)))
            .select(StageRow::as_select())
            .load(c)
            .await?;
        Ok((row, stages))
    })?;
    assemble(row, stages)
}

/// The workspace's default pipeline.
pub(crate) async fn fetch_default(conn: &mut Conn, ws: WorkspaceId) -> Result<Pipeline, StoreError> {
    let id: Id = per_backend!(conn, |c| pipelines::table
        .filter(pipelines::workspace_id.eq(Id(ws.0)))
        .filter(pipelines::is_default.eq(true))
        .select(pipelines::id)
        .get_result(c)
        .await)?;
    fetch(conn, ws, PipelineId(id.0)).await
}

/// The pipeline a stage of the workspace belongs to; `NotFound` for an unknown stage.
pub(crate) async fn fetch_by_stage(conn: &mut Conn, ws: WorkspaceId, stage: StageId) -> Result<Pipeline, StoreError> {
    let id: Id = per_backend!(conn, |c| pipeline_stages::table
        .filter(pipeline_stages::workspace_id.eq(Id(ws.0)))
        .filter(pipeline_stages::id.eq(Id(stage.0)))
        .select(pipeline_stages::pipeline_id)
        .get_result(c)
        .await)?;
    fetch(conn, ws, PipelineId(id.0)).await
}

/// Pipelines oldest first; `after` is the id the previous page ended on.
pub async fn list(
    store: &Store,
    ws: WorkspaceId,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<Pipeline>, StoreError> {
    let mut conn = store.read().await?;
    let (rows, stages): (Vec<PipelineRow>, Vec<StageRow>) = per_backend!(&mut conn, |c| {
        let mut query = pipelines::table
            .filter(pipelines::workspace_id.eq(Id(ws.0)))
            .order(pipelines::id.asc())
            .limit(i64::from(limit) + 1)
            .select(PipelineRow::as_select())
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(pipelines::id.gt(Id(after)));
        }
        let rows: Vec<PipelineRow> = query.load(c).await?;
        let ids: Vec<Id> = rows.iter().map(|r| r.id).collect();
        let stages = pipeline_stages::table
            .filter(pipeline_stages::pipeline_id.eq_any(ids))
            .select(StageRow::as_select())
            .load(c)
            .await?;
        Ok((rows, stages))
    })?;
    rows.into_iter()
        .map(|row| {
            let own = stages.iter().filter(|s| s.pipeline_id == row.id).cloned().collect();
            assemble(row, own)
        })
        .collect()
}

/// A stage being deleted, and where its deals go.
struct Removal {
    stage: StageId,
    move_deals_to: Option<StageId>,
}

/// Loads the pipeline, lets `edit` produce the next configuration, and saves it guarded by
/// the version (`If-Match`, else a retry on a concurrent change).
async fn mutate(
    store: &Store,
    ctx: &Context,
    id: PipelineId,
    if_match: Option<i64>,
    edit: impl Fn(&Pipeline) -> Result<(Pipeline, Option<Removal>), StoreError>,
) -> Result<Pipeline, StoreError> {
    let mut conn = store.write().await?;
    for _ in 0..3 {
        let current = fetch(&mut conn, ctx.workspace_id, id).await?;
        if if_match.is_some_and(|v| v != current.version) {
            return Err(StoreError::VersionMismatch { current: current.version });
        }
        let (next, removal) = edit(&current)?;
        let changes = diff(&audited(&current), &audited(&next));
        if changes.is_empty() {
            return Ok(current);
        }
        let at = now();
        let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Update, &changes, at);
        let saved = save(&mut conn, ctx, &current, &next, removal.as_ref(), audit, at).await?;
        match saved {
            true => return fetch(&mut conn, ctx.workspace_id, id).await,
            false if if_match.is_some() => {
                let current = fetch(&mut conn, ctx.workspace_id, id).await?;
                return Err(StoreError::VersionMismatch { current: current.version });
            }
            false => continue,
        }
    }
    Err(StoreError::conflict("edit_conflict", "the pipeline kept changing; retry the request"))
}

/// Writes `next` over `current` in one transaction; `false` when the version moved meanwhile.
async fn save(
    conn: &mut Conn,
    ctx: &Context,
    current: &Pipeline,
    next: &Pipeline,
    removal: Option<&Removal>,
    audit: NewAuditRow,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let ws = ctx.workspace_id;
    let inserted: Vec<StageRow> =
        next.stages.iter().filter(|s| current.stage(s.id).is_none()).map(|s| stage_row(ws, next.id, s)).collect();
    let updated: Vec<StageRow> = next
        .stages
        .iter()
        .filter(|s| current.stage(s.id).is_some_and(|old| old != *s))
        .map(|s| stage_row(ws, next.id, s))
        .collect();
    let mut rollups_stale: Vec<StageId> = next
        .stages
        .iter()
        .filter(|s| current.stage(s.id).is_some_and(|old| old.win_probability != s.win_probability))
        .map(|s| s.id)
        .collect();
    if let Some(removal) = removal {
        rollups_stale.push(removal.stage);
        rollups_stale.extend(removal.move_deals_to);
    }
    write_tx!(conn, |c| {
        // The version check comes first: it also locks the pipeline row until the commit.
        let bumped = diesel::update(
            pipelines::table
                .filter(pipelines::workspace_id.eq(Id(ws.0)))
                .filter(pipelines::id.eq(Id(next.id.0)))
                .filter(pipelines::version.eq(current.version)),
        )
        .set((
            pipelines::name.eq(&next.name),
            pipelines::version.eq(current.version + 1),
            pipelines::updated_at.eq(Ts(at)),
        ))
        .execute(c)
        .await?;
        if bumped == 0 {
            return Ok(false);
        }
        if next.is_default && !current.is_default {
            // The old default first: one default per workspace is a unique index.
            clear_other_defaults!(c, ctx, next.id, at);
            diesel::update(pipelines::table.filter(pipelines::id.eq(Id(next.id.0))))
                .set(pipelines::is_default.eq(true))
                .execute(c)
                .await?;
        }
        if let Some(removal) = removal {
            let in_stage: Vec<(Id, Id, i64)> = deals::table
                .filter(deals::workspace_id.eq(Id(ws.0)))
                .filter(deals::stage_id.eq(Id(removal.stage.0)))
                .select((deals::id, deals::customer_id, deals::version))
                .load(c)
                .await?;
            match removal.move_deals_to {
                None if !in_stage.is_empty() => {
                    return Err(StoreError::conflict(
                        "stage_not_empty",
                        format!(
                            "the stage holds {} deal(s), deleted ones included; pass move_deals_to=<stage id>",
                            in_stage.len()
                        ),
                    ));
                }
                None => {}
                Some(target) => {
                    for (deal, customer, version) in in_stage {
                        let (change, deal_audit) =
                            crate::deals::stage_move_rows(ctx, (deal.0, customer.0), removal.stage, target, at);
                        diesel::update(deals::table.filter(deals::id.eq(deal)))
                            .set((
                                deals::stage_id.eq(Id(target.0)),
                                deals::stage_entered_at.eq(Ts(at)),
                                deals::version.eq(version + 1),
                                deals::updated_at.eq(Ts(at)),
                            ))
                            .execute(c)
                            .await?;
                        diesel::insert_into(crate::schema::deal_stage_changes::table)
                            .values(&change)
                            .execute(c)
                            .await?;
                        diesel::insert_into(audit_events::table).values(&deal_audit).execute(c).await?;
                    }
                }
            }
            // A deal moved in after the count above still blocks the delete, as a conflict.
            diesel::delete(pipeline_stages::table.filter(pipeline_stages::id.eq(Id(removal.stage.0))))
                .execute(c)
                .await
                .map_err(|e| still_referenced(e, "stage_not_empty", "a deal entered the stage meanwhile"))?;
        }
        for stage in &updated {
            diesel::update(pipeline_stages::table.filter(pipeline_stages::id.eq(stage.id)))
                .set((
                    pipeline_stages::name.eq(&stage.name),
                    pipeline_stages::position.eq(stage.position),
                    pipeline_stages::win_probability.eq(stage.win_probability),
                ))
                .execute(c)
                .await?;
        }
        for stage in &inserted {
            diesel::insert_into(pipeline_stages::table).values(stage).execute(c).await?;
        }
        // The deal rollups of stages whose deals moved or whose weighting changed, recomputed.
        for stage in &rollups_stale {
            crate::deals::rebuild_stage_rollups!(c, ws, stage);
        }
        diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        Ok(true)
    })
}

/// Renames the pipeline or makes it the default.
pub async fn update(
    store: &Store,
    ctx: &Context,
    id: PipelineId,
    if_match: Option<i64>,
    change: impl Fn(&PipelineChange) -> Result<PipelineChange, ValidationErrors>,
) -> Result<Pipeline, StoreError> {
    mutate(store, ctx, id, if_match, |current| {
        let doc = PipelineChange { name: current.name.clone(), is_default: current.is_default };
        let next = change(&doc).map_err(StoreError::Invalid)?;
        if current.is_default && !next.is_default {
            return Err(StoreError::invalid(
                "is_default",
                "default_required",
                "a workspace always has a default pipeline: make another one the default instead",
            ));
        }
        Ok((Pipeline { name: next.name, is_default: next.is_default, ..current.clone() }, None))
    })
    .await
}

fn renumber(stages: &mut [Stage]) {
    for (stage, position) in stages.iter_mut().zip(0..) {
        stage.position = position;
    }
}

/// Adds a stage at `position` (the end when absent).
pub async fn add_stage(
    store: &Store,
    ctx: &Context,
    id: PipelineId,
    if_match: Option<i64>,
    input: StageInput,
) -> Result<Pipeline, StoreError> {
    mutate(store, ctx, id, if_match, |current| {
        let mut stages = current.stages.clone();
        let at = input.position.map_or(stages.len(), |p| usize::try_from(p).unwrap_or(0).min(stages.len()));
        let stage = Stage {
            id: StageId::generate(),
            name: input.name.clone(),
            position: 0,
            win_probability: input.win_probability,
            kind: input.kind,
        };
        stages.insert(at, stage);
        check_stage_kinds(stages.iter().map(|s| s.kind))
            .map_err(|(code, message)| StoreError::invalid("kind", code, &message))?;
        renumber(&mut stages);
        Ok((Pipeline { stages, ..current.clone() }, None))
    })
    .await
}

/// Renames a stage or changes its win probability.
pub async fn update_stage(
    store: &Store,
    ctx: &Context,
    id: PipelineId,
    stage: StageId,
    if_match: Option<i64>,
    change: impl Fn(&StageChange) -> Result<StageChange, ValidationErrors>,
) -> Result<Pipeline, StoreError> {
    mutate(store, ctx, id, if_match, |current| {
        let old = current.stage(stage).ok_or(StoreError::NotFound)?;
        let doc = StageChange { name: old.name.clone(), win_probability: old.win_probability };
        let next = change(&doc).map_err(StoreError::Invalid)?;
        let stages = current
            .stages
            .iter()
            .map(|s| {
                if s.id == stage {
                    Stage { name: next.name.clone(), win_probability: next.win_probability, ..s.clone() }
                } else {
                    s.clone()
                }
            })
            .collect();
        Ok((Pipeline { stages, ..current.clone() }, None))
    })
    .await
}

/// Deletes a stage. Its deals (deleted ones too) must go to `move_deals_to`, another stage of
/// the same pipeline and kind, so that their status stays what it was; each move is recorded.
pub async fn delete_stage(
    store: &Store,
    ctx: &Context,
    id: PipelineId,
    stage: StageId,
    if_match: Option<i64>,
    move_deals_to: Option<StageId>,
) -> Result<Pipeline, StoreError> {
    mutate(store, ctx, id, if_match, |current| {
        let old = current.stage(stage).ok_or(StoreError::NotFound)?;
        if let Some(target) = move_deals_to {
            let fits = target != stage && current.stage(target).is_some_and(|t| t.kind == old.kind);
            if !fits {
                return Err(StoreError::invalid(
                    "move_deals_to",
                    "invalid_value",
                    "must be another stage of this pipeline, of the same kind",
                ));
            }
        }
        let mut stages: Vec<Stage> = current.stages.iter().filter(|s| s.id != stage).cloned().collect();
        check_stage_kinds(stages.iter().map(|s| s.kind))
            .map_err(|(code, message)| StoreError::invalid("stage_id", code, &message))?;
        renumber(&mut stages);
        Ok((Pipeline { stages, ..current.clone() }, Some(Removal { stage, move_deals_to })))
    })
    .await
}

/// Puts the stages in the order given; `order` must name each stage once.
pub async fn reorder_stages(
    store: &Store,
    ctx: &Context,
    id: PipelineId,
    if_match: Option<i64>,
    order: Vec<StageId>,
) -> Result<Pipeline, StoreError> {
    mutate(store, ctx, id, if_match, |current| {
        let ids: Vec<StageId> = current.stages.iter().map(|s| s.id).collect();
        if !is_permutation(&ids, &order) {
            return Err(StoreError::invalid(
                "stage_ids",
                "mismatch",
                "must list every stage of the pipeline exactly once",
            ));
        }
        let mut stages: Vec<Stage> = order.iter().filter_map(|id| current.stage(*id).cloned()).collect();
        renumber(&mut stages);
        Ok((Pipeline { stages, ..current.clone() }, None))
    })
    .await
}

/// Deletes a pipeline for good: refused for the default and while any deal (deleted ones
/// included, since they can be restored) is in it.
pub async fn delete(store: &Store, ctx: &Context, id: PipelineId, if_match: Option<i64>) -> Result<(), StoreError> {
    let mut conn = store.write().await?;
    let current = fetch(&mut conn, ctx.workspace_id, id).await?;
    if if_match.is_some_and(|v| v != current.version) {
        return Err(StoreError::VersionMismatch { current: current.version });
    }
    if current.is_default {
        return Err(StoreError::conflict(
            "default_pipeline",
            "the default pipeline cannot be deleted: make another pipeline the default first",
        ));
    }
    let at = now();
    let changes = diff(&audited(&current), &serde_json::json!({}));
    let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Delete, &changes, at);
    write_tx!(&mut conn, |c| {
        let held: i64 = deals::table
            .filter(deals::workspace_id.eq(Id(ctx.workspace_id.0)))
            .filter(deals::pipeline_id.eq(Id(id.0)))
            .count()
            .get_result(c)
            .await?;
        if held > 0 {
            return Err(StoreError::conflict(
                "pipeline_not_empty",
                format!("the pipeline holds {held} deal(s), deleted ones included; move them first"),
            ));
        }
        let gone = diesel::delete(
            pipelines::table
                .filter(pipelines::workspace_id.eq(Id(ctx.workspace_id.0)))
                .filter(pipelines::id.eq(Id(id.0)))
                .filter(pipelines::version.eq(current.version)),
        )
        .execute(c)
        .await
        .map_err(|e| still_referenced(e, "pipeline_not_empty", "a deal entered the pipeline meanwhile"))?;
        if gone == 0 {
            return Err(StoreError::VersionMismatch { current: current.version + 1 });
        }
        // Emptied rollup rows of the pipeline (its deals all left it) go with it.
        diesel::delete(
            deal_rollups::table
                .filter(deal_rollups::workspace_id.eq(Id(ctx.workspace_id.0)))
                .filter(deal_rollups::pipeline_id.eq(Id(id.0))),
        )
        .execute(c)
        .await?;
        diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        Ok(())
    })
}
