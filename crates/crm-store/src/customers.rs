//! Customers: rows, the mapping to domain types, and every query, scoped by workspace.

use crm_domain::audit::{AuditAction, diff};
use crm_domain::customer::{
    Address, Customer, CustomerFilter, CustomerInput, CustomerKind, CustomerSort, LifecycleStage, SortField,
};
use crm_domain::page::Cursor;
use crm_domain::{CustomerId, UserId, ValidationErrors, WorkspaceId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::audit::NewAuditRow;
use crate::idempotency::{self, KeyedRequest, StoredResponse, claim_in_write, complete_in_write};
use crate::query::{Cached, RenderedSelection, keyset, like_pattern};
use crate::schema::{customer_stats, customer_tags, customers};
use crate::types::{Id, Json, Ts, now};
use crate::{Conn, Context, Store, StoreError, get_static, per_backend, write_tx};

const ENTITY: &str = "customer";

static CUSTOMER_COLUMNS: RenderedSelection<CustomerRow> = RenderedSelection::new();

#[derive(Queryable, Selectable)]
#[diesel(table_name = customers)]
pub(crate) struct CustomerRow {
    id: Id,
    kind: String,
    first_name: Option<String>,
    last_name: Option<String>,
    company_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    address_line1: Option<String>,
    address_line2: Option<String>,
    address_city: Option<String>,
    address_region: Option<String>,
    address_postal_code: Option<String>,
    address_country: Option<String>,
    social: Json,
    lifecycle_stage: String,
    owner_id: Option<Id>,
    tags: Json,
    important_dates: Json,
    custom_fields: Json,
    consents: Json,
    industry: Option<String>,
    vat_number: Option<String>,
    registration_number: Option<String>,
    website: Option<String>,
    employee_count: Option<i32>,
    company_id: Option<Id>,
    version: i64,
    created_at: Ts,
    updated_at: Ts,
    deleted_at: Option<Ts>,
}

/// The data columns, shared by insert and update.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = customers, treat_none_as_null = true, treat_none_as_default_value = false)]
pub(crate) struct CustomerData {
    kind: &'static str,
    first_name: Option<String>,
    last_name: Option<String>,
    company_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    address_line1: Option<String>,
    address_line2: Option<String>,
    address_city: Option<String>,
    address_region: Option<String>,
    address_postal_code: Option<String>,
    address_country: Option<String>,
    social: Json,
    lifecycle_stage: &'static str,
    owner_id: Option<Id>,
    tags: Json,
    important_dates: Json,
    custom_fields: Json,
    consents: Json,
    industry: Option<String>,
    vat_number: Option<String>,
    registration_number: Option<String>,
    website: Option<String>,
    employee_count: Option<i32>,
    company_id: Option<Id>,
    search_text: String,
}

impl From<&CustomerInput> for CustomerData {
    fn from(c: &CustomerInput) -> Self {
        let address = c.address.clone().unwrap_or_default();
        CustomerData {
            kind: c.kind.as_str(),
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            company_name: c.company_name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
            address_line1: address.line1,
            address_line2: address.line2,
            address_city: address.city,
            address_region: address.region,
            address_postal_code: address.postal_code,
            address_country: address.country,
            social: Json::of(&c.social),
            lifecycle_stage: c.lifecycle_stage.as_str(),
            owner_id: c.owner_id.map(|u| Id(u.0)),
            tags: Json::of(&c.tags),
            important_dates: Json::of(&c.important_dates),
            custom_fields: Json::of(&c.custom_fields),
            consents: Json::of(&c.consents),
            industry: c.industry.clone(),
            vat_number: c.vat_number.clone(),
            registration_number: c.registration_number.clone(),
            website: c.website.clone(),
            employee_count: c.employee_count.and_then(|n| i32::try_from(n).ok()),
            company_id: c.company_id.map(|id| Id(id.0)),
            search_text: c.search_text(),
        }
    }
}

impl TryFrom<CustomerRow> for Customer {
    type Error = StoreError;
    fn try_from(r: CustomerRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str, value: &str| StoreError::Corrupt(format!("customer {what} {value:?}"));
        let address = Address {
            line1: r.address_line1,
            line2: r.address_line2,
            city: r.address_city,
            region: r.address_region,
            postal_code: r.address_postal_code,
            country: r.address_country,
        };
        let data = CustomerInput {
            kind: CustomerKind::parse(&r.kind).ok_or_else(|| corrupt("kind", &r.kind))?,
            first_name: r.first_name,
            last_name: r.last_name,
            company_name: r.company_name,
            email: r.email,
            phone: r.phone,
            address: (address != Address::default()).then_some(address),
            social: r.social.decode()?,
            lifecycle_stage: LifecycleStage::parse(&r.lifecycle_stage)
                .ok_or_else(|| corrupt("lifecycle_stage", &r.lifecycle_stage))?,
            owner_id: r.owner_id.map(|id| UserId(id.0)),
            tags: r.tags.decode()?,
            important_dates: r.important_dates.decode()?,
            custom_fields: r.custom_fields.decode()?,
            consents: r.consents.decode()?,
            industry: r.industry,
            vat_number: r.vat_number,
            registration_number: r.registration_number,
            website: r.website,
            employee_count: r.employee_count.and_then(|n| u32::try_from(n).ok()),
            company_id: r.company_id.map(|id| CustomerId(id.0)),
        };
        Ok(Customer::new(
            CustomerId(r.id.0),
            data,
            r.version,
            r.created_at.0,
            r.updated_at.0,
            r.deleted_at.map(|t| t.0),
        ))
    }
}

#[derive(Insertable)]
#[diesel(table_name = customer_tags, treat_none_as_default_value = false)]
pub(crate) struct TagRow {
    workspace_id: Id,
    customer_id: Id,
    tag: String,
}

fn tag_rows(ws: WorkspaceId, id: CustomerId, tags: &[String]) -> Vec<TagRow> {
    tags.iter().map(|tag| TagRow { workspace_id: Id(ws.0), customer_id: Id(id.0), tag: tag.clone() }).collect()
}

/// Checks that the owner is a user and the company a company customer of this workspace.
async fn check_references(
    conn: &mut Conn,
    ws: WorkspaceId,
    input: &CustomerInput,
    this: Option<CustomerId>,
) -> Result<(), StoreError> {
    let mut errors = ValidationErrors::default();
    crate::refs::check_user(conn, ws, input.owner_id, "owner_id", &mut errors).await?;
    if let Some(company) = input.company_id {
        let found: i64 = per_backend!(conn, |c| customers::table
            .filter(customers::workspace_id.eq(Id(ws.0)))
            .filter(customers::id.eq(Id(company.0)))
            .filter(customers::kind.eq(CustomerKind::Company.as_str()))
            .filter(customers::deleted_at.is_null())
            .count()
            .get_result(c)
            .await)?;
        if found == 0 || this == Some(company) {
            errors.add("company_id", "not_found", "no such company customer in this workspace");
        }
    }
    errors.into_result(()).map_err(StoreError::Invalid)
}

/// The rows of a new customer, ready for [`insert_customer!`].
pub(crate) struct NewCustomer {
    pub(crate) id: CustomerId,
    pub(crate) workspace_id: Id,
    pub(crate) at: Ts,
    pub(crate) data: CustomerData,
    pub(crate) tags: Vec<TagRow>,
    pub(crate) audit: NewAuditRow,
}

/// Checks the references of a validated input (outside any transaction) and prepares its rows.
pub(crate) async fn prepare(conn: &mut Conn, ctx: &Context, input: &CustomerInput) -> Result<NewCustomer, StoreError> {
    check_references(conn, ctx.workspace_id, input, None).await?;
    let id = CustomerId::generate();
    let at = now();
    let changes = diff(&serde_json::json!({}), &serde_json::to_value(input).unwrap_or_default());
    Ok(NewCustomer {
        id,
        workspace_id: Id(ctx.workspace_id.0),
        at: Ts(at),
        data: CustomerData::from(input),
        tags: tag_rows(ctx.workspace_id, id, &input.tags),
        audit: NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Create, &changes, at),
    })
}

