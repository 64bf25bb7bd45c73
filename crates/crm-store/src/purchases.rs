//! Purchases, their line items and refunds: rows, the mapping to domain types, and every
//! query, scoped by workspace. A purchase is never updated except by a refund, and never deleted.
//!
//! The statements of each write transaction are macros (`insert_purchase!`, `apply_refund!`) so
//! that other modules (loyalty points) can run them inside their own `write_tx!` together with
//! their own statements, all committed or none.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use crm_domain::audit::{AuditAction, Change, diff};
use crm_domain::loyalty::{EarnLine, points_to_reverse};
use crm_domain::page::Cursor;
use crm_domain::purchase::{
    Channel, NewPurchase, Purchase, PurchaseFilter, PurchaseItem, PurchaseSort, PurchaseSortField, PurchaseStatus,
    Refund, RefundInput, RefundPlan, RefundRefused, RefundedItem, category_revenue, plan_refund,
};
use crm_domain::{CustomerId, PurchaseId, RefundId, ValidationErrors, WorkspaceId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use crate::audit::{NewAuditRow, actor_columns, actor_of};
use crate::error::is_unique_violation;
use crate::query::{RenderedSelection, keyset};
use crate::schema::{purchase_categories, purchase_items, purchase_refunds, purchases};
use crate::types::{Id, Json, Ts, now};
use crate::{Conn, Context, Store, StoreError, per_backend, write_tx};

pub const ENTITY: &str = "purchase";

pub(crate) static PURCHASE_COLUMNS: RenderedSelection<PurchaseRow> = RenderedSelection::new();

#[derive(Queryable, Selectable)]
#[diesel(table_name = purchases)]
pub(crate) struct PurchaseRow {
    id: Id,
    customer_id: Id,
    external_order_id: Option<String>,
    channel: String,
    status: String,
    occurred_at: Ts,
    currency: String,
    subtotal_minor: i64,
    discount_minor: i64,
    tax_minor: i64,
    shipping_minor: i64,
    total_minor: i64,
    refunded_minor: i64,
    coupon_code: Option<String>,
    points_earned: i64,
    points_reversed: i64,
    metadata: Json,
    version: i64,
    created_at: Ts,
    updated_at: Ts,
}

static ITEM_COLUMNS: RenderedSelection<ItemRow> = RenderedSelection::new();

#[derive(Queryable, Selectable)]
#[diesel(table_name = purchase_items)]
struct ItemRow {
    purchase_id: Id,
    sku: String,
    name: String,
    category: Option<String>,
    quantity: i32,
    unit_price_minor: i64,
    line_total_minor: i64,
    refunded_quantity: i32,
}

static REFUND_COLUMNS: RenderedSelection<RefundRow> = RenderedSelection::new();

#[derive(Queryable, Selectable)]
#[diesel(table_name = purchase_refunds)]
struct RefundRow {
    id: Id,
    purchase_id: Id,
    amount_minor: i64,
    items: Json,
    reason: Option<String>,
    points_reversed: i64,
    actor_type: String,
    actor_id: Option<Id>,
    created_at: Ts,
}

#[derive(Insertable)]
#[diesel(table_name = purchases, treat_none_as_default_value = false)]
pub(crate) struct NewPurchaseRow {
    id: Id,
    workspace_id: Id,
    customer_id: Id,
    external_order_id: Option<String>,
    channel: &'static str,
    status: &'static str,
    occurred_at: Ts,
    currency: String,
    subtotal_minor: i64,
    discount_minor: i64,
    tax_minor: i64,
    shipping_minor: i64,
    total_minor: i64,
    refunded_minor: i64,
    coupon_code: Option<String>,
    points_earned: i64,
    points_reversed: i64,
    metadata: Json,
    version: i64,
    created_at: Ts,
    updated_at: Ts,
}

#[derive(Insertable)]
#[diesel(table_name = purchase_items, treat_none_as_default_value = false)]
pub(crate) struct NewItemRow {
    purchase_id: Id,
    position: i32,
    workspace_id: Id,
    sku: String,
    name: String,
    category: Option<String>,
    quantity: i32,
    unit_price_minor: i64,
    line_total_minor: i64,
    refunded_quantity: i32,
}

#[derive(Insertable)]
#[diesel(table_name = purchase_categories, treat_none_as_default_value = false)]
pub(crate) struct NewCategoryRow {
    purchase_id: Id,
    category: Option<String>,
    workspace_id: Id,
    customer_id: Id,
    currency: String,
    occurred_at: Ts,
    revenue_minor: i64,
}

/// The `purchase_categories` rows of a purchase with these lines and status.
fn category_rows(
    (ws, id): (WorkspaceId, PurchaseId),
    (customer, currency, occurred_at): (CustomerId, &str, DateTime<Utc>),
    items: &[PurchaseItem],
    status: PurchaseStatus,
) -> Vec<NewCategoryRow> {
    category_revenue(items, status)
        .into_iter()
        .map(|(category, revenue_minor)| NewCategoryRow {
            purchase_id: Id(id.0),
            category,
            workspace_id: Id(ws.0),
            customer_id: Id(customer.0),
            currency: currency.to_owned(),
            occurred_at: Ts(occurred_at),
            revenue_minor,
        })
        .collect()
}

#[derive(Insertable)]
#[diesel(table_name = purchase_refunds, treat_none_as_default_value = false)]
pub(crate) struct NewRefundRow {
    id: Id,
    workspace_id: Id,
    purchase_id: Id,
    amount_minor: i64,
    items: Json,
    reason: Option<String>,
    points_reversed: i64,
    actor_type: &'static str,
    actor_id: Option<Id>,
    created_at: Ts,
}

fn corrupt(what: &str, value: impl std::fmt::Debug) -> StoreError {
    StoreError::Corrupt(format!("purchase {what} {value:?}"))
}

fn item_of(r: ItemRow) -> PurchaseItem {
    PurchaseItem {
        sku: r.sku,
        name: r.name,
        category: r.category,
        quantity: i64::from(r.quantity),
        unit_price_minor: r.unit_price_minor,
        line_total_minor: r.line_total_minor,
        refunded_quantity: i64::from(r.refunded_quantity),
    }
}

fn refund_of(r: RefundRow) -> Result<Refund, StoreError> {
    Ok(Refund {
        id: RefundId(r.id.0),
        amount_minor: r.amount_minor,
        items: r.items.decode::<Vec<RefundedItem>>()?,
        reason: r.reason,
        points_reversed: r.points_reversed,
        actor: actor_of(&r.actor_type, r.actor_id),
        created_at: r.created_at.0,
    })
}

fn assemble(r: PurchaseRow, items: Vec<PurchaseItem>, refunds: Vec<Refund>) -> Result<Purchase, StoreError> {
    let metadata = match r.metadata.0 {
        serde_json::Value::Object(map) => map,
        other => return Err(corrupt("metadata", other)),
    };
    Ok(Purchase {
        id: PurchaseId(r.id.0),
        customer_id: CustomerId(r.customer_id.0),
        external_order_id: r.external_order_id,
        channel: Channel::parse(&r.channel).ok_or_else(|| corrupt("channel", &r.channel))?,
        occurred_at: r.occurred_at.0,
        currency: r.currency,
        items,
        subtotal_minor: r.subtotal_minor,
        discount_minor: r.discount_minor,
        tax_minor: r.tax_minor,
        shipping_minor: r.shipping_minor,
        total_minor: r.total_minor,
        refunded_minor: r.refunded_minor,
        status: PurchaseStatus::parse(&r.status).ok_or_else(|| corrupt("status", &r.status))?,
        coupon_code: r.coupon_code,
        metadata,
        points_earned: r.points_earned,
        points_reversed: r.points_reversed,
        refunds,
        version: r.version,
        created_at: r.created_at.0,
        updated_at: r.updated_at.0,
    })
}

/// Completes purchase rows with their items (in order) and refunds (oldest first): two queries
/// for the whole page, not two per purchase.
pub(crate) async fn load(
    conn: &mut Conn,
    ws: WorkspaceId,
    rows: Vec<PurchaseRow>,
) -> Result<Vec<Purchase>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Id> = rows.iter().map(|r| r.id).collect();
    let item_rows: Vec<ItemRow> = per_backend!(conn, |c| purchase_items::table
        .filter(purchase_items::workspace_id.eq(Id(ws.0)))
        .filter(purchase_items::purchase_id.eq_any(&ids))
        .order((purchase_items::purchase_id, purchase_items::position))
        .select(ITEM_COLUMNS.as_select())
        .load(c)
        .await)?;
    let refund_rows: Vec<RefundRow> = per_backend!(conn, |c| purchase_refunds::table
        .filter(purchase_refunds::workspace_id.eq(Id(ws.0)))
        .filter(purchase_refunds::purchase_id.eq_any(&ids))
        .order((purchase_refunds::created_at, purchase_refunds::id))
        .select(REFUND_COLUMNS.as_select())
        .load(c)
        .await)?;
    let mut items: HashMap<Uuid, Vec<PurchaseItem>> = HashMap::new();
    for row in item_rows {
        items.entry(row.purchase_id.0).or_default().push(item_of(row));
    }
    let mut refunds: HashMap<Uuid, Vec<Refund>> = HashMap::new();
    for row in refund_rows {
        refunds.entry(row.purchase_id.0).or_default().push(refund_of(row)?);
    }
    rows.into_iter()
        .map(|row| {
            let id = row.id.0;
            assemble(row, items.remove(&id).unwrap_or_default(), refunds.remove(&id).unwrap_or_default())
        })
        .collect()
}

