//! Coupons and their redemptions: rows, the mapping to domain types, and every query, scoped
//! by workspace. A redemption is one transaction that starts with a guarded `UPDATE` of the
//! coupon's `redemption_count`: on PostgreSQL its row lock serializes the redemptions of one
//! coupon (each later one re-reads the count and the customer's redemptions after the earlier
//! commit); on SQLite `BEGIN IMMEDIATE` does. A refused redemption rolls the count back.

use chrono::Utc;
use crm_domain::access::Actor;
use crm_domain::audit::{AuditAction, diff};
use crm_domain::coupon::{
    Coupon, CouponFilter, CouponInput, CouponRedemption, CouponSort, CouponValidation, DiscountType, Order, Redeem,
    Refusal, VoidInput, check_redeemable, check_state, normalise_code,
};
use crm_domain::customer::CustomerFilter;
use crm_domain::page::Cursor;
use crm_domain::segment::SegmentCriteria;
use crm_domain::{
    ApiKeyId, CouponId, CouponRedemptionId, CustomerId, PurchaseId, SegmentId, UserId, ValidationErrors, WorkspaceId,
};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::audit::NewAuditRow;
use crate::customers::filtered;
use crate::error::is_unique_violation;
use crate::query::{Cached, keyset, like_pattern};
use crate::schema::{
    audit_events, coupon_redemptions, coupons, customer_stats, customer_tags, customers, purchases, segments,
};
use crate::soft_delete;
use crate::types::{Id, Json, Ts, now};
use crate::{Conn, Context, Store, StoreError, per_backend, write_tx};

const ENTITY: &str = "coupon";
const REDEMPTION: &str = "coupon_redemption";

#[derive(Queryable, Selectable)]
#[diesel(table_name = coupons)]
struct CouponRow {
    id: Id,
    code: String,
    name: Option<String>,
    description: Option<String>,
    discount_type: String,
    percent_off: Option<i64>,
    amount_off_minor: Option<i64>,
    currency: Option<String>,
    min_order_minor: Option<i64>,
    valid_from: Option<Ts>,
    valid_until: Option<Ts>,
    max_redemptions: Option<i64>,
    max_redemptions_per_customer: Option<i64>,
    segment_id: Option<Id>,
    redemption_count: i64,
    active: bool,
    version: i64,
    created_at: Ts,
    updated_at: Ts,
    deleted_at: Option<Ts>,
}

/// The data columns, shared by insert and update.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = coupons, treat_none_as_null = true, treat_none_as_default_value = false)]
struct CouponData {
    code: String,
    name: Option<String>,
    description: Option<String>,
    discount_type: &'static str,
    percent_off: Option<i64>,
    amount_off_minor: Option<i64>,
    currency: Option<String>,
    min_order_minor: Option<i64>,
    valid_from: Option<Ts>,
    valid_until: Option<Ts>,
    max_redemptions: Option<i64>,
    max_redemptions_per_customer: Option<i64>,
    segment_id: Option<Id>,
    active: bool,
    search_text: String,
}

impl From<&CouponInput> for CouponData {
    fn from(c: &CouponInput) -> Self {
        CouponData {
            code: c.code.clone(),
            name: c.name.clone(),
            description: c.description.clone(),
            discount_type: c.discount_type.as_str(),
            percent_off: c.percent_off,
            amount_off_minor: c.amount_off_minor,
            currency: c.currency.clone(),
            min_order_minor: c.min_order_minor,
            valid_from: c.valid_from.map(Ts),
            valid_until: c.valid_until.map(Ts),
            max_redemptions: c.max_redemptions,
            max_redemptions_per_customer: c.max_redemptions_per_customer,
            segment_id: c.segment_id.map(|id| Id(id.0)),
            active: c.active,
            search_text: c.search_text(),
        }
    }
}

