//! Web forms and their submissions. A submission is linked to the live customer or lead that
//! already has its email, else it creates a lead; the partial unique index on lead emails
//! turns a concurrent duplicate into a unique violation, retried as a link.

use crm_domain::audit::{AuditAction, Change, diff};
use crm_domain::lead::LeadInput;
use crm_domain::web_form::{WebForm, WebFormInput};
use crm_domain::{LeadId, UserId, ValidationErrors, WebFormId, WorkspaceId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::audit::NewAuditRow;
use crate::error::is_unique_violation;
use crate::leads::insert_lead;
use crate::schema::{audit_events, customers, form_submissions, leads, web_forms};
use crate::types::{Id, Json, Ts, now};
use crate::{Conn, Context, Store, StoreError, per_backend, write_tx};

const ENTITY: &str = "web_form";

#[derive(Queryable, Selectable)]
#[diesel(table_name = web_forms)]
struct WebFormRow {
    id: Id,
    workspace_id: Id,
    name: String,
    public_token: String,
    allowed_origins: Json,
    field_mapping: Json,
    default_owner_id: Option<Id>,
    default_tags: Json,
    honeypot_field: Option<String>,
    active: bool,
    submission_count: i64,
    version: i64,
    created_at: Ts,
    updated_at: Ts,
    deleted_at: Option<Ts>,
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = web_forms, treat_none_as_null = true, treat_none_as_default_value = false)]
struct WebFormData {
    name: String,
    allowed_origins: Json,
    field_mapping: Json,
    default_owner_id: Option<Id>,
    default_tags: Json,
    honeypot_field: Option<String>,
    active: bool,
}

impl From<&WebFormInput> for WebFormData {
    fn from(f: &WebFormInput) -> Self {
        WebFormData {
            name: f.name.clone(),
            allowed_origins: Json::of(&f.allowed_origins),
            field_mapping: Json::of(&f.field_mapping),
            default_owner_id: f.default_owner_id.map(|u| Id(u.0)),
            default_tags: Json::of(&f.default_tags),
            honeypot_field: Some(f.honeypot_field.clone()),
            active: f.active,
        }
    }
}

impl WebFormRow {
    fn into_form(self) -> Result<(WorkspaceId, WebForm), StoreError> {
        let form = WebForm {
            id: WebFormId(self.id.0),
            name: self.name,
            allowed_origins: self.allowed_origins.decode()?,
            field_mapping: self.field_mapping.decode()?,
            default_owner_id: self.default_owner_id.map(|id| UserId(id.0)),
            default_tags: self.default_tags.decode()?,
            honeypot_field: self.honeypot_field.unwrap_or_default(),
            active: self.active,
            submission_path: WebForm::submission_path(&self.public_token),
            public_token: self.public_token,
            submission_count: self.submission_count,
            version: self.version,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
            deleted_at: self.deleted_at.map(|t| t.0),
        };
        Ok((WorkspaceId(self.workspace_id.0), form))
    }
}

fn to_form(row: WebFormRow) -> Result<WebForm, StoreError> {
    row.into_form().map(|(_, form)| form)
}

async fn check_references(conn: &mut Conn, ws: WorkspaceId, input: &WebFormInput) -> Result<(), StoreError> {
    let mut errors = ValidationErrors::default();
    crate::refs::check_user(conn, ws, input.default_owner_id, "default_owner_id", &mut errors).await?;
    errors.into_result(()).map_err(StoreError::Invalid)
}

/// Creates a form with `public_token` (made by the caller from a CSPRNG).
pub async fn create(
    store: &Store,
    ctx: &Context,
    input: WebFormInput,
    public_token: String,
) -> Result<WebForm, StoreError> {
    let ws = ctx.workspace_id;
    let mut conn = store.write().await?;
    check_references(&mut conn, ws, &input).await?;
    let id = WebFormId::generate();
    let at = now();
    let changes = diff(&serde_json::json!({}), &serde_json::to_value(&input).unwrap_or_default());
    let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Create, &changes, at);
    let data = WebFormData::from(&input);
    let row: WebFormRow = write_tx!(&mut conn, |c| {
        let row = diesel::insert_into(web_forms::table)
            .values((
                web_forms::id.eq(Id(id.0)),
                web_forms::workspace_id.eq(Id(ws.0)),
                web_forms::public_token.eq(&public_token),
                &data,
                web_forms::version.eq(1),
                web_forms::created_at.eq(Ts(at)),
                web_forms::updated_at.eq(Ts(at)),
            ))
            .returning(WebFormRow::as_returning())
            .get_result(c)
            .await?;
        diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        Ok(row)
    })?;
    to_form(row)
}

