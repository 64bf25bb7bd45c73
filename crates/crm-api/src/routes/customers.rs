//! Customers: the template resource. Create, read, merge-patch, soft delete and restore,
//! keyset-paginated lists with filters, and the audit history of each customer.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use crm_domain::CustomerId;
use crm_domain::ValidationErrors;
use crm_domain::access::Scope;
use crm_domain::audit::AuditEvent;
use crm_domain::customer::{Customer, CustomerFilter, CustomerInput, CustomerKind, CustomerSort, LifecycleStage};
use crm_domain::owner::Reassign;
use crm_domain::page::{Cursor, Page, paginate};
use crm_domain::patch::merge;
use crm_domain::segment::SegmentCriteria;
use crm_domain::timeline::{TimelineEntry, TimelineKind};
use crm_store::{audit, customers, timeline};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::users::PageParams;
use super::{created_stored, decode_cursor, page_limit, versioned};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{IfMatch, JsonBody, QueryParams};
use crate::replay::recorded;
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_customer)
        .service(list_customers)
        .service(get_customer)
        .service(update_customer)
        .service(delete_customer)
        .service(restore_customer)
        .service(reassign_customer)
        .service(customer_history)
        .service(customer_timeline);
}

crate::merge_patch_schema!(CustomerPatch, CustomerInput);

fn location(customer: &Customer) -> String {
    format!("/v1/customers/{}", customer.id)
}

/// Create a customer (a person or a company).
#[utoipa::path(
    tag = "customers",
    request_body = CustomerInput,
    responses((status = 201, body = Customer, headers(("Location" = String), ("ETag" = String))))
)]
#[post("/customers")]
pub async fn create_customer(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<CustomerInput>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CustomersWrite)?;
    let input = body.0.validate()?;
    let respond = |customer: &Customer| created_stored(location(customer), customer.version, customer);
    let keyed = caller.keyed_request();
    let written = customers::create(&state.store, &caller.context(), input, keyed, respond).await?;
    Ok(recorded(written.map(|(_, response)| response)))
}

/// Filters, order and paging of the customer list. The criteria from `kind` to `lead_score_max`
/// are a segment's `filter`; lists are comma-separated here.
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
    kind: Option<CustomerKind>,
    /// Comma-separated; any of `prospect`, `lead`, `customer`, `churned`.
    #[param(example = "lead,customer")]
    lifecycle_stage: Option<String>,
    /// Comma-separated user ids; owned by any of them.
    owner_id: Option<String>,
    /// Comma-separated; every tag must be present.
    tag: Option<String>,
    /// Comma-separated ISO 3166-1 alpha-2 codes; any of them.
    #[param(example = "UA,PL")]
    country: Option<String>,
    city: Option<String>,
    industry: Option<String>,
    /// `true`: a VAT number is on file; `false`: none.
    vat_registered: Option<bool>,
    #[serde(default, deserialize_with = "crate::extract::instant")]
    created_after: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "crate::extract::instant")]
    created_before: Option<DateTime<Utc>>,
    /// Last interaction at or after this time.
    #[serde(default, deserialize_with = "crate::extract::instant")]
    last_interaction_after: Option<DateTime<Utc>>,
    /// Last interaction before this time, or never.
    #[serde(default, deserialize_with = "crate::extract::instant")]
    last_interaction_before: Option<DateTime<Utc>>,
    /// Score of the lead the customer was converted from.
    lead_score_min: Option<i32>,
    lead_score_max: Option<i32>,
    /// Persons who work for this company.
    company_id: Option<CustomerId>,
    email: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::instant")]
    updated_after: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "crate::extract::instant")]
    updated_before: Option<DateTime<Utc>>,
    /// Case-insensitive search in names, email, phone and company name.
    q: Option<String>,
    /// `true` lists deleted (restorable) customers instead.
    deleted: Option<bool>,
}

/// Also the sort of a segment's members, which are customers.
pub(crate) fn sort_schema() -> utoipa::openapi::Object {
    crate::openapi::sort_schema(&CustomerSort::ACCEPTED, "Default `-created_at`, newest first.")
}

fn split(list: Option<&str>) -> impl Iterator<Item = &str> {
    list.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty())
}

impl ListParams {
    fn criteria(&self) -> ApiResult<SegmentCriteria> {
        let mut errors = ValidationErrors::default();
        let mut lifecycle_stage = Vec::new();
        for raw in split(self.lifecycle_stage.as_deref()) {
            match LifecycleStage::parse(raw) {
                Some(stage) => lifecycle_stage.push(stage),
                None => errors.add("lifecycle_stage", "invalid_value", format!("unknown stage {raw:?}")),
            }
        }
        let mut owner_id = Vec::new();
        for raw in split(self.owner_id.as_deref()) {
            match raw.parse() {
                Ok(id) => owner_id.push(id),
                Err(_) => errors.add("owner_id", "invalid_value", format!("{raw:?} is not a user id")),
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::parameters(errors));
        }
        SegmentCriteria {
            kind: self.kind,
            lifecycle_stage,
            owner_id,
            tags: split(self.tag.as_deref()).map(str::to_owned).collect(),
            country: split(self.country.as_deref()).map(str::to_owned).collect(),
            city: self.city.clone(),
            industry: self.industry.clone(),
            vat_registered: self.vat_registered,
            created_after: self.created_after,
            created_before: self.created_before,
            last_interaction_after: self.last_interaction_after,
            last_interaction_before: self.last_interaction_before,
            lead_score_min: self.lead_score_min,
            lead_score_max: self.lead_score_max,
        }
        .validate("")
        .map_err(ApiError::parameters)
    }