impl TryFrom<CouponRow> for Coupon {
    type Error = StoreError;
    fn try_from(r: CouponRow) -> Result<Self, StoreError> {
        let discount_type = DiscountType::parse(&r.discount_type)
            .ok_or_else(|| StoreError::Corrupt(format!("coupon discount_type {:?}", r.discount_type)))?;
        Ok(Coupon {
            id: CouponId(r.id.0),
            data: CouponInput {
                code: r.code,
                name: r.name,
                description: r.description,
                discount_type,
                percent_off: r.percent_off,
                amount_off_minor: r.amount_off_minor,
                currency: r.currency,
                min_order_minor: r.min_order_minor,
                valid_from: r.valid_from.map(|t| t.0),
                valid_until: r.valid_until.map(|t| t.0),
                max_redemptions: r.max_redemptions,
                max_redemptions_per_customer: r.max_redemptions_per_customer,
                segment_id: r.segment_id.map(|id| SegmentId(id.0)),
                active: r.active,
            },
            redemption_count: r.redemption_count,
            version: r.version,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
            deleted_at: r.deleted_at.map(|t| t.0),
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = coupon_redemptions, treat_none_as_default_value = false)]
struct RedemptionRow {
    id: Id,
    workspace_id: Id,
    coupon_id: Id,
    customer_id: Id,
    order_amount_minor: Option<i64>,
    currency: Option<String>,
    discount_minor: i64,
    purchase_id: Option<Id>,
    external_order_id: Option<String>,
    actor_type: String,
    actor_id: Option<Id>,
    created_at: Ts,
    voided_at: Option<Ts>,
    void_reason: Option<String>,
}

impl RedemptionRow {
    fn into_redemption(self, code: &str) -> CouponRedemption {
        let actor = match (self.actor_type.as_str(), self.actor_id) {
            ("user", Some(id)) => Actor::User(UserId(id.0)),
            ("api_key", Some(id)) => Actor::ApiKey(ApiKeyId(id.0)),
            _ => Actor::System,
        };
        CouponRedemption {
            id: CouponRedemptionId(self.id.0),
            coupon_id: CouponId(self.coupon_id.0),
            code: code.to_owned(),
            customer_id: CustomerId(self.customer_id.0),
            order_amount_minor: self.order_amount_minor,
            currency: self.currency,
            discount_minor: self.discount_minor,
            purchase_id: self.purchase_id.map(|id| PurchaseId(id.0)),
            external_order_id: self.external_order_id,
            actor,
            created_at: self.created_at.0,
            voided_at: self.voided_at.map(|t| t.0),
            void_reason: self.void_reason,
        }
    }
}

fn code_taken(error: StoreError) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::conflict("coupon_code_taken", "a live coupon of this workspace already has this code")
    } else {
        error
    }
}

fn refused(refusal: Refusal) -> StoreError {
    StoreError::conflict(refusal.code(), refusal.message())
}

/// Checks a segment that is new to the coupon (an unchanged one stays valid even when the
/// segment was deleted since: its criteria still restrict the coupon).
async fn check_references(
    conn: &mut Conn,
    ws: WorkspaceId,
    next: &CouponInput,
    previous: Option<&CouponInput>,
) -> Result<(), StoreError> {
    let mut errors = ValidationErrors::default();
    let segment = next.segment_id.filter(|s| previous.is_none_or(|p| p.segment_id != Some(*s)));
    crate::refs::check_segment(conn, ws, segment, "segment_id", &mut errors).await?;
    errors.into_result(()).map_err(StoreError::Invalid)
}

pub async fn create(store: &Store, ctx: &Context, input: CouponInput) -> Result<Coupon, StoreError> {
    let mut conn = store.write().await?;
    check_references(&mut conn, ctx.workspace_id, &input, None).await?;
    let id = CouponId::generate();
    let at = now();
    let data = CouponData::from(&input);
    let changes = diff(&serde_json::json!({}), &serde_json::to_value(&input).unwrap_or_default());
    let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Create, &changes, at);
    let row: CouponRow = write_tx!(&mut conn, |c| {
        let row = diesel::insert_into(coupons::table)
            .values((
                coupons::id.eq(Id(id.0)),
                coupons::workspace_id.eq(Id(ctx.workspace_id.0)),
                &data,
                coupons::version.eq(1),
                coupons::created_at.eq(Ts(at)),
                coupons::updated_at.eq(Ts(at)),
            ))
            .returning(CouponRow::as_returning())
            .get_result(c)
            .await?;
        diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        Ok(row)
    })
    .map_err(code_taken)?;
    row.try_into()
}

/// One coupon; deleted ones only when `include_deleted`.
pub async fn get(store: &Store, ws: WorkspaceId, id: CouponId, include_deleted: bool) -> Result<Coupon, StoreError> {
    let mut conn = store.read().await?;
    fetch(&mut conn, ws, id, include_deleted).await
}

