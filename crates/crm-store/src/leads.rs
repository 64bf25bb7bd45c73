//! Leads: rows, the mapping to domain types, and every query, scoped by workspace. The score is
//! computed from the workspace's rules inside each write transaction; a live email is unique
//! per workspace (partial unique index), which also makes concurrent web-form captures safe.

use crm_domain::audit::{AuditAction, Change, diff};
use crm_domain::lead::{
    Lead, LeadCursor, LeadFilter, LeadInput, LeadMeta, LeadSort, LeadSortField, LeadSource, LeadStatus,
};
use crm_domain::scoring::{ScoreReason, score};
use crm_domain::{CustomerId, DealId, LeadId, UserId, ValidationErrors, WebFormId, WorkspaceId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::audit::NewAuditRow;
use crate::error::is_unique_violation;
use crate::query::{Cached, RenderedSelection, keyset, like_pattern};
use crate::schema::{audit_events, lead_tags, leads};
use crate::scoring_rules::rules_of;
use crate::types::{Id, Json, Ts, now};
use crate::{Conn, Context, Store, StoreError, per_backend, write_tx};

pub(crate) const ENTITY: &str = "lead";
/// Leads rescored per transaction when the rules change: short enough not to hold the
/// (SQLite: only) writer for long, big enough that a round trip serves many rows.
const RESCORE_BATCH: i64 = 250;

pub(crate) static LEAD_COLUMNS: RenderedSelection<LeadRow> = RenderedSelection::new();

#[derive(Queryable, Selectable)]
#[diesel(table_name = leads)]
pub(crate) struct LeadRow {
    id: Id,
    source: String,
    status: String,
    first_name: Option<String>,
    last_name: Option<String>,
    company_name: Option<String>,
    job_title: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    website: Option<String>,
    industry: Option<String>,
    country: Option<String>,
    city: Option<String>,
    owner_id: Option<Id>,
    utm_source: Option<String>,
    utm_medium: Option<String>,
    utm_campaign: Option<String>,
    form_data: Json,
    tags: Json,
    details: Json,
    score: i32,
    score_reasons: Json,
    web_form_id: Option<Id>,
    converted_customer_id: Option<Id>,
    converted_deal_id: Option<Id>,
    converted_at: Option<Ts>,
    version: i64,
    created_at: Ts,
    updated_at: Ts,
    deleted_at: Option<Ts>,
}

/// The data columns (with the derived score), shared by insert and update.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = leads, treat_none_as_null = true, treat_none_as_default_value = false)]
pub(crate) struct LeadData {
    source: &'static str,
    status: &'static str,
    first_name: Option<String>,
    last_name: Option<String>,
    company_name: Option<String>,
    job_title: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    website: Option<String>,
    industry: Option<String>,
    country: Option<String>,
    city: Option<String>,
    owner_id: Option<Id>,
    utm_source: Option<String>,
    utm_medium: Option<String>,
    utm_campaign: Option<String>,
    form_data: Json,
    tags: Json,
    details: Json,
    score: i32,
    score_reasons: Json,
    search_text: String,
}

impl LeadData {
    /// The columns of `lead`, scored with `rules`.
    pub(crate) fn scored(lead: &LeadInput, rules: &[crm_domain::scoring::ScoringRule]) -> LeadData {
        let (points, reasons) = score(lead, rules);
        LeadData {
            source: lead.source.as_str(),
            status: lead.status.as_str(),
            first_name: lead.first_name.clone(),
            last_name: lead.last_name.clone(),
            company_name: lead.company_name.clone(),
            job_title: lead.job_title.clone(),
            email: lead.email.clone(),
            phone: lead.phone.clone(),
            website: lead.website.clone(),
            industry: lead.industry.clone(),
            country: lead.country.clone(),
            city: lead.city.clone(),
            owner_id: lead.owner_id.map(|u| Id(u.0)),
            utm_source: lead.utm_source.clone(),
            utm_medium: lead.utm_medium.clone(),
            utm_campaign: lead.utm_campaign.clone(),
            form_data: Json::of(&lead.form_data),
            tags: Json::of(&lead.tags),
            details: Json(serde_json::json!({"notes": lead.notes, "lost_reason": lead.lost_reason})),
            score: points,
            score_reasons: Json::of(&reasons),
            search_text: lead.search_text(),
        }
    }
}

/// Long texts nobody filters on, in one JSON column (diesel tables stop at 32 columns).
#[derive(serde::Deserialize)]
struct Details {
    notes: Option<String>,
    lost_reason: Option<String>,
}

impl TryFrom<LeadRow> for Lead {
    type Error = StoreError;
    fn try_from(r: LeadRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str, value: &str| StoreError::Corrupt(format!("lead {what} {value:?}"));
        let details: Details = r.details.decode()?;
        let data = LeadInput {
            source: LeadSource::parse(&r.source).ok_or_else(|| corrupt("source", &r.source))?,
            status: LeadStatus::parse(&r.status).ok_or_else(|| corrupt("status", &r.status))?,
            first_name: r.first_name,
            last_name: r.last_name,
            company_name: r.company_name,
            job_title: r.job_title,
            email: r.email,
            phone: r.phone,
            website: r.website,
            industry: r.industry,
            country: r.country,
            city: r.city,
            owner_id: r.owner_id.map(|id| UserId(id.0)),
            utm_source: r.utm_source,
            utm_medium: r.utm_medium,
            utm_campaign: r.utm_campaign,
            form_data: r.form_data.decode()?,
            tags: r.tags.decode()?,
            notes: details.notes,
            lost_reason: details.lost_reason,
        };
        let score_reasons: Vec<ScoreReason> = r.score_reasons.decode()?;
        let meta = LeadMeta {
            score: r.score,
            score_reasons,
            web_form_id: r.web_form_id.map(|id| WebFormId(id.0)),
            converted_customer_id: r.converted_customer_id.map(|id| CustomerId(id.0)),
            converted_deal_id: r.converted_deal_id.map(|id| DealId(id.0)),
            converted_at: r.converted_at.map(|t| t.0),
            version: r.version,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
            deleted_at: r.deleted_at.map(|t| t.0),
        };
        Ok(Lead::new(LeadId(r.id.0), data, meta))
    }
}

#[derive(Insertable)]
#[diesel(table_name = lead_tags, treat_none_as_default_value = false)]
pub(crate) struct TagRow {
    workspace_id: Id,
    lead_id: Id,
    tag: String,
}

pub(crate) fn tag_rows(ws: WorkspaceId, id: LeadId, tags: &[String]) -> Vec<TagRow> {
    tags.iter().map(|tag| TagRow { workspace_id: Id(ws.0), lead_id: Id(id.0), tag: tag.clone() }).collect()
}

/// Inserts a new lead, scored with the workspace's rules read in the same transaction, with
/// its tags and audit event. Expands inside a `write_tx!` body (`$c` is its connection) and
/// evaluates to the inserted `LeadRow`. A live lead with the same email is a unique violation.
macro_rules! insert_lead {
    ($c:ident, $ws:expr, $id:expr, $input:expr, $web_form:expr, $at:expr, $audit:expr) => {{
        let rules = $crate::scoring_rules::rules_of!($c, $ws);
        let data = $crate::leads::LeadData::scored($input, &rules);
        let row: $crate::leads::LeadRow = diesel::insert_into($crate::schema::leads::table)
            .values((
                $crate::schema::leads::id.eq(Id($id.0)),
                $crate::schema::leads::workspace_id.eq(Id($ws.0)),
                &data,
                $crate::schema::leads::web_form_id.eq($web_form.map(|f: crm_domain::WebFormId| Id(f.0))),
                $crate::schema::leads::version.eq(1),
                $crate::schema::leads::created_at.eq(Ts($at)),
                $crate::schema::leads::updated_at.eq(Ts($at)),
            ))
            .returning($crate::leads::LeadRow::as_returning())
            .get_result($c)
            .await?;
        for tag in $crate::leads::tag_rows($ws, $id, &$input.tags) {
            diesel::insert_into($crate::schema::lead_tags::table).values(&tag).execute($c).await?;
        }
        diesel::insert_into($crate::schema::audit_events::table).values($audit).execute($c).await?;
        row
    }};
}
pub(crate) use insert_lead;

/// Checks that the owner is an active user of this workspace.
async fn check_references(conn: &mut Conn, ws: WorkspaceId, input: &LeadInput) -> Result<(), StoreError> {
    let mut errors = ValidationErrors::default();
    crate::refs::check_user(conn, ws, input.owner_id, "owner_id", &mut errors).await?;
    errors.into_result(()).map_err(StoreError::Invalid)
}

/// The live lead of the workspace with this (normalised) email.
pub(crate) async fn live_with_email(
    conn: &mut Conn,
    ws: WorkspaceId,
    email: &str,
) -> Result<Option<LeadId>, StoreError> {
    let id: Option<Id> = per_backend!(conn, |c| leads::table
        .filter(leads::workspace_id.eq(Id(ws.0)))
        .filter(leads::email.eq(email))
        .filter(leads::deleted_at.is_null())
        .select(leads::id)
        .get_result(c)
        .await
        .optional())?;
    Ok(id.map(|id| LeadId(id.0)))
}

/// Turns a unique violation on the email into `lead_exists`, naming the lead that has it.
async fn email_conflict(conn: &mut Conn, ws: WorkspaceId, email: Option<&str>, error: StoreError) -> StoreError {
    if !is_unique_violation(&error) {
        return error;
    }
    let existing = match email {
        Some(email) => live_with_email(conn, ws, email).await.ok().flatten(),
        None => None,
    };
    match existing {
        Some(id) => StoreError::conflict("lead_exists", format!("lead {id} already has this email")),
        None => StoreError::conflict("lead_exists", "a lead with this email already exists"),
    }
}

pub async fn create(store: &Store, ctx: &Context, input: LeadInput) -> Result<Lead, StoreError> {
    let mut conn = store.write().await?;
    check_references(&mut conn, ctx.workspace_id, &input).await?;
    let id = LeadId::generate();
    let at = now();
    let changes = diff(&serde_json::json!({}), &serde_json::to_value(&input).unwrap_or_default());
    let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Create, &changes, at);
    let ws = ctx.workspace_id;
    let result: Result<LeadRow, StoreError> =
        write_tx!(&mut conn, |c| { Ok(insert_lead!(c, ws, id, &input, None::<WebFormId>, at, &audit)) });
    match result {
        Ok(row) => row.try_into(),
        Err(e) => Err(email_conflict(&mut conn, ws, input.email.as_deref(), e).await),
    }
}