/// Inserts a [`NewCustomer`] (row, tags, audit event) inside a `write_tx!` body and evaluates to
/// the stored row. A macro because the connection type differs per backend.
macro_rules! insert_customer {
    ($c:ident, $new:expr) => {{
        let new: &$crate::customers::NewCustomer = $new;
        let row = diesel::insert_into($crate::schema::customers::table)
            .values((
                $crate::schema::customers::id.eq($crate::types::Id(new.id.0)),
                $crate::schema::customers::workspace_id.eq(new.workspace_id),
                &new.data,
                $crate::schema::customers::version.eq(1_i64),
                $crate::schema::customers::created_at.eq(new.at),
                $crate::schema::customers::updated_at.eq(new.at),
            ))
            .returning($crate::customers::CustomerRow::as_returning())
            .get_result($c)
            .await?;
        for tag in &new.tags {
            diesel::insert_into($crate::schema::customer_tags::table).values(tag).execute($c).await?;
        }
        diesel::insert_into($crate::schema::audit_events::table).values(&new.audit).execute($c).await?;
        row
    }};
}
pub(crate) use insert_customer;

/// Creates a customer and answers `respond`'s response for it, built inside the transaction.
/// Under an Idempotency-Key (`keyed`) the key is claimed first and completed with that response
/// in the same transaction; `None` when a request with the key came first (nothing written).
pub async fn create(
    store: &Store,
    ctx: &Context,
    input: CustomerInput,
    keyed: Option<&KeyedRequest>,
    respond: impl Fn(&Customer) -> Result<StoredResponse, StoreError> + Sync,
) -> Result<Option<(Customer, StoredResponse)>, StoreError> {
    let mut conn = store.write().await?;
    let new = prepare(&mut conn, ctx, &input).await?;
    let ws = ctx.workspace_id;
    let written = write_tx!(&mut conn, |c| {
        if let Some(request) = keyed {
            claim_in_write!(c, ws, request);
        }
        let customer = Customer::try_from(insert_customer!(c, &new))?;
        let response = respond(&customer)?;
        if let Some(request) = keyed {
            complete_in_write!(c, ws, request, &response);
        }
        Ok((customer, response))
    });
    idempotency::unless_taken(written)
}