async fn fetch(conn: &mut Conn, ws: WorkspaceId, id: CouponId, include_deleted: bool) -> Result<Coupon, StoreError> {
    let row: CouponRow = per_backend!(conn, |c| {
        let query = coupons::table
            .filter(coupons::workspace_id.eq(Id(ws.0)))
            .filter(coupons::id.eq(Id(id.0)))
            .select(CouponRow::as_select());
        if include_deleted {
            query.get_result(c).await
        } else {
            query.filter(coupons::deleted_at.is_null()).get_result(c).await
        }
    })?;
    row.try_into()
}

/// The live coupon with `code` (any case); an impossible code is simply not found.
async fn fetch_by_code(conn: &mut Conn, ws: WorkspaceId, code: &str) -> Result<Coupon, StoreError> {
    let code = normalise_code(code).ok_or(StoreError::NotFound)?;
    let row: CouponRow = per_backend!(conn, |c| coupons::table
        .filter(coupons::workspace_id.eq(Id(ws.0)))
        .filter(coupons::code.eq(&code))
        .filter(coupons::deleted_at.is_null())
        .select(CouponRow::as_select())
        .get_result(c)
        .await)?;
    row.try_into()
}

/// A page of coupons (`limit + 1` rows, so the caller can tell whether more exist).
pub async fn list(
    store: &Store,
    ws: WorkspaceId,
    filter: &CouponFilter,
    sort: CouponSort,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<Vec<Coupon>, StoreError> {
    let mut conn = store.read().await?;
    let after = after.and_then(|c| c.at.map(|at| (Ts(at), Id(c.id))));
    let rows: Vec<CouponRow> = per_backend!(&mut conn, |c| {
        let mut query = coupons::table
            .filter(coupons::workspace_id.eq(Id(ws.0)))
            .select(CouponRow::as_select())
            .limit(i64::from(limit) + 1)
            .into_boxed();
        query = if filter.deleted {
            query.filter(coupons::deleted_at.is_not_null())
        } else {
            query.filter(coupons::deleted_at.is_null())
        };
        if let Some(active) = filter.active {
            query = query.filter(coupons::active.eq(active));
        }
        if let Some(code) = &filter.code {
            query = query.filter(coupons::code.eq(code.clone()));
        }
        if let Some(segment) = filter.segment_id {
            query = query.filter(coupons::segment_id.eq(Id(segment.0)));
        }
        if let Some(q) = &filter.q {
            query = query.filter(coupons::search_text.like(like_pattern(q)).escape('\\'));
        }
        query = if sort.ascending {
            keyset!(query, after, coupons::created_at, coupons::id, ge, gt, asc)
        } else {
            keyset!(query, after, coupons::created_at, coupons::id, le, lt, desc)
        };
        query.load(c).await
    })?;
    rows.into_iter().map(Coupon::try_from).collect()
}

/// The cursor that resumes a list after `coupon`.
pub fn cursor_after(sort: CouponSort, coupon: &Coupon) -> Cursor {
    Cursor { sort: sort.as_str().to_owned(), at: Some(coupon.created_at), id: coupon.id.0 }
}

/// Applies `change` to the current coupon and stores the result, guarded by its version. Once
/// redeemed, its code, discount and currency are fixed (409 `coupon_in_use`), and
/// `max_redemptions` cannot go below the redemptions made. The guards are part of the
/// `UPDATE`, so a redemption committed between our read and our write is not overlooked.
pub async fn update(
    store: &Store,
    ctx: &Context,
    id: CouponId,
    if_match: Option<i64>,
    change: impl Fn(&Coupon) -> Result<CouponInput, ValidationErrors>,
) -> Result<Coupon, StoreError> {
    let mut conn = store.write().await?;
    for _ in 0..3 {
        let current = fetch(&mut conn, ctx.workspace_id, id, false).await?;
        if if_match.is_some_and(|v| v != current.version) {
            return Err(StoreError::VersionMismatch { current: current.version });
        }
        let next = change(&current).map_err(StoreError::Invalid)?;
        let terms_change = current.data.changes_terms(&next);
        // Voided redemptions count too: they keep the code and discount they were made with.
        if terms_change && (current.redemption_count > 0 || ever_redeemed(&mut conn, id).await?) {
            return Err(StoreError::conflict(
                "coupon_in_use",
                "the coupon has been redeemed: its code, discount and currency can no longer change; create a new coupon",
            ));
        }
        if next.max_redemptions.is_some_and(|max| max < current.redemption_count) {
            return Err(StoreError::invalid(
                "max_redemptions",
                "out_of_range",
                &format!("must not be below the {} redemptions made", current.redemption_count),
            ));
        }
        check_references(&mut conn, ctx.workspace_id, &next, Some(&current.data)).await?;
        let before = serde_json::to_value(&current.data).unwrap_or_default();
        let changes = diff(&before, &serde_json::to_value(&next).unwrap_or_default());
        if changes.is_empty() {
            return Ok(current);
        }
        let at = now();
        let data = CouponData::from(&next);
        let audit = NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Update, &changes, at);
        // The most redemptions the change tolerates: none when it changes the terms.
        let count_cap = if terms_change { 0 } else { next.max_redemptions.unwrap_or(i64::MAX) };
        let row: Option<CouponRow> = write_tx!(&mut conn, |c| {
            let target = coupons::table
                .filter(coupons::workspace_id.eq(Id(ctx.workspace_id.0)))
                .filter(coupons::id.eq(Id(id.0)))
                .filter(coupons::version.eq(current.version))
                .filter(coupons::deleted_at.is_null())
                .filter(coupons::redemption_count.le(count_cap));
            let row = Cached(
                diesel::update(target)
                    .set((&data, coupons::version.eq(current.version + 1), coupons::updated_at.eq(Ts(at))))
                    .returning(CouponRow::as_returning()),
            )
            .get_result(c)
            .await
            .optional()?;
            if row.is_some() {
                diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
            }
            Ok(row)
        })
        .map_err(code_taken)?;
        match row {
            Some(row) => return row.try_into(),
            None => {
                // Edited (a stale If-Match) or redeemed since our read: the next round decides.
                let fresh = fetch(&mut conn, ctx.workspace_id, id, false).await?;
                if if_match.is_some() && fresh.version != current.version {
                    return Err(StoreError::VersionMismatch { current: fresh.version });
                }
            }
        }
    }
    Err(StoreError::conflict("edit_conflict", "the coupon kept changing; retry the request"))
}