async fn fetch(conn: &mut Conn, ws: WorkspaceId, id: WebFormId, include_deleted: bool) -> Result<WebForm, StoreError> {
    let row: WebFormRow = per_backend!(conn, |c| {
        let query = web_forms::table
            .filter(web_forms::workspace_id.eq(Id(ws.0)))
            .filter(web_forms::id.eq(Id(id.0)))
            .select(WebFormRow::as_select());
        if include_deleted {
            query.get_result(c).await
        } else {
            query.filter(web_forms::deleted_at.is_null()).get_result(c).await
        }
    })?;
    to_form(row)
}

pub async fn get(store: &Store, ws: WorkspaceId, id: WebFormId, include_deleted: bool) -> Result<WebForm, StoreError> {
    let mut conn = store.read().await?;
    fetch(&mut conn, ws, id, include_deleted).await
}

/// A page of forms, newest first (`limit + 1` rows); `before` is the last id of the previous page.
pub async fn list(
    store: &Store,
    ws: WorkspaceId,
    deleted: bool,
    before: Option<Uuid>,
    limit: u32,
) -> Result<Vec<WebForm>, StoreError> {
    let mut conn = store.read().await?;
    let rows: Vec<WebFormRow> = per_backend!(&mut conn, |c| {
        let mut query = web_forms::table
            .filter(web_forms::workspace_id.eq(Id(ws.0)))
            .order(web_forms::id.desc())
            .limit(i64::from(limit) + 1)
            .select(WebFormRow::as_select())
            .into_boxed();
        query = if deleted {
            query.filter(web_forms::deleted_at.is_not_null())
        } else {
            query.filter(web_forms::deleted_at.is_null())
        };
        if let Some(before) = before {
            query = query.filter(web_forms::id.lt(Id(before)));
        }
        query.load(c).await
    })?;
    rows.into_iter().map(to_form).collect()
}

/// How a stored form changes: new settings, a new token, deletion or restoration.
enum Edit {
    Settings(WebFormInput),
    Token(String),
    Deleted(bool),
}