/// One customer; deleted ones only when `include_deleted`.
pub async fn get(
    store: &Store,
    ws: WorkspaceId,
    id: CustomerId,
    include_deleted: bool,
) -> Result<Customer, StoreError> {
    let mut conn = store.read().await?;
    fetch(&mut conn, ws, id, include_deleted).await
}

pub(crate) async fn fetch(
    conn: &mut Conn,
    ws: WorkspaceId,
    id: CustomerId,
    include_deleted: bool,
) -> Result<Customer, StoreError> {
    // Not boxed: a static query is prepared once per connection and cached. A macro, as the
    // selection's type depends on the backend it is built for.
    macro_rules! by_id {
        () => {
            customers::table
                .filter(customers::workspace_id.eq(Id(ws.0)))
                .filter(customers::id.eq(Id(id.0)))
                .select(CUSTOMER_COLUMNS.as_select())
        };
    }
    let row: CustomerRow = if include_deleted {
        get_static!(conn, by_id!())?
    } else {
        get_static!(conn, by_id!().filter(customers::deleted_at.is_null()))?
    };
    row.try_into()
}

/// Applies a [`CustomerFilter`] to a boxed customers query (a macro because the boxed query's
/// type differs per backend). Figures kept by the service come from `customer_stats`.
macro_rules! filtered {
    ($query:expr, $ws:expr, $filter:expr) => {{
        let (mut query, ws, filter): (_, WorkspaceId, &CustomerFilter) = ($query, $ws, $filter);
        let criteria = &filter.criteria;
        query = if filter.deleted {
            query.filter(customers::deleted_at.is_not_null())
        } else {
            query.filter(customers::deleted_at.is_null())
        };
        if let Some(kind) = criteria.kind {
            query = query.filter(customers::kind.eq(kind.as_str()));
        }
        if !criteria.lifecycle_stage.is_empty() {
            let stages: Vec<&str> = criteria.lifecycle_stage.iter().map(|s| s.as_str()).collect();
            query = query.filter(customers::lifecycle_stage.eq_any(stages));
        }
        if !criteria.owner_id.is_empty() {
            query =
                query.filter(customers::owner_id.eq_any(criteria.owner_id.iter().map(|u| Id(u.0)).collect::<Vec<_>>()));
        }
        for tag in &criteria.tags {
            query = query.filter(
                customers::id.eq_any(
                    customer_tags::table
                        .filter(customer_tags::workspace_id.eq(Id(ws.0)))
                        .filter(customer_tags::tag.eq(tag.clone()))
                        .select(customer_tags::customer_id),
                ),
            );
        }
        if !criteria.country.is_empty() {
            query = query.filter(customers::address_country.eq_any(criteria.country.clone()));
        }
        if let Some(city) = &criteria.city {
            query = query.filter(customers::address_city.eq(city.clone()));
        }
        if let Some(industry) = &criteria.industry {
            query = query.filter(customers::industry.eq(industry.clone()));
        }
        match criteria.vat_registered {
            Some(true) => query = query.filter(customers::vat_number.is_not_null()),
            Some(false) => query = query.filter(customers::vat_number.is_null()),
            None => {}
        }
        if let Some(t) = criteria.created_after {
            query = query.filter(customers::created_at.ge(Ts(t)));
        }
        if let Some(t) = criteria.created_before {
            query = query.filter(customers::created_at.lt(Ts(t)));
        }
        let stats = || customer_stats::table.filter(customer_stats::workspace_id.eq(Id(ws.0)));
        if let Some(t) = criteria.last_interaction_after {
            query = query.filter(customers::id.eq_any(
                stats().filter(customer_stats::last_interaction_at.ge(Ts(t))).select(customer_stats::customer_id),
            ));
        }
        if let Some(t) = criteria.last_interaction_before {
            // Never contacted counts as "before": those are the quietest of all.
            query = query.filter(customers::id.ne_all(
                stats().filter(customer_stats::last_interaction_at.ge(Ts(t))).select(customer_stats::customer_id),
            ));
        }
        if let Some(min) = criteria.lead_score_min {
            query =
                query
                    .filter(customers::id.eq_any(
                        stats().filter(customer_stats::lead_score.ge(min)).select(customer_stats::customer_id),
                    ));
        }
        if let Some(max) = criteria.lead_score_max {
            query =
                query
                    .filter(customers::id.eq_any(
                        stats().filter(customer_stats::lead_score.le(max)).select(customer_stats::customer_id),
                    ));
        }
        if let Some(company) = filter.company_id {
            query = query.filter(customers::company_id.eq(Id(company.0)));
        }
        if let Some(email) = &filter.email {
            query = query.filter(customers::email.eq(email.clone()));
        }
        if let Some(t) = filter.updated_after {
            query = query.filter(customers::updated_at.ge(Ts(t)));
        }
        if let Some(t) = filter.updated_before {
            query = query.filter(customers::updated_at.lt(Ts(t)));
        }
        if let Some(q) = &filter.q {
            query = query.filter(customers::search_text.like(like_pattern(q)).escape('\\'));
        }
        query
    }};
}
pub(crate) use filtered;