/// Whether the coupon has any redemption, voided ones included.
async fn ever_redeemed(conn: &mut Conn, id: CouponId) -> Result<bool, StoreError> {
    let any: Option<Id> = per_backend!(conn, |c| coupon_redemptions::table
        .filter(coupon_redemptions::coupon_id.eq(Id(id.0)))
        .select(coupon_redemptions::id)
        .first(c)
        .await
        .optional())?;
    Ok(any.is_some())
}

/// Soft-deletes (`deleted = true`) or restores (`deleted = false`) a coupon. A deleted coupon
/// cannot be redeemed and frees its code; restoring it while another live coupon has the code
/// is 409 `coupon_code_taken`.
pub async fn set_deleted(
    store: &Store,
    ctx: &Context,
    id: CouponId,
    if_match: Option<i64>,
    deleted: bool,
) -> Result<Coupon, StoreError> {
    let mut conn = store.write().await?;
    let current = fetch(&mut conn, ctx.workspace_id, id, true).await?;
    if !soft_delete::needed(current.deleted_at.is_some(), current.version, if_match, deleted)? {
        return Ok(current);
    }
    let written = soft_delete::set_deleted_at!(
        &mut conn,
        ctx,
        ENTITY,
        coupons,
        CouponRow,
        id.0,
        (current.version, current.deleted_at),
        deleted
    );
    match written.map_err(code_taken)? {
        Some(row) => row.try_into(),
        None => Err(StoreError::VersionMismatch { current: current.version + 1 }),
    }
}

/// How often `$customer` redeemed `$coupon` (voided redemptions aside), on the backend
/// connection `$c`.
macro_rules! customer_redemptions {
    ($c:ident, $coupon:expr, $customer:expr) => {
        coupon_redemptions::table
            .filter(coupon_redemptions::coupon_id.eq(Id($coupon.0)))
            .filter(coupon_redemptions::customer_id.eq(Id($customer.0)))
            .filter(coupon_redemptions::voided_at.is_null())
            .count()
            .get_result::<i64>($c)
            .await
    };
}