    fn filter(&self) -> ApiResult<CustomerFilter> {
        let email = match &self.email {
            Some(raw) => {
                Some(crm_domain::values::parse_email(raw).map_err(|e| ApiError::parameter("email", e.message))?)
            }
            None => None,
        };
        let q = self.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(str::to_owned);
        if q.as_ref().is_some_and(|q| q.chars().count() > 200) {
            return Err(ApiError::parameter("q", "must be at most 200 characters"));
        }
        Ok(CustomerFilter {
            criteria: self.criteria()?,
            company_id: self.company_id,
            email,
            updated_after: self.updated_after,
            updated_before: self.updated_before,
            q,
            deleted: self.deleted.unwrap_or(false),
        })
    }
}

/// List customers: filter, sort, and page with a cursor (deep pages cost what the first does).
#[utoipa::path(tag = "customers", params(ListParams), responses((status = 200, body = Page<Customer>)))]
#[get("/customers")]
pub async fn list_customers(
    state: web::Data<AppState>,
    caller: Caller,
    query: QueryParams<ListParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CustomersRead)?;
    let params = query.0;
    let limit = page_limit(params.limit)?;
    let sort = match params.sort.as_deref() {
        None => CustomerSort::default(),
        Some(s) => CustomerSort::parse(s).ok_or_else(|| {
            ApiError::parameter("sort", format!("must be one of {}", CustomerSort::ACCEPTED.join(", ")))
        })?,
    };
    let after = decode_cursor(params.cursor.as_deref(), sort.as_str())?;
    let filter = params.filter()?;
    let rows = customers::list(&state.store, caller.workspace_id, &filter, sort, after.as_ref(), limit).await?;
    Ok(HttpResponse::Ok().json(paginate(rows, limit, |c| customers::cursor_after(sort, c))))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GetParams {
    /// `true` returns the customer even when it is deleted.
    include_deleted: Option<bool>,
}

/// One customer.
#[utoipa::path(
    tag = "customers",
    params(("id" = CustomerId, Path), GetParams),
    responses((status = 200, body = Customer, headers(("ETag" = String))))
)]
#[get("/customers/{id}")]
pub async fn get_customer(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<CustomerId>,
    query: QueryParams<GetParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CustomersRead)?;
    let include_deleted = query.0.include_deleted.unwrap_or(false);
    let customer = customers::get(&state.store, caller.workspace_id, id.into_inner(), include_deleted).await?;
    Ok(versioned(customer.version, &customer))
}

/// Update a customer with a JSON Merge Patch (RFC 7396): absent fields stay, `null` clears.
///
/// Send `If-Match` with the ETag you read to be sure you do not overwrite someone else's change.
#[utoipa::path(
    tag = "customers",
    params(("id" = CustomerId, Path)),
    request_body(content = CustomerPatch, content_type = "application/merge-patch+json"),
    responses((status = 200, body = Customer, headers(("ETag" = String))), (status = 409, description = "edit_conflict"), (status = 412, description = "version_mismatch"))
)]
#[patch("/customers/{id}")]
pub async fn update_customer(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<CustomerId>,
    if_match: IfMatch,
    body: JsonBody<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CustomersWrite)?;
    let patch = body.0;
    let customer = customers::update(&state.store, &caller.context(), id.into_inner(), if_match.0, |current| {
        merge(&current.data, patch.clone())?.validate()
    })
    .await?;
    Ok(versioned(customer.version, &customer))
}

/// Delete a customer (soft: restorable with `POST /v1/customers/{id}/restore`).
#[utoipa::path(
    tag = "customers",
    params(("id" = CustomerId, Path)),
    responses((status = 204, description = "Deleted"), (status = 412, description = "version_mismatch"))
)]
#[delete("/customers/{id}")]
pub async fn delete_customer(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<CustomerId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CustomersWrite)?;
    customers::set_deleted(&state.store, &caller.context(), id.into_inner(), if_match.0, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a deleted customer. Restoring a live customer changes nothing.
#[utoipa::path(
    tag = "customers",
    params(("id" = CustomerId, Path)),
    responses((status = 200, body = Customer, headers(("ETag" = String))), (status = 412, description = "version_mismatch"))
)]
#[post("/customers/{id}/restore")]
pub async fn restore_customer(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<CustomerId>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CustomersWrite)?;
    let customer = customers::set_deleted(&state.store, &caller.context(), id.into_inner(), if_match.0, false).await?;
    Ok(versioned(customer.version, &customer))
}