/// One lead; deleted ones only when `include_deleted`.
pub async fn get(store: &Store, ws: WorkspaceId, id: LeadId, include_deleted: bool) -> Result<Lead, StoreError> {
    let mut conn = store.read().await?;
    fetch(&mut conn, ws, id, include_deleted).await
}

pub(crate) async fn fetch(
    conn: &mut Conn,
    ws: WorkspaceId,
    id: LeadId,
    include_deleted: bool,
) -> Result<Lead, StoreError> {
    let row: LeadRow = per_backend!(conn, |c| {
        let query = leads::table
            .filter(leads::workspace_id.eq(Id(ws.0)))
            .filter(leads::id.eq(Id(id.0)))
            .select(LEAD_COLUMNS.as_select());
        if include_deleted {
            query.get_result(c).await
        } else {
            query.filter(leads::deleted_at.is_null()).get_result(c).await
        }
    })?;
    row.try_into()
}

/// A page of leads (`limit + 1` rows, so the caller can tell whether more exist).
pub async fn list(
    store: &Store,
    ws: WorkspaceId,
    filter: &LeadFilter,
    sort: LeadSort,
    after: Option<&LeadCursor>,
    limit: u32,
) -> Result<Vec<Lead>, StoreError> {
    let mut conn = store.read().await?;
    let after_time = after.and_then(|c| c.at.map(|at| (Ts(at), Id(c.id))));
    let after_score = after.and_then(|c| c.score.map(|s| (s, Id(c.id))));
    let rows: Vec<LeadRow> = per_backend!(&mut conn, |c| {
        let mut query = leads::table
            .filter(leads::workspace_id.eq(Id(ws.0)))
            .select(LEAD_COLUMNS.as_select())
            .limit(i64::from(limit) + 1)
            .into_boxed();
        query = if filter.deleted {
            query.filter(leads::deleted_at.is_not_null())
        } else {
            query.filter(leads::deleted_at.is_null())
        };
        if let Some(status) = filter.status {
            query = query.filter(leads::status.eq(status.as_str()));
        }
        if let Some(source) = filter.source {
            query = query.filter(leads::source.eq(source.as_str()));
        }
        if let Some(owner) = filter.owner_id {
            query = query.filter(leads::owner_id.eq(Id(owner.0)));
        }
        if let Some(form) = filter.web_form_id {
            query = query.filter(leads::web_form_id.eq(Id(form.0)));
        }
        if let Some(email) = &filter.email {
            query = query.filter(leads::email.eq(email.clone()));
        }
        if let Some(v) = &filter.utm_source {
            query = query.filter(leads::utm_source.eq(v.clone()));
        }
        if let Some(v) = &filter.utm_medium {
            query = query.filter(leads::utm_medium.eq(v.clone()));
        }
        if let Some(v) = &filter.utm_campaign {
            query = query.filter(leads::utm_campaign.eq(v.clone()));
        }
        if let Some(min) = filter.score_min {
            query = query.filter(leads::score.ge(min));
        }
        if let Some(max) = filter.score_max {
            query = query.filter(leads::score.le(max));
        }
        for tag in &filter.tags {
            query = query.filter(
                leads::id.eq_any(
                    lead_tags::table
                        .filter(lead_tags::workspace_id.eq(Id(ws.0)))
                        .filter(lead_tags::tag.eq(tag.clone()))
                        .select(lead_tags::lead_id),
                ),
            );
        }
        if let Some(t) = filter.created_after {
            query = query.filter(leads::created_at.ge(Ts(t)));
        }
        if let Some(t) = filter.created_before {
            query = query.filter(leads::created_at.lt(Ts(t)));
        }
        if let Some(q) = &filter.q {
            query = query.filter(leads::search_text.like(like_pattern(q)).escape('\\'));
        }
        query = match (sort.field, sort.descending) {
            (LeadSortField::CreatedAt, false) => keyset!(query, after_time, leads::created_at, leads::id, ge, gt, asc),
            (LeadSortField::CreatedAt, true) => keyset!(query, after_time, leads::created_at, leads::id, le, lt, desc),
            (LeadSortField::UpdatedAt, false) => keyset!(query, after_time, leads::updated_at, leads::id, ge, gt, asc),
            (LeadSortField::UpdatedAt, true) => keyset!(query, after_time, leads::updated_at, leads::id, le, lt, desc),
            (LeadSortField::Score, false) => keyset!(query, after_score, leads::score, leads::id, ge, gt, asc),
            (LeadSortField::Score, true) => keyset!(query, after_score, leads::score, leads::id, le, lt, desc),
        };
        query.load(c).await
    })?;
    rows.into_iter().map(Lead::try_from).collect()
}