/// The criteria of segment `$segment`, deleted or not: a deleted segment still restricts its
/// coupons.
macro_rules! segment_criteria {
    ($c:ident, $ws:expr, $segment:expr) => {
        segments::table
            .filter(segments::workspace_id.eq(Id($ws.0)))
            .filter(segments::id.eq(Id($segment.0)))
            .select(segments::filter)
            .get_result::<Json>($c)
            .await
    };
}

/// 1 when `$customer` matches `$criteria`, evaluated by the customer list's own filter, else 0.
macro_rules! matching_customers {
    ($c:ident, $ws:expr, $criteria:expr, $customer:expr) => {{
        let ws: WorkspaceId = $ws;
        let filter = CustomerFilter { criteria: $criteria, ..Default::default() };
        let query = customers::table
            .filter(customers::workspace_id.eq(Id(ws.0)))
            .filter(customers::id.eq(Id($customer.0)))
            .count()
            .into_boxed();
        filtered!(query, ws, &filter).get_result::<i64>($c).await
    }};
}

/// Checks the customer and purchase a redemption or a check names.
async fn check_customer_and_purchase(
    conn: &mut Conn,
    ws: WorkspaceId,
    customer: CustomerId,
    purchase: Option<PurchaseId>,
) -> Result<(), StoreError> {
    let mut errors = ValidationErrors::default();
    crate::refs::check_customer(conn, ws, Some(customer), "customer_id", &mut errors).await?;
    if let Some(purchase) = purchase {
        let found: i64 = per_backend!(conn, |c| purchases::table
            .filter(purchases::workspace_id.eq(Id(ws.0)))
            .filter(purchases::id.eq(Id(purchase.0)))
            .filter(purchases::customer_id.eq(Id(customer.0)))
            .count()
            .get_result(c)
            .await)?;
        if found == 0 {
            errors.add("purchase_id", "not_found", "no such purchase of this customer");
        }
    }
    errors.into_result(()).map_err(StoreError::Invalid)
}

/// Whether `customer` could redeem the live coupon `code` for `order` now, and for how much.
/// Reads only.
pub async fn check(
    store: &Store,
    ws: WorkspaceId,
    code: &str,
    customer: CustomerId,
    order: &Order,
) -> Result<CouponValidation, StoreError> {
    let mut conn = store.read_primary().await?;
    let coupon = fetch_by_code(&mut conn, ws, code).await?;
    check_customer_and_purchase(&mut conn, ws, customer, None).await?;
    let customer_redeemed = per_backend!(&mut conn, |c| customer_redemptions!(c, coupon.id, customer))?;
    let member = match coupon.data.segment_id {
        None => true,
        Some(segment) => {
            let criteria: SegmentCriteria = per_backend!(&mut conn, |c| segment_criteria!(c, ws, segment))?.decode()?;
            per_backend!(&mut conn, |c| matching_customers!(c, ws, criteria.clone(), customer))? > 0
        }
    };
    let outcome = check_redeemable(&coupon.data, Utc::now(), coupon.redemption_count, customer_redeemed, member, order);
    Ok(CouponValidation::new(&coupon, order, outcome))
}