/// Hand a customer to another owner, with the reason kept in its history.
#[utoipa::path(
    tag = "customers",
    params(("id" = CustomerId, Path)),
    request_body = Reassign,
    responses((status = 200, body = Customer, headers(("ETag" = String))), (status = 412, description = "version_mismatch"))
)]
#[post("/customers/{id}/reassign")]
pub async fn reassign_customer(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<CustomerId>,
    if_match: IfMatch,
    body: JsonBody<Reassign>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CustomersWrite)?;
    let Reassign { owner_id, reason } = body.0.validate()?;
    let customer =
        customers::reassign(&state.store, &caller.context(), id.into_inner(), if_match.0, owner_id, reason).await?;
    Ok(versioned(customer.version, &customer))
}

/// The audit history of a customer, newest first: who changed which field, from what to what.
#[utoipa::path(
    tag = "customers",
    params(("id" = CustomerId, Path), PageParams),
    responses((status = 200, body = Page<AuditEvent>))
)]
#[get("/customers/{id}/history")]
pub async fn customer_history(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<CustomerId>,
    query: QueryParams<PageParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CustomersRead)?;
    let id = id.into_inner();
    let limit = page_limit(query.0.limit)?;
    let after = decode_cursor(query.0.cursor.as_deref(), super::BY_ID)?;
    if !customers::exists(&state.store, caller.workspace_id, id).await? {
        return Err(ApiError::not_found());
    }
    let events =
        audit::history(&state.store, caller.workspace_id, "customer", id.0, after.map(|c: Cursor| c.id), limit).await?;
    Ok(HttpResponse::Ok().json(paginate(events, limit, |e| super::id_cursor(e.id.0))))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineParams {
    /// 1 to 200; default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Comma-separated kinds to include: `interaction`, `task`, `deal_stage_change`, `change`,
    /// `purchase`, `points`.
    /// Default: every kind the caller may read.
    #[param(example = "interaction,deal_stage_change")]
    kinds: Option<String>,
}

/// The scope that reveals each kind of timeline entry (the customer's own changes need only
/// `customers:read`).
fn scope_of(kind: TimelineKind) -> Scope {
    match kind {
        TimelineKind::Interaction => Scope::InteractionsRead,
        TimelineKind::Task => Scope::TasksRead,
        TimelineKind::DealStageChange => Scope::DealsRead,
        TimelineKind::Change => Scope::CustomersRead,
        TimelineKind::Purchase => Scope::PurchasesRead,
        TimelineKind::Points => Scope::LoyaltyRead,
    }
}

const TIMELINE_ORDER: &str = "-occurred_at";

/// Everything that happened with a customer, newest first: interactions on every channel,
/// tasks, deal stage moves, purchases, points and changes to the record, behind one cursor.
///
/// Without `kinds`, the kinds the caller lacks a scope for are left out; asking for one of
/// them is a 403. A deep page costs what the first one does.
#[utoipa::path(
    tag = "customers",
    params(("id" = CustomerId, Path), TimelineParams),
    responses((status = 200, body = Page<TimelineEntry>))
)]
#[get("/customers/{id}/timeline")]
pub async fn customer_timeline(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<CustomerId>,
    query: QueryParams<TimelineParams>,
) -> ApiResult<HttpResponse> {
    caller.require(Scope::CustomersRead)?;
    let params = query.0;
    let id = id.into_inner();
    let limit = page_limit(params.limit)?;
    let kinds: Vec<TimelineKind> = match params.kinds.as_deref() {
        None => TimelineKind::ALL.into_iter().filter(|k| caller.require(scope_of(*k)).is_ok()).collect(),
        Some(list) => {
            let mut kinds = Vec::new();
            for raw in split(Some(list)) {
                let kind = TimelineKind::parse(raw).ok_or_else(|| {
                    let known: Vec<&str> = TimelineKind::ALL.iter().map(|k| k.as_str()).collect();
                    ApiError::parameter("kinds", format!("{raw:?} is not one of {}", known.join(", ")))
                })?;
                caller.require(scope_of(kind))?;
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
            kinds
        }
    };
    let before = decode_cursor(params.cursor.as_deref(), TIMELINE_ORDER)?
        .map(|c| {
            c.at.map(|at| (at, c.id)).ok_or_else(|| ApiError::new(ErrorCode::InvalidCursor, "the cursor has no time"))
        })
        .transpose()?;
    if !customers::exists(&state.store, caller.workspace_id, id).await? {
        return Err(ApiError::not_found());
    }
    let entries = timeline::page(&state.store, caller.workspace_id, id, &kinds, before, limit).await?;
    Ok(HttpResponse::Ok().json(paginate(entries, limit, |e| Cursor {
        sort: TIMELINE_ORDER.to_owned(),
        at: Some(e.occurred_at),
        id: e.id,
    })))
}