/// Applies `change` to the current lead and stores the result (rescored), guarded by its
/// version. With `if_match`, a stale version is a `VersionMismatch`; without, a concurrent
/// write between our read and our update is retried on the fresh row.
pub async fn update(
    store: &Store,
    ctx: &Context,
    id: LeadId,
    if_match: Option<i64>,
    change: impl Fn(&Lead) -> Result<LeadInput, ValidationErrors>,
) -> Result<Lead, StoreError> {
    apply(store, ctx, id, if_match, (AuditAction::Update, None), change).await
}

/// Hands the lead to another owner; the reason goes to the history.
pub async fn reassign(
    store: &Store,
    ctx: &Context,
    id: LeadId,
    if_match: Option<i64>,
    owner: UserId,
    reason: String,
) -> Result<Lead, StoreError> {
    apply(store, ctx, id, if_match, (AuditAction::Reassign, Some(reason)), |current| {
        Ok(LeadInput { owner_id: Some(owner), ..current.data.clone() })
    })
    .await
}

async fn apply(
    store: &Store,
    ctx: &Context,
    id: LeadId,
    if_match: Option<i64>,
    (action, reason): (AuditAction, Option<String>),
    change: impl Fn(&Lead) -> Result<LeadInput, ValidationErrors>,
) -> Result<Lead, StoreError> {
    let ws = ctx.workspace_id;
    let mut conn = store.write().await?;
    for _ in 0..3 {
        let current = fetch(&mut conn, ws, id, false).await?;
        if if_match.is_some_and(|v| v != current.version) {
            return Err(StoreError::VersionMismatch { current: current.version });
        }
        let next = change(&current).map_err(StoreError::Invalid)?;
        check_references(&mut conn, ws, &next).await?;
        let before = serde_json::to_value(&current.data).unwrap_or_default();
        let changes = diff(&before, &serde_json::to_value(&next).unwrap_or_default());
        if changes.is_empty() {
            return Ok(current);
        }
        let at = now();
        let audit = NewAuditRow::new(ctx, ENTITY, id.0, action, &changes, at).with_reason(reason.clone());
        let tags = tag_rows(ws, id, &next.tags);
        let result: Result<Option<LeadRow>, StoreError> = write_tx!(&mut conn, |c| {
            let rules = rules_of!(c, ws);
            let data = LeadData::scored(&next, &rules);
            let row = Cached(
                diesel::update(
                    leads::table
                        .filter(leads::workspace_id.eq(Id(ws.0)))
                        .filter(leads::id.eq(Id(id.0)))
                        .filter(leads::version.eq(current.version))
                        .filter(leads::deleted_at.is_null()),
                )
                .set((&data, leads::version.eq(current.version + 1), leads::updated_at.eq(Ts(at))))
                .returning(LeadRow::as_returning()),
            )
            .get_result(c)
            .await
            .optional()?;
            if row.is_some() {
                diesel::delete(lead_tags::table.filter(lead_tags::lead_id.eq(Id(id.0)))).execute(c).await?;
                for tag in &tags {
                    diesel::insert_into(lead_tags::table).values(tag).execute(c).await?;
                }
                diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
            }
            Ok(row)
        });
        let row = match result {
            Ok(row) => row,
            Err(e) => return Err(email_conflict(&mut conn, ws, next.email.as_deref(), e).await),
        };
        match row {
            Some(row) => return row.try_into(),
            None if if_match.is_some() => {
                let current = fetch(&mut conn, ws, id, false).await?;
                return Err(StoreError::VersionMismatch { current: current.version });
            }
            None => continue,
        }
    }
    Err(StoreError::conflict("edit_conflict", "the lead kept changing; retry the request"))
}