/// Redeems the live coupon `code` for a customer: one transaction that counts the redemption
/// against the limits, checks every rule, and records the redemption with its audit event, or
/// rolls everything back with the refusal (`coupon_exhausted`, `coupon_limit_reached`, …).
pub async fn redeem(store: &Store, ctx: &Context, code: &str, redeem: Redeem) -> Result<CouponRedemption, StoreError> {
    let code = normalise_code(code).ok_or(StoreError::NotFound)?;
    let ws = ctx.workspace_id;
    let mut conn = store.write().await?;
    // An unknown code is 404 whatever the body says; the transaction reads the coupon again.
    fetch_by_code(&mut conn, ws, &code).await?;
    check_customer_and_purchase(&mut conn, ws, redeem.customer_id, redeem.purchase_id).await?;
    let at = now();
    let id = CouponRedemptionId::generate();
    let (actor_type, actor_id) = match ctx.actor {
        Actor::User(id) => ("user", Some(Id(id.0))),
        Actor::ApiKey(id) => ("api_key", Some(Id(id.0))),
        Actor::System => ("system", None),
    };
    let customer = redeem.customer_id;
    let order = &redeem.order;
    let row: RedemptionRow = write_tx!(&mut conn, |c| {
        let live = coupons::table
            .filter(coupons::workspace_id.eq(Id(ws.0)))
            .filter(coupons::code.eq(&code))
            .filter(coupons::deleted_at.is_null());
        let counted: Option<CouponRow> = diesel::update(live.filter(
            coupons::max_redemptions.is_null().or(coupons::redemption_count.nullable().lt(coupons::max_redemptions)),
        ))
        .set(coupons::redemption_count.eq(coupons::redemption_count + 1))
        .returning(CouponRow::as_returning())
        .get_result(c)
        .await
        .optional()?;
        let Some(counted) = counted else {
            // The guard refused, so the overall limit is used up; an earlier rule may say more.
            let coupon: Coupon = live.select(CouponRow::as_select()).get_result(c).await?.try_into()?;
            let refusal = check_state(&coupon.data, coupon.redemption_count, at).err().unwrap_or(Refusal::Exhausted);
            return Err(refused(refusal));
        };
        let coupon: Coupon = counted.try_into()?;
        let customer_redeemed = customer_redemptions!(c, coupon.id, customer)?;
        let member = match coupon.data.segment_id {
            None => true,
            Some(segment) => {
                let criteria: SegmentCriteria = segment_criteria!(c, ws, segment)?.decode()?;
                matching_customers!(c, ws, criteria, customer)? > 0
            }
        };
        let before = coupon.redemption_count - 1;
        let discount = check_redeemable(&coupon.data, at, before, customer_redeemed, member, order)
            .map_err(refused)?
            .ok_or_else(|| {
            StoreError::invalid(
                "order_amount_minor",
                "required",
                "a percent coupon needs the order amount to record its discount",
            )
        })?;
        let row = RedemptionRow {
            id: Id(id.0),
            workspace_id: Id(ws.0),
            coupon_id: Id(coupon.id.0),
            customer_id: Id(customer.0),
            order_amount_minor: order.amount_minor,
            currency: order.currency.clone().or_else(|| coupon.data.currency.clone()),
            discount_minor: discount,
            purchase_id: redeem.purchase_id.map(|p| Id(p.0)),
            external_order_id: redeem.external_order_id.clone(),
            actor_type: actor_type.to_owned(),
            actor_id,
            created_at: Ts(at),
            voided_at: None,
            void_reason: None,
        };
        let changes = diff(&serde_json::json!({}), &redemption_document(&row, &coupon.data.code));
        let audit = NewAuditRow::new(ctx, REDEMPTION, id.0, AuditAction::Create, &changes, at);
        let row = diesel::insert_into(coupon_redemptions::table)
            .values(&row)
            .returning(RedemptionRow::as_returning())
            .get_result(c)
            .await?;
        diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        Ok(row)
    })
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::conflict("coupon_already_redeemed", "the coupon was already redeemed for this external order")
        } else {
            e
        }
    })?;
    Ok(row.into_redemption(&code))
}

/// Voids a redemption of coupon `coupon` (the order was cancelled): it stops counting against
/// the coupon's limits, and its external order may redeem the coupon again. Voiding a voided
/// redemption changes nothing and answers it as it is, so a retry is safe.
pub async fn void_redemption(
    store: &Store,
    ctx: &Context,
    coupon: CouponId,
    id: CouponRedemptionId,
    input: VoidInput,
) -> Result<CouponRedemption, StoreError> {
    let ws = ctx.workspace_id;
    let mut conn = store.write().await?;
    let coupon = fetch(&mut conn, ws, coupon, true).await?;
    let at = now();
    let changes = diff(
        &serde_json::json!({"voided_at": null, "void_reason": null}),
        &serde_json::json!({"voided_at": at, "void_reason": input.reason}),
    );
    let audit = NewAuditRow::new(ctx, REDEMPTION, id.0, AuditAction::Update, &changes, at);
    let row: RedemptionRow = write_tx!(&mut conn, |c| {
        // The coupon's row is locked first, as a redemption locks it: a void and a redemption of
        // the same order must not each hold what the other waits for; two voids take turns.
        let counter = coupons::table.filter(coupons::workspace_id.eq(Id(ws.0))).filter(coupons::id.eq(Id(coupon.id.0)));
        diesel::update(counter).set(coupons::redemption_count.eq(coupons::redemption_count)).execute(c).await?;
        let redemption = coupon_redemptions::table
            .filter(coupon_redemptions::workspace_id.eq(Id(ws.0)))
            .filter(coupon_redemptions::coupon_id.eq(Id(coupon.id.0)))
            .filter(coupon_redemptions::id.eq(Id(id.0)));
        let voided: Option<RedemptionRow> = diesel::update(redemption.filter(coupon_redemptions::voided_at.is_null()))
            .set((coupon_redemptions::voided_at.eq(Some(Ts(at))), coupon_redemptions::void_reason.eq(&input.reason)))
            .returning(RedemptionRow::as_returning())
            .get_result(c)
            .await
            .optional()?;
        let Some(voided) = voided else {
            return Ok(redemption.select(RedemptionRow::as_select()).get_result(c).await?);
        };
        diesel::update(counter).set(coupons::redemption_count.eq(coupons::redemption_count - 1)).execute(c).await?;
        diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        Ok(voided)
    })?;
    Ok(row.into_redemption(&coupon.data.code))
}