/// How many customers match a filter, counted by the database.
pub async fn count(store: &Store, ws: WorkspaceId, filter: &CustomerFilter) -> Result<i64, StoreError> {
    let mut conn = store.read().await?;
    per_backend!(&mut conn, |c| {
        let query = customers::table.filter(customers::workspace_id.eq(Id(ws.0))).count().into_boxed();
        filtered!(query, ws, filter).get_result(c).await
    })
    .map_err(StoreError::from)
}

/// A page of customers (`limit + 1` rows, so the caller can tell whether more exist).
pub async fn list(
    store: &Store,
    ws: WorkspaceId,
    filter: &CustomerFilter,
    sort: CustomerSort,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<Vec<Customer>, StoreError> {
    let mut conn = store.read().await?;
    let after = after.and_then(|c| c.at.map(|at| (Ts(at), Id(c.id))));
    let rows: Vec<CustomerRow> = per_backend!(&mut conn, |c| {
        let mut query = customers::table
            .filter(customers::workspace_id.eq(Id(ws.0)))
            .select(CUSTOMER_COLUMNS.as_select())
            .limit(i64::from(limit) + 1)
            .into_boxed();
        query = filtered!(query, ws, filter);
        query = match (sort.field, sort.descending) {
            (SortField::CreatedAt, false) => keyset!(query, after, customers::created_at, customers::id, ge, gt, asc),
            (SortField::CreatedAt, true) => keyset!(query, after, customers::created_at, customers::id, le, lt, desc),
            (SortField::UpdatedAt, false) => keyset!(query, after, customers::updated_at, customers::id, ge, gt, asc),
            (SortField::UpdatedAt, true) => keyset!(query, after, customers::updated_at, customers::id, le, lt, desc),
        };
        query.load(c).await
    })?;
    rows.into_iter().map(Customer::try_from).collect()
}

/// Applies `change` to the current customer and stores the result, guarded by its version.
/// With `if_match`, a stale version is a `VersionMismatch`; without, a concurrent write
/// between our read and our update is retried on the fresh row.
pub async fn update(
    store: &Store,
    ctx: &Context,
    id: CustomerId,
    if_match: Option<i64>,
    change: impl Fn(&Customer) -> Result<CustomerInput, ValidationErrors>,
) -> Result<Customer, StoreError> {
    apply(store, ctx, id, if_match, (AuditAction::Update, None), change).await
}

/// Hands the customer to another owner; the reason goes to the history.
pub async fn reassign(
    store: &Store,
    ctx: &Context,
    id: CustomerId,
    if_match: Option<i64>,
    owner: UserId,
    reason: String,
) -> Result<Customer, StoreError> {
    apply(store, ctx, id, if_match, (AuditAction::Reassign, Some(reason)), |current| {
        Ok(CustomerInput { owner_id: Some(owner), ..current.data.clone() })
    })
    .await
}

async fn apply(
    store: &Store,
    ctx: &Context,
    id: CustomerId,
    if_match: Option<i64>,
    (action, reason): (AuditAction, Option<String>),
    change: impl Fn(&Customer) -> Result<CustomerInput, ValidationErrors>,
) -> Result<Customer, StoreError> {
    let mut conn = store.write().await?;
    for _ in 0..3 {
        let current = fetch(&mut conn, ctx.workspace_id, id, false).await?;
        if if_match.is_some_and(|v| v != current.version) {
            return Err(StoreError::VersionMismatch { current: current.version });
        }
        let next = change(&current).map_err(StoreError::Invalid)?;
        check_references(&mut conn, ctx.workspace_id, &next, Some(id)).await?;
        let before = serde_json::to_value(&current.data).unwrap_or_default();
        let changes = diff(&before, &serde_json::to_value(&next).unwrap_or_default());
        if changes.is_empty() {
            return Ok(current);
        }
        let at = now();
        let data = CustomerData::from(&next);
        let audit = NewAuditRow::new(ctx, ENTITY, id.0, action, &changes, at).with_reason(reason.clone());
        let tags = tag_rows(ctx.workspace_id, id, &next.tags);
        let row: Option<CustomerRow> = write_tx!(&mut conn, |c| {
            let row = Cached(
                diesel::update(
                    customers::table
                        .filter(customers::workspace_id.eq(Id(ctx.workspace_id.0)))
                        .filter(customers::id.eq(Id(id.0)))
                        .filter(customers::version.eq(current.version))
                        .filter(customers::deleted_at.is_null()),
                )
                .set((&data, customers::version.eq(current.version + 1), customers::updated_at.eq(Ts(at))))
                .returning(CustomerRow::as_returning()),
            )
            .get_result(c)
            .await
            .optional()?;
            if row.is_some() {
                diesel::delete(customer_tags::table.filter(customer_tags::customer_id.eq(Id(id.0)))).execute(c).await?;
                for tag in &tags {
                    diesel::insert_into(customer_tags::table).values(tag).execute(c).await?;
                }
                diesel::insert_into(crate::schema::audit_events::table).values(&audit).execute(c).await?;
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
    Err(StoreError::conflict("edit_conflict", "the customer kept changing; retry the request"))
}

/// Soft-deletes (`deleted = true`) or restores (`deleted = false`) a customer.
pub async fn set_deleted(
    store: &Store,
    ctx: &Context,
    id: CustomerId,
    if_match: Option<i64>,
    deleted: bool,
) -> Result<Customer, StoreError> {
    let mut conn = store.write().await?;
    let current = fetch(&mut conn, ctx.workspace_id, id, true).await?;
    if current.deleted_at.is_some() == deleted {
        // A deleted customer is not found by DELETE; restoring a live one changes nothing.
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
    let row: Option<CustomerRow> = write_tx!(&mut conn, |c| {
        let row = diesel::update(
            customers::table
                .filter(customers::workspace_id.eq(Id(ctx.workspace_id.0)))
                .filter(customers::id.eq(Id(id.0)))
                .filter(customers::version.eq(current.version)),
        )
        .set((
            customers::deleted_at.eq(deleted_at),
            customers::version.eq(current.version + 1),
            customers::updated_at.eq(Ts(at)),
        ))
        .returning(CustomerRow::as_returning())
        .get_result(c)
        .await
        .optional()?;
        if row.is_some() {
            diesel::insert_into(crate::schema::audit_events::table).values(&audit).execute(c).await?;
        }
        Ok(row)
    })?;
    match row {
        Some(row) => row.try_into(),
        None => Err(StoreError::VersionMismatch { current: current.version + 1 }),
    }
}

/// The cursor that resumes a list after `customer`.
pub fn cursor_after(sort: CustomerSort, customer: &Customer) -> Cursor {
    Cursor { sort: sort.as_str().to_owned(), at: Some(sort.key_of(customer)), id: customer.id.0 }
}

/// Whether a customer exists in the workspace (deleted or not): history stays readable.
pub async fn exists(store: &Store, ws: WorkspaceId, id: CustomerId) -> Result<bool, StoreError> {
    let mut conn = store.read().await?;
    let n: i64 = per_backend!(&mut conn, |c| customers::table
        .filter(customers::workspace_id.eq(Id(ws.0)))
        .filter(customers::id.eq(Id(id.0)))
        .count()
        .get_result(c)
        .await)?;
    Ok(n > 0)
}