async fn apply(
    store: &Store,
    ctx: &Context,
    id: WebFormId,
    if_match: Option<i64>,
    include_deleted: bool,
    edit: impl Fn(&WebForm) -> Result<Edit, ValidationErrors>,
) -> Result<WebForm, StoreError> {
    let ws = ctx.workspace_id;
    let mut conn = store.write().await?;
    let current = fetch(&mut conn, ws, id, include_deleted).await?;
    let edit = edit(&current).map_err(StoreError::Invalid)?;
    if let Edit::Deleted(deleted) = &edit
        && current.deleted_at.is_some() == *deleted
    {
        // A deleted form is not found by DELETE; restoring a live one changes nothing.
        return if *deleted { Err(StoreError::NotFound) } else { Ok(current) };
    }
    if if_match.is_some_and(|v| v != current.version) {
        return Err(StoreError::VersionMismatch { current: current.version });
    }
    let at = now();
    let (action, changes) = match &edit {
        Edit::Settings(next) => {
            check_references(&mut conn, ws, next).await?;
            let before = serde_json::to_value(current.input()).unwrap_or_default();
            let changes = diff(&before, &serde_json::to_value(next).unwrap_or_default());
            if changes.is_empty() {
                return Ok(current);
            }
            (AuditAction::Update, changes)
        }
        // The token is public anyway; the history records that it changed, not its value.
        Edit::Token(_) => (
            AuditAction::Update,
            vec![Change { field: "public_token".into(), from: "(previous)".into(), to: "(rotated)".into() }],
        ),
        Edit::Deleted(deleted) => {
            let to = deleted.then_some(at);
            let change = Change {
                field: "deleted_at".into(),
                from: serde_json::to_value(current.deleted_at).unwrap_or_default(),
                to: serde_json::to_value(to).unwrap_or_default(),
            };
            (if *deleted { AuditAction::Delete } else { AuditAction::Restore }, vec![change])
        }
    };
    let audit = NewAuditRow::new(ctx, ENTITY, id.0, action, &changes, at);
    let row: Option<WebFormRow> = write_tx!(&mut conn, |c| {
        let target = web_forms::table
            .filter(web_forms::workspace_id.eq(Id(ws.0)))
            .filter(web_forms::id.eq(Id(id.0)))
            .filter(web_forms::version.eq(current.version));
        let bump = (web_forms::version.eq(current.version + 1), web_forms::updated_at.eq(Ts(at)));
        let row = match &edit {
            Edit::Settings(next) => {
                diesel::update(target)
                    .set((&WebFormData::from(next), bump))
                    .returning(WebFormRow::as_returning())
                    .get_result(c)
                    .await
            }
            Edit::Token(token) => {
                diesel::update(target)
                    .set((web_forms::public_token.eq(token), bump))
                    .returning(WebFormRow::as_returning())
                    .get_result(c)
                    .await
            }
            Edit::Deleted(deleted) => {
                diesel::update(target)
                    .set((web_forms::deleted_at.eq(deleted.then_some(Ts(at))), bump))
                    .returning(WebFormRow::as_returning())
                    .get_result(c)
                    .await
            }
        }
        .optional()?;
        if row.is_some() {
            diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        }
        Ok(row)
    })?;
    match row {
        Some(row) => to_form(row),
        None => Err(StoreError::VersionMismatch { current: current.version + 1 }),
    }
}

/// Applies new settings (a merge patch already turned into a validated input).
pub async fn update(
    store: &Store,
    ctx: &Context,
    id: WebFormId,
    if_match: Option<i64>,
    change: impl Fn(&WebForm) -> Result<WebFormInput, ValidationErrors>,
) -> Result<WebForm, StoreError> {
    apply(store, ctx, id, if_match, false, |current| change(current).map(Edit::Settings)).await
}

/// Replaces the public token: embeds with the old one stop working at once.
pub async fn rotate_token(
    store: &Store,
    ctx: &Context,
    id: WebFormId,
    if_match: Option<i64>,
    token: String,
) -> Result<WebForm, StoreError> {
    apply(store, ctx, id, if_match, false, |_| Ok(Edit::Token(token.clone()))).await
}

/// Soft-deletes (`deleted = true`) or restores a form.
pub async fn set_deleted(
    store: &Store,
    ctx: &Context,
    id: WebFormId,
    if_match: Option<i64>,
    deleted: bool,
) -> Result<WebForm, StoreError> {
    apply(store, ctx, id, if_match, true, |_| Ok(Edit::Deleted(deleted))).await
}

/// Whether a form exists in the workspace (deleted or not): history stays readable.
pub async fn exists(store: &Store, ws: WorkspaceId, id: WebFormId) -> Result<bool, StoreError> {
    let mut conn = store.read().await?;
    let n: i64 = per_backend!(&mut conn, |c| web_forms::table
        .filter(web_forms::workspace_id.eq(Id(ws.0)))
        .filter(web_forms::id.eq(Id(id.0)))
        .count()
        .get_result(c)
        .await)?;
    Ok(n > 0)
}

/// The live, active form with this public token, and its workspace.
pub async fn by_token(store: &Store, token: &str) -> Result<(WorkspaceId, WebForm), StoreError> {
    let mut conn = store.read_primary().await?;
    let row: WebFormRow = per_backend!(&mut conn, |c| web_forms::table
        .filter(web_forms::public_token.eq(token))
        .filter(web_forms::deleted_at.is_null())
        .filter(web_forms::active.eq(true))
        .select(WebFormRow::as_select())
        .get_result(c)
        .await)?;
    row.into_form()
}