/// The redemption's fields as its audit event records them.
fn redemption_document(row: &RedemptionRow, code: &str) -> serde_json::Value {
    serde_json::json!({
        "coupon_id": row.coupon_id.0,
        "code": code,
        "customer_id": row.customer_id.0,
        "order_amount_minor": row.order_amount_minor,
        "currency": row.currency,
        "discount_minor": row.discount_minor,
        "purchase_id": row.purchase_id.map(|id| id.0),
        "external_order_id": row.external_order_id,
    })
}

/// One redemption of the coupon `coupon` (deleted coupons included: redemptions are history).
pub async fn get_redemption(
    store: &Store,
    ws: WorkspaceId,
    coupon: CouponId,
    id: CouponRedemptionId,
) -> Result<CouponRedemption, StoreError> {
    let mut conn = store.read_primary().await?;
    let coupon = fetch(&mut conn, ws, coupon, true).await?;
    let row: RedemptionRow = per_backend!(&mut conn, |c| coupon_redemptions::table
        .filter(coupon_redemptions::workspace_id.eq(Id(ws.0)))
        .filter(coupon_redemptions::coupon_id.eq(Id(coupon.id.0)))
        .filter(coupon_redemptions::id.eq(Id(id.0)))
        .select(RedemptionRow::as_select())
        .get_result(c)
        .await)?;
    Ok(row.into_redemption(&coupon.data.code))
}

/// The coupon a redemption belongs to, for rebuilding a lost answer (`replay`).
pub async fn coupon_of_redemption(
    store: &Store,
    ws: WorkspaceId,
    id: CouponRedemptionId,
) -> Result<Coupon, StoreError> {
    let mut conn = store.read_primary().await?;
    let coupon: Id = per_backend!(&mut conn, |c| coupon_redemptions::table
        .filter(coupon_redemptions::workspace_id.eq(Id(ws.0)))
        .filter(coupon_redemptions::id.eq(Id(id.0)))
        .select(coupon_redemptions::coupon_id)
        .get_result(c)
        .await)?;
    fetch(&mut conn, ws, CouponId(coupon.0), true).await
}

/// A page of a coupon's redemptions, newest first (`limit + 1` rows); `before` is the id the
/// previous page ended on. Deleted coupons included.
pub async fn list_redemptions(
    store: &Store,
    ws: WorkspaceId,
    coupon: CouponId,
    customer: Option<CustomerId>,
    before: Option<uuid::Uuid>,
    limit: u32,
) -> Result<Vec<CouponRedemption>, StoreError> {
    let mut conn = store.read().await?;
    let coupon = fetch(&mut conn, ws, coupon, true).await?;
    let rows: Vec<RedemptionRow> = per_backend!(&mut conn, |c| {
        let mut query = coupon_redemptions::table
            .filter(coupon_redemptions::workspace_id.eq(Id(ws.0)))
            .filter(coupon_redemptions::coupon_id.eq(Id(coupon.id.0)))
            .select(RedemptionRow::as_select())
            .order(coupon_redemptions::id.desc())
            .limit(i64::from(limit) + 1)
            .into_boxed();
        if let Some(customer) = customer {
            query = query.filter(coupon_redemptions::customer_id.eq(Id(customer.0)));
        }
        if let Some(before) = before {
            query = query.filter(coupon_redemptions::id.lt(Id(before)));
        }
        query.load(c).await
    })?;
    Ok(rows.into_iter().map(|r| r.into_redemption(&coupon.data.code)).collect())
}