/// Soft-deletes (`deleted = true`) or restores (`deleted = false`) a lead. A restored lead is
/// rescored (rules may have changed meanwhile) and must not share its email with a live lead.
pub async fn set_deleted(
    store: &Store,
    ctx: &Context,
    id: LeadId,
    if_match: Option<i64>,
    deleted: bool,
) -> Result<Lead, StoreError> {
    let ws = ctx.workspace_id;
    let mut conn = store.write().await?;
    let current = fetch(&mut conn, ws, id, true).await?;
    if current.deleted_at.is_some() == deleted {
        // A deleted lead is not found by DELETE; restoring a live one changes nothing.
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
    let result: Result<Option<LeadRow>, StoreError> = write_tx!(&mut conn, |c| {
        let rules = rules_of!(c, ws);
        let (points, reasons) = score(&current.data, &rules);
        let row = diesel::update(
            leads::table
                .filter(leads::workspace_id.eq(Id(ws.0)))
                .filter(leads::id.eq(Id(id.0)))
                .filter(leads::version.eq(current.version)),
        )
        .set((
            leads::deleted_at.eq(deleted_at),
            leads::score.eq(points),
            leads::score_reasons.eq(Json::of(&reasons)),
            leads::version.eq(current.version + 1),
            leads::updated_at.eq(Ts(at)),
        ))
        .returning(LeadRow::as_returning())
        .get_result(c)
        .await
        .optional()?;
        if row.is_some() {
            diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        }
        Ok(row)
    });
    match result {
        Ok(Some(row)) => row.try_into(),
        Ok(None) => Err(StoreError::VersionMismatch { current: current.version + 1 }),
        Err(e) => Err(email_conflict(&mut conn, ws, current.data.email.as_deref(), e).await),
    }
}

/// The cursor that resumes a list after `lead`.
pub fn cursor_after(sort: LeadSort, lead: &Lead) -> LeadCursor {
    sort.cursor_after(lead)
}

/// Whether a lead exists in the workspace (deleted or not): history stays readable.
pub async fn exists(store: &Store, ws: WorkspaceId, id: LeadId) -> Result<bool, StoreError> {
    let mut conn = store.read().await?;
    let n: i64 = per_backend!(&mut conn, |c| leads::table
        .filter(leads::workspace_id.eq(Id(ws.0)))
        .filter(leads::id.eq(Id(id.0)))
        .count()
        .get_result(c)
        .await)?;
    Ok(n > 0)
}

/// Recomputes the score of every live lead of the workspace, `RESCORE_BATCH` leads per
/// transaction (each reads the rules afresh). The version and `updated_at` stay: the score is
/// derived, not edited. Returns how many scores changed.
pub(crate) async fn rescore_workspace(conn: &mut Conn, ws: WorkspaceId) -> Result<u64, StoreError> {
    let mut after: Option<Id> = None;
    let mut changed = 0u64;
    loop {
        let (n, last, batch_changed): (usize, Option<Id>, u64) = write_tx!(&mut *conn, |c| {
            let rules = rules_of!(c, ws);
            let mut query = leads::table
                .filter(leads::workspace_id.eq(Id(ws.0)))
                .filter(leads::deleted_at.is_null())
                .select(LEAD_COLUMNS.as_select())
                .order(leads::id.asc())
                .limit(RESCORE_BATCH)
                .into_boxed();
            if let Some(after) = after {
                query = query.filter(leads::id.gt(after));
            }
            let rows: Vec<LeadRow> = query.load(c).await?;
            let (n, last) = (rows.len(), rows.last().map(|r| r.id));
            let mut batch_changed = 0;
            for row in rows {
                let lead = Lead::try_from(row)?;
                let (points, reasons) = score(&lead.data, &rules);
                if points != lead.score || reasons != lead.score_reasons {
                    diesel::update(leads::table.filter(leads::id.eq(Id(lead.id.0))))
                        .set((leads::score.eq(points), leads::score_reasons.eq(Json::of(&reasons))))
                        .execute(c)
                        .await?;
                    batch_changed += 1;
                }
            }
            Ok((n, last, batch_changed))
        })?;
        changed += batch_changed;
        if n < RESCORE_BATCH as usize {
            return Ok(changed);
        }
        after = last;
    }
}