/// Where a submission came from, kept with it.
#[derive(Debug, Clone, Default)]
pub struct SubmissionMeta {
    pub payload: serde_json::Value,
    pub origin: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = form_submissions, treat_none_as_default_value = false)]
struct SubmissionRow<'a> {
    id: Id,
    workspace_id: Id,
    web_form_id: Id,
    lead_id: Option<Id>,
    customer_id: Option<Id>,
    payload: &'a Json,
    origin: Option<&'a str>,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    created_at: Ts,
}

/// Records an accepted submission of `form` (in `ctx.workspace_id`) and returns its id.
/// Linked to the live customer with the lead's email, else to the live lead with it, else a
/// new lead (source `web_form`, scored) is created. A default owner who has left the
/// workspace is dropped rather than failing a visitor's submission.
pub async fn submit(
    store: &Store,
    ctx: &Context,
    form: &WebForm,
    mut lead: LeadInput,
    meta: SubmissionMeta,
) -> Result<Uuid, StoreError> {
    let ws = ctx.workspace_id;
    let mut conn = store.write().await?;
    let mut owner_errors = ValidationErrors::default();
    crate::refs::check_user(&mut conn, ws, lead.owner_id, "owner_id", &mut owner_errors).await?;
    if !owner_errors.is_empty() {
        lead.owner_id = None;
    }
    let payload = Json(meta.payload.clone());
    for attempt in 0..3 {
        let id = Uuid::now_v7();
        let lead_id = LeadId::generate();
        let at = now();
        let changes = diff(&serde_json::json!({}), &serde_json::to_value(&lead).unwrap_or_default());
        let audit = NewAuditRow::new(ctx, crate::leads::ENTITY, lead_id.0, AuditAction::Create, &changes, at);
        let result: Result<(), StoreError> = write_tx!(&mut conn, |c| {
            let counted = diesel::update(
                web_forms::table
                    .filter(web_forms::workspace_id.eq(Id(ws.0)))
                    .filter(web_forms::id.eq(Id(form.id.0)))
                    .filter(web_forms::active.eq(true))
                    .filter(web_forms::deleted_at.is_null()),
            )
            .set(web_forms::submission_count.eq(web_forms::submission_count + 1))
            .execute(c)
            .await?;
            if counted == 0 {
                return Err(StoreError::NotFound);
            }
            let (mut linked_lead, mut linked_customer) = (None, None);
            if let Some(email) = &lead.email {
                let customer: Vec<Id> = customers::table
                    .filter(customers::workspace_id.eq(Id(ws.0)))
                    .filter(customers::email.eq(email))
                    .filter(customers::deleted_at.is_null())
                    .order(customers::id.asc())
                    .limit(1)
                    .select(customers::id)
                    .load(c)
                    .await?;
                linked_customer = customer.into_iter().next();
                if linked_customer.is_none() {
                    linked_lead = leads::table
                        .filter(leads::workspace_id.eq(Id(ws.0)))
                        .filter(leads::email.eq(email))
                        .filter(leads::deleted_at.is_null())
                        .select(leads::id)
                        .get_result::<Id>(c)
                        .await
                        .optional()?;
                }
            }
            if linked_customer.is_none() && linked_lead.is_none() {
                let _inserted = insert_lead!(c, ws, lead_id, &lead, Some(form.id), at, &audit);
                linked_lead = Some(Id(lead_id.0));
            }
            let submission = SubmissionRow {
                id: Id(id),
                workspace_id: Id(ws.0),
                web_form_id: Id(form.id.0),
                lead_id: linked_lead,
                customer_id: linked_customer,
                payload: &payload,
                origin: meta.origin.as_deref(),
                ip: meta.ip.as_deref(),
                user_agent: meta.user_agent.as_deref(),
                created_at: Ts(at),
            };
            diesel::insert_into(form_submissions::table).values(&submission).execute(c).await?;
            Ok(())
        });
        match result {
            Ok(()) => return Ok(id),
            // Another submission created the lead since we looked: the next attempt links to it.
            Err(e) if is_unique_violation(&e) && attempt < 2 => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::conflict("edit_conflict", "the submission kept conflicting; retry"))
}