/// The rows of a validated purchase, made outside the transaction.
pub(crate) struct PreparedPurchase {
    pub(crate) row: NewPurchaseRow,
    pub(crate) items: Vec<NewItemRow>,
    pub(crate) categories: Vec<NewCategoryRow>,
    pub(crate) audit: NewAuditRow,
}

/// Prepares the rows of `new` for `insert_purchase!`.
pub(crate) fn prepare(ctx: &Context, new: &NewPurchase) -> Result<PreparedPurchase, StoreError> {
    let id = PurchaseId::generate();
    let (ws, at) = (Id(ctx.workspace_id.0), now());
    let items = new
        .items
        .iter()
        .enumerate()
        .map(|(position, item)| {
            Ok(NewItemRow {
                purchase_id: Id(id.0),
                position: i32::try_from(position).map_err(|_| corrupt("position", position))?,
                workspace_id: ws,
                sku: item.sku.clone(),
                name: item.name.clone(),
                category: item.category.clone(),
                quantity: i32::try_from(item.quantity).map_err(|_| corrupt("quantity", item.quantity))?,
                unit_price_minor: item.unit_price_minor,
                line_total_minor: item.line_total_minor,
                refunded_quantity: 0,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let recorded = json!({
        "customer_id": new.customer_id, "external_order_id": new.external_order_id, "channel": new.channel,
        "occurred_at": new.occurred_at, "currency": new.currency, "items": new.items,
        "subtotal_minor": new.subtotal_minor, "discount_minor": new.discount_minor, "tax_minor": new.tax_minor,
        "shipping_minor": new.shipping_minor, "total_minor": new.total_minor, "coupon_code": new.coupon_code,
        "metadata": new.metadata,
    });
    let changes = diff(&json!({}), &recorded);
    Ok(PreparedPurchase {
        row: NewPurchaseRow {
            id: Id(id.0),
            workspace_id: ws,
            customer_id: Id(new.customer_id.0),
            external_order_id: new.external_order_id.clone(),
            channel: new.channel.as_str(),
            status: PurchaseStatus::Completed.as_str(),
            occurred_at: Ts(new.occurred_at),
            currency: new.currency.clone(),
            subtotal_minor: new.subtotal_minor,
            discount_minor: new.discount_minor,
            tax_minor: new.tax_minor,
            shipping_minor: new.shipping_minor,
            total_minor: new.total_minor,
            refunded_minor: 0,
            coupon_code: new.coupon_code.clone(),
            points_earned: 0,
            points_reversed: 0,
            metadata: Json(serde_json::Value::Object(new.metadata.clone())),
            version: 1,
            created_at: Ts(at),
            updated_at: Ts(at),
        },
        items,
        categories: category_rows(
            (ctx.workspace_id, id),
            (new.customer_id, &new.currency, new.occurred_at),
            &new.items,
            PurchaseStatus::Completed,
        ),
        audit: NewAuditRow::new(ctx, ENTITY, id.0, AuditAction::Create, &changes, at),
    })
}

/// Inserts a [`PreparedPurchase`] (purchase, item and category rows, audit event) inside a `write_tx!`
/// body and evaluates to the stored [`PurchaseRow`]. A second purchase with the same
/// `external_order_id` fails with a unique violation, which rolls the transaction back.
macro_rules! insert_purchase {
    ($c:expr, $prepared:expr) => {{
        let prepared: &$crate::purchases::PreparedPurchase = $prepared;
        let row: $crate::purchases::PurchaseRow = diesel_async::RunQueryDsl::get_result(
            diesel::insert_into($crate::schema::purchases::table)
                .values(&prepared.row)
                .returning(<$crate::purchases::PurchaseRow as diesel::SelectableHelper<_>>::as_returning()),
            $c,
        )
        .await?;
        // One statement per line: diesel's multi-row insert does not compile for SQLite here,
        // and the statement is prepared once per connection.
        for item in &prepared.items {
            diesel_async::RunQueryDsl::execute(
                diesel::insert_into($crate::schema::purchase_items::table).values(item),
                $c,
            )
            .await?;
        }
        for category in &prepared.categories {
            diesel_async::RunQueryDsl::execute(
                diesel::insert_into($crate::schema::purchase_categories::table).values(category),
                $c,
            )
            .await?;
        }
        diesel_async::RunQueryDsl::execute(
            diesel::insert_into($crate::schema::audit_events::table).values(&prepared.audit),
            $c,
        )
        .await?;
        row
    }};
}
pub(crate) use insert_purchase;

/// The result of recording a purchase: `created` is false when the order was already recorded
/// (same `external_order_id`) and `purchase` is that stored one.
#[derive(Debug)]
pub struct Recorded {
    pub purchase: Purchase,
    pub created: bool,
}

/// Records a validated purchase for a live customer (else 422 `customer_id`/`not_found`).
///
/// An order whose `external_order_id` the workspace already holds is not recorded again: the
/// stored purchase is answered instead, whatever the rest of the body says. Two creates racing
/// with the same number both reach the insert; the unique index lets one win and the other
/// reads the winner.
pub async fn create(store: &Store, ctx: &Context, new: NewPurchase) -> Result<Recorded, StoreError> {
    let ws = ctx.workspace_id;
    let mut conn = store.write().await?;
    if let Some(order) = &new.external_order_id
        && let Some(purchase) = find_by_order(&mut conn, ws, order).await?
    {
        return Ok(Recorded { purchase, created: false });
    }
    let mut errors = ValidationErrors::default();
    crate::refs::check_customer(&mut conn, ws, Some(new.customer_id), "customer_id", &mut errors).await?;
    errors.into_result(()).map_err(StoreError::Invalid)?;
    let prepared = prepare(ctx, &new)?;
    let purchase_id = PurchaseId(prepared.row.id.0);
    let lines: Vec<EarnLine> = new
        .items
        .iter()
        .map(|item| EarnLine { category: item.category.clone(), net_minor: item.line_total_minor })
        .collect();
    let inserted: Result<PurchaseRow, StoreError> = write_tx!(&mut conn, |c| {
        let mut row = crate::purchases::insert_purchase!(c, &prepared);
        // The points commit with the purchase, or neither does.
        let points = crate::loyalty::earn_for_purchase!(
            c,
            ctx,
            new.customer_id,
            purchase_id,
            &new.currency,
            new.occurred_at,
            &lines,
            new.discount_minor
        );
        if points > 0 {
            diesel::update(purchases::table.filter(purchases::id.eq(prepared.row.id)))
                .set(purchases::points_earned.eq(points))
                .execute(c)
                .await?;
            row.points_earned = points;
        }
        Ok(row)
    });
    match inserted {
        Ok(row) => Ok(Recorded { purchase: assemble(row, new.items, Vec::new())?, created: true }),
        Err(e) if is_unique_violation(&e) => {
            let order = new.external_order_id.as_deref().ok_or(e)?;
            let purchase = find_by_order(&mut conn, ws, order).await?.ok_or(StoreError::NotFound)?;
            Ok(Recorded { purchase, created: false })
        }
        Err(e) => Err(e),
    }
}

async fn find_by_order(conn: &mut Conn, ws: WorkspaceId, order: &str) -> Result<Option<Purchase>, StoreError> {
    let row: Option<PurchaseRow> = per_backend!(conn, |c| purchases::table
        .filter(purchases::workspace_id.eq(Id(ws.0)))
        .filter(purchases::external_order_id.eq(order))
        .select(PURCHASE_COLUMNS.as_select())
        .get_result(c)
        .await
        .optional())?;
    match row {
        Some(row) => Ok(load(conn, ws, vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// One purchase with its items and refunds.
pub async fn get(store: &Store, ws: WorkspaceId, id: PurchaseId) -> Result<Purchase, StoreError> {
    fetch(&mut store.read().await?, ws, id).await
}

pub(crate) async fn fetch(conn: &mut Conn, ws: WorkspaceId, id: PurchaseId) -> Result<Purchase, StoreError> {
    let row: PurchaseRow = per_backend!(conn, |c| purchases::table
        .filter(purchases::workspace_id.eq(Id(ws.0)))
        .filter(purchases::id.eq(Id(id.0)))
        .select(PURCHASE_COLUMNS.as_select())
        .get_result(c)
        .await)?;
    load(conn, ws, vec![row]).await?.pop().ok_or(StoreError::NotFound)
}

/// Whether a purchase exists in the workspace.
pub async fn exists(store: &Store, ws: WorkspaceId, id: PurchaseId) -> Result<bool, StoreError> {
    let mut conn = store.read().await?;
    let n: i64 = per_backend!(&mut conn, |c| purchases::table
        .filter(purchases::workspace_id.eq(Id(ws.0)))
        .filter(purchases::id.eq(Id(id.0)))
        .count()
        .get_result(c)
        .await)?;
    Ok(n > 0)
}

/// A page of purchases (`limit + 1` rows, so the caller can tell whether more exist).
pub async fn list(
    store: &Store,
    ws: WorkspaceId,
    filter: &PurchaseFilter,
    sort: PurchaseSort,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<Vec<Purchase>, StoreError> {
    let mut conn = store.read().await?;
    let after = after.and_then(|c| c.at.map(|at| (Ts(at), Id(c.id))));
    let channels: Vec<&'static str> = filter.channels.iter().map(|c| c.as_str()).collect();
    let statuses: Vec<&'static str> = filter.statuses.iter().map(|s| s.as_str()).collect();
    let rows: Vec<PurchaseRow> = per_backend!(&mut conn, |c| {
        let mut query = purchases::table
            .filter(purchases::workspace_id.eq(Id(ws.0)))
            .select(PURCHASE_COLUMNS.as_select())
            .limit(i64::from(limit) + 1)
            .into_boxed();
        if let Some(id) = filter.customer_id {
            query = query.filter(purchases::customer_id.eq(Id(id.0)));
        }
        if !channels.is_empty() {
            query = query.filter(purchases::channel.eq_any(channels.clone()));
        }
        if !statuses.is_empty() {
            query = query.filter(purchases::status.eq_any(statuses.clone()));
        }
        if let Some(t) = filter.occurred_after {
            query = query.filter(purchases::occurred_at.ge(Ts(t)));
        }
        if let Some(t) = filter.occurred_before {
            query = query.filter(purchases::occurred_at.lt(Ts(t)));
        }
        if let Some(order) = &filter.external_order_id {
            query = query.filter(purchases::external_order_id.eq(order.clone()));
        }
        query = match (sort.field, sort.descending) {
            (PurchaseSortField::OccurredAt, false) => {
                keyset!(query, after, purchases::occurred_at, purchases::id, ge, gt, asc)
            }
            (PurchaseSortField::OccurredAt, true) => {
                keyset!(query, after, purchases::occurred_at, purchases::id, le, lt, desc)
            }
            (PurchaseSortField::CreatedAt, false) => {
                keyset!(query, after, purchases::created_at, purchases::id, ge, gt, asc)
            }
            (PurchaseSortField::CreatedAt, true) => {
                keyset!(query, after, purchases::created_at, purchases::id, le, lt, desc)
            }
        };
        query.load(c).await
    })?;
    load(&mut conn, ws, rows).await
}

/// The cursor that resumes a list after `purchase`.
pub fn cursor_after(sort: PurchaseSort, purchase: &Purchase) -> Cursor {
    Cursor { sort: sort.as_str().to_owned(), at: Some(sort.key_of(purchase)), id: purchase.id.0 }
}

/// What a committed refund did: what loyalty needs to take back its share of the points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundApplied {
    pub purchase_id: PurchaseId,
    pub customer_id: CustomerId,
    pub refund_id: RefundId,
    pub amount_minor: i64,
    /// The purchase's total and the points it earned, as they were when refunded.
    pub total_minor: i64,
    pub points_earned: i64,
    /// Refunded in all, this refund included.
    pub refunded_minor: i64,
    pub at: DateTime<Utc>,
}

/// A planned refund's statements, made outside the transaction.
pub(crate) struct PreparedRefund {
    pub(crate) workspace_id: Id,
    pub(crate) purchase_id: Id,
    /// The purchase version the plan was made from; the update applies only to it.
    pub(crate) version: i64,
    pub(crate) status_after: &'static str,
    /// `(position, refunded_quantity after)` of each line that changes.
    pub(crate) lines: Vec<(i32, i32)>,
    /// The purchase's `purchase_categories` rows after the refund (they replace the old ones).
    pub(crate) categories: Vec<NewCategoryRow>,
    pub(crate) row: NewRefundRow,
    pub(crate) audit: NewAuditRow,
    pub(crate) applied: RefundApplied,
}

pub(crate) fn prepare_refund(
    ctx: &Context,
    current: &Purchase,
    plan: &RefundPlan,
    reason: Option<String>,
) -> Result<PreparedRefund, StoreError> {
    let (ws, at, refund_id) = (Id(ctx.workspace_id.0), now(), RefundId::generate());
    let lines = plan
        .lines
        .iter()
        .map(|(position, quantity)| {
            let position = i32::try_from(*position).map_err(|_| corrupt("position", position))?;
            let quantity = i32::try_from(*quantity).map_err(|_| corrupt("refunded quantity", quantity))?;
            Ok((position, quantity))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let (actor_type, actor_id) = actor_columns(ctx.actor);
    let changes = [
        Change { field: "refunded_minor".into(), from: json!(current.refunded_minor), to: json!(plan.refunded_after) },
        Change { field: "status".into(), from: json!(current.status), to: json!(plan.status_after) },
    ];
    Ok(PreparedRefund {
        workspace_id: ws,
        purchase_id: Id(current.id.0),
        version: current.version,
        status_after: plan.status_after.as_str(),
        lines,
        categories: category_rows(
            (ctx.workspace_id, current.id),
            (current.customer_id, &current.currency, current.occurred_at),
            &plan.items_after(&current.items),
            plan.status_after,
        ),
        row: NewRefundRow {
            id: Id(refund_id.0),
            workspace_id: ws,
            purchase_id: Id(current.id.0),
            amount_minor: plan.amount_minor,
            items: Json::of(&plan.items),
            reason: reason.clone(),
            points_reversed: 0,
            actor_type,
            actor_id,
            created_at: Ts(at),
        },
        audit: NewAuditRow::new(ctx, ENTITY, current.id.0, AuditAction::Refund, &changes, at).with_reason(reason),
        applied: RefundApplied {
            purchase_id: current.id,
            customer_id: current.customer_id,
            refund_id,
            amount_minor: plan.amount_minor,
            total_minor: current.total_minor,
            points_earned: current.points_earned,
            refunded_minor: plan.refunded_after,
            at,
        },
    })
}

/// Applies a [`PreparedRefund`] inside a `write_tx!` body: the purchase (only at the version
/// the refund was planned from), its lines' refunded quantities and category rows, the refund
/// row and the audit event. Evaluates to `Some(RefundApplied)`, or `None` when the purchase
/// changed meanwhile (nothing written).
macro_rules! apply_refund {
    ($c:expr, $prepared:expr) => {{
        use $crate::schema::{purchase_categories as categories, purchase_items as items, purchases as p};
        let prepared: &$crate::purchases::PreparedRefund = $prepared;
        let at = $crate::types::Ts(prepared.applied.at);
        let updated = diesel_async::RunQueryDsl::execute(
            diesel::update(
                p::table
                    .filter(p::workspace_id.eq(prepared.workspace_id))
                    .filter(p::id.eq(prepared.purchase_id))
                    .filter(p::version.eq(prepared.version)),
            )
            .set((
                p::refunded_minor.eq(prepared.applied.refunded_minor),
                p::status.eq(prepared.status_after),
                p::version.eq(prepared.version + 1),
                p::updated_at.eq(at),
            )),
            $c,
        )
        .await?;
        if updated == 1 {
            for (position, quantity) in &prepared.lines {
                diesel_async::RunQueryDsl::execute(
                    diesel::update(
                        items::table
                            .filter(items::purchase_id.eq(prepared.purchase_id))
                            .filter(items::position.eq(*position)),
                    )
                    .set(items::refunded_quantity.eq(*quantity)),
                    $c,
                )
                .await?;
            }
            diesel_async::RunQueryDsl::execute(
                diesel::delete(categories::table.filter(categories::purchase_id.eq(prepared.purchase_id))),
                $c,
            )
            .await?;
            for category in &prepared.categories {
                diesel_async::RunQueryDsl::execute(diesel::insert_into(categories::table).values(category), $c).await?;
            }
            diesel_async::RunQueryDsl::execute(
                diesel::insert_into($crate::schema::purchase_refunds::table).values(&prepared.row),
                $c,
            )
            .await?;
            diesel_async::RunQueryDsl::execute(
                diesel::insert_into($crate::schema::audit_events::table).values(&prepared.audit),
                $c,
            )
            .await?;
            Some(prepared.applied.clone())
        } else {
            None
        }
    }};
}
pub(crate) use apply_refund;

/// Refunds money (and possibly units) of a purchase, by the rules of
/// [`crm_domain::purchase::plan_refund`]: nothing left is 409 `already_refunded`, more than is
/// left is 422 `refund_exceeds_remaining`. With `if_match`, a stale version is a
/// `VersionMismatch`; without, a concurrent refund between our read and our write is retried
/// on the fresh purchase.
pub async fn refund(
    store: &Store,
    ctx: &Context,
    id: PurchaseId,
    if_match: Option<i64>,
    input: &RefundInput,
) -> Result<Purchase, StoreError> {
    let ws = ctx.workspace_id;
    let mut conn = store.write().await?;
    for _ in 0..3 {
        let current = fetch(&mut conn, ws, id).await?;
        if if_match.is_some_and(|v| v != current.version) {
            return Err(StoreError::VersionMismatch { current: current.version });
        }
        let plan = plan_refund(&current, input).map_err(|refused| match refused {
            RefundRefused::AlreadyRefunded => {
                StoreError::conflict("already_refunded", "the purchase is refunded in full; nothing is left to refund")
            }
            RefundRefused::Invalid(errors) => StoreError::Invalid(errors),
        })?;
        let prepared = prepare_refund(ctx, &current, &plan, input.reason.clone())?;
        let applied: Option<RefundApplied> = write_tx!(&mut conn, |c| {
            let applied = crate::purchases::apply_refund!(c, &prepared);
            if let Some(applied) = &applied {
                // The refunded share of the points goes with the refund, in the same commit.
                let accounted = crate::loyalty::reversal_accounted!(c, applied.customer_id, applied.purchase_id);
                let share =
                    points_to_reverse(applied.points_earned, accounted, applied.refunded_minor, applied.total_minor);
                let reversed =
                    crate::loyalty::reverse_for_refund!(c, ctx, applied.customer_id, applied.purchase_id, share);
                if reversed > 0 {
                    diesel::update(purchases::table.filter(purchases::id.eq(prepared.purchase_id)))
                        .set(purchases::points_reversed.eq(purchases::points_reversed + reversed))
                        .execute(c)
                        .await?;
                    diesel::update(purchase_refunds::table.filter(purchase_refunds::id.eq(prepared.row.id)))
                        .set(purchase_refunds::points_reversed.eq(reversed))
                        .execute(c)
                        .await?;
                }
            }
            Ok(applied)
        })?;
        match applied {
            Some(_) => return fetch(&mut conn, ws, id).await,
            None if if_match.is_some() => {
                let current = fetch(&mut conn, ws, id).await?;
                return Err(StoreError::VersionMismatch { current: current.version });
            }
            None => continue,
        }
    }
    Err(StoreError::conflict("edit_conflict", "the purchase kept changing; retry the request"))
}
