//! Purchases: what a customer bought, on which channel, for how much, and the refunds that
//! correct it. A purchase is a fact and is never edited or deleted; a mistake is refunded.
//! The money rules (totals, what is left to refund, the status after a refund) are pure
//! functions here, with every sum checked: a huge number is a validation error, never a panic.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::access::Actor;
use crate::customer::str_enum;
use crate::deal::{AMOUNT_MAX, check_currency};
use crate::interaction::{FUTURE_TOLERANCE_HOURS, check_metadata, earliest};
use crate::owner::REASON_MAX;
use crate::{CustomerId, PurchaseId, RefundId, ValidationErrors};

pub const EXTERNAL_ORDER_ID_MAX: usize = 200;
pub const ITEMS_MAX: usize = 200;
pub const SKU_MAX: usize = 100;
pub const NAME_MAX: usize = 300;
pub const CATEGORY_MAX: usize = 100;
pub const QUANTITY_MAX: i64 = 1_000_000;
pub const COUPON_CODE_MAX: usize = 64;

/// Where the purchase was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Store,
    Web,
    Phone,
    Marketplace,
}

/// How much of a purchase has been given back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseStatus {
    /// Nothing refunded.
    Completed,
    /// Part of the total refunded.
    PartiallyRefunded,
    /// The whole total refunded.
    Refunded,
}

str_enum!(Channel { Store => "store", Web => "web", Phone => "phone", Marketplace => "marketplace" });
str_enum!(PurchaseStatus { Completed => "completed", PartiallyRefunded => "partially_refunded", Refunded => "refunded" });

/// One line of a purchase as the client sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sku": "TEA-GREEN-100", "name": "Green tea, 100 g", "category": "tea", "quantity": 2, "unit_price_minor": 4500}))]
pub struct PurchaseItemInput {
    /// The shop's article number.
    #[schema(min_length = 1, max_length = 100)]
    pub sku: String,
    #[schema(min_length = 1, max_length = 300)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 100)]
    pub category: Option<String>,
    #[schema(minimum = 1, maximum = 1000000)]
    pub quantity: i64,
    /// Price of one unit in minor units of `currency` (cents), before the order's discount.
    #[schema(minimum = 0)]
    pub unit_price_minor: i64,
}

/// The body of `POST /v1/purchases`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "customer_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1c",
    "external_order_id": "SHOP-100234",
    "channel": "web",
    "occurred_at": "2026-11-20T14:30:00Z",
    "currency": "EUR",
    "items": [
        {"sku": "TEA-GREEN-100", "name": "Green tea, 100 g", "category": "tea", "quantity": 2, "unit_price_minor": 4500},
        {"sku": "CUP-01", "name": "Cup", "quantity": 1, "unit_price_minor": 1200}
    ],
    "discount_minor": 1000,
    "tax_minor": 0,
    "shipping_minor": 490,
    "total_minor": 9690,
    "coupon_code": "WELCOME10",
    "metadata": {"store_id": "kyiv-1"}
}))]
pub struct PurchaseInput {
    /// A live customer of the workspace.
    pub customer_id: CustomerId,
    /// The shop's own order number, unique per workspace: an order sent again with the same
    /// number is recognised and answered with the purchase already recorded.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub external_order_id: Option<String>,
    pub channel: Channel,
    /// When the purchase happened; defaults to now. At most 24 hours in the future.
    #[serde(default)]
    pub occurred_at: Option<DateTime<Utc>>,
    /// ISO 4217, e.g. `EUR`.
    #[schema(pattern = "^[A-Za-z]{3}$", example = "EUR")]
    pub currency: String,
    /// 1 to 200 lines, kept in this order.
    pub items: Vec<PurchaseItemInput>,
    /// Order-level discount in minor units; at most the subtotal.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub discount_minor: i64,
    #[serde(default)]
    #[schema(minimum = 0)]
    pub tax_minor: i64,
    #[serde(default)]
    #[schema(minimum = 0)]
    pub shipping_minor: i64,
    /// Must equal `sum(quantity × unit_price_minor) − discount_minor + tax_minor + shipping_minor`.
    #[schema(minimum = 0)]
    pub total_minor: i64,
    /// The coupon the order used, kept for reporting as given. Recording it redeems nothing:
    /// redeem the coupon at checkout with `POST /v1/coupons/{code}/redeem`, which enforces its
    /// validity, segment and usage limits, before the order is recorded.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub coupon_code: Option<String>,
    /// Free-form JSON object, at most 16 KiB.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
}

/// One line of a purchase as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PurchaseItem {
    pub sku: String,
    pub name: String,
    pub category: Option<String>,
    pub quantity: i64,
    pub unit_price_minor: i64,
    /// `quantity × unit_price_minor`.
    pub line_total_minor: i64,
    /// Units given back by item refunds.
    pub refunded_quantity: i64,
}

/// Units of one SKU given back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sku": "CUP-01", "quantity": 1}))]
pub struct RefundItemInput {
    #[schema(min_length = 1, max_length = 100)]
    pub sku: String,
    #[schema(minimum = 1)]
    pub quantity: i64,
}

/// The body of `POST /v1/purchases/{id}/refund`. Send nothing (or `{}`) to refund everything
/// left; `items` to give back units (the amount is their unit prices × quantity); or
/// `amount_minor` alone for a money-only partial refund. Both at once is a 422.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"items": [{"sku": "CUP-01", "quantity": 1}], "reason": "Broken in transit"}))]
pub struct RefundInput {
    #[serde(default)]
    #[schema(minimum = 1)]
    pub amount_minor: Option<i64>,
    #[serde(default)]
    #[schema(min_items = 1, max_items = 200)]
    pub items: Option<Vec<RefundItemInput>>,
    /// Why; kept with the refund and in the purchase's history.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// A refunded line: the SKU, the units given back and the money they stand for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RefundedItem {
    pub sku: String,
    pub quantity: i64,
    pub amount_minor: i64,
}

/// One refund of a purchase.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Refund {
    pub id: RefundId,
    pub amount_minor: i64,
    /// The units given back; empty for a money-only refund.
    pub items: Vec<RefundedItem>,
    pub reason: Option<String>,
    /// Loyalty points taken back with this refund.
    pub points_reversed: i64,
    pub actor: Actor,
    pub created_at: DateTime<Utc>,
}

/// A purchase as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1d",
    "customer_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1c",
    "external_order_id": "SHOP-100234",
    "channel": "web",
    "occurred_at": "2026-11-20T14:30:00Z",
    "currency": "EUR",
    "items": [{"sku": "CUP-01", "name": "Cup", "category": null, "quantity": 1, "unit_price_minor": 1200,
               "line_total_minor": 1200, "refunded_quantity": 0}],
    "subtotal_minor": 1200, "discount_minor": 0, "tax_minor": 0, "shipping_minor": 0, "total_minor": 1200,
    "refunded_minor": 0, "status": "completed", "coupon_code": null, "metadata": {},
    "points_earned": 0, "points_reversed": 0, "refunds": [], "version": 1,
    "created_at": "2026-11-20T14:30:01Z", "updated_at": "2026-11-20T14:30:01Z"
}))]
pub struct Purchase {
    pub id: PurchaseId,
    pub customer_id: CustomerId,
    pub external_order_id: Option<String>,
    pub channel: Channel,
    pub occurred_at: DateTime<Utc>,
    pub currency: String,
    pub items: Vec<PurchaseItem>,
    /// `sum(line_total_minor)`.
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub tax_minor: i64,
    pub shipping_minor: i64,
    pub total_minor: i64,
    /// Sum of the refunds; never more than `total_minor`.
    pub refunded_minor: i64,
    pub status: PurchaseStatus,
    pub coupon_code: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    /// Loyalty points this purchase earned.
    pub points_earned: i64,
    /// Loyalty points taken back by its refunds.
    pub points_reversed: i64,
    /// Oldest first.
    pub refunds: Vec<Refund>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated purchase, ready to store: the normalised input and the derived amounts.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPurchase {
    pub customer_id: CustomerId,
    pub external_order_id: Option<String>,
    pub channel: Channel,
    pub occurred_at: DateTime<Utc>,
    pub currency: String,
    pub items: Vec<PurchaseItem>,
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub tax_minor: i64,
    pub shipping_minor: i64,
    pub total_minor: i64,
    pub coupon_code: Option<String>,
    pub metadata: Map<String, Value>,
}

fn too_large(e: &mut ValidationErrors, field: &str) {
    e.add(field, "too_large", "the amount is too large to compute");
}

/// A required text: length as sent, trimmed, blank is `required`.
fn required_text(e: &mut ValidationErrors, field: &str, value: String, max: usize) -> String {
    match e.text(field, Some(value), max) {
        Some(value) => value,
        None => {
            if !e.0.iter().any(|err| err.field == field) {
                e.add(field, "required", "must not be blank");
            }
            String::new()
        }
    }
}

/// `subtotal − discount + tax + shipping`, or `None` when it does not fit in an `i64`.
pub fn total_of(subtotal: i64, discount: i64, tax: i64, shipping: i64) -> Option<i64> {
    subtotal.checked_sub(discount)?.checked_add(tax)?.checked_add(shipping)
}

impl PurchaseInput {
    /// Checks every field against `now` and computes the line totals and subtotal; returns
    /// every problem found. A total that does not add up is `total_minor`/`total_mismatch`
    /// with the computed total in the message.
    pub fn validate(self, now: DateTime<Utc>) -> Result<NewPurchase, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let external_order_id = e.text("external_order_id", self.external_order_id, EXTERNAL_ORDER_ID_MAX);
        let occurred_at = self.occurred_at.unwrap_or(now);
        if occurred_at > now + chrono::Duration::hours(FUTURE_TOLERANCE_HOURS) {
            e.add("occurred_at", "in_future", "must not be more than 24 hours in the future");
        }
        if occurred_at < earliest() {
            e.add("occurred_at", "out_of_range", "must not be before 1900");
        }
        let currency = check_currency(&mut e, "currency", Some(self.currency)).unwrap_or_default();
        if self.items.is_empty() {
            e.add("items", "required", "a purchase needs at least one item");
        }
        if self.items.len() > ITEMS_MAX {
            e.add("items", "too_many", format!("at most {ITEMS_MAX} items"));
        }
        let mut subtotal: Option<i64> = Some(0);
        let mut items = Vec::with_capacity(self.items.len().min(ITEMS_MAX));
        for (i, item) in self.items.into_iter().take(ITEMS_MAX).enumerate() {
            let field = |name: &str| format!("items[{i}].{name}");
            let sku = required_text(&mut e, &field("sku"), item.sku, SKU_MAX);
            let name = required_text(&mut e, &field("name"), item.name, NAME_MAX);
            let category = e.text(&field("category"), item.category, CATEGORY_MAX);
            if !(1..=QUANTITY_MAX).contains(&item.quantity) {
                e.add(field("quantity"), "out_of_range", format!("must be between 1 and {QUANTITY_MAX}"));
            }
            if !(0..=AMOUNT_MAX).contains(&item.unit_price_minor) {
                e.add(field("unit_price_minor"), "out_of_range", format!("must be between 0 and {AMOUNT_MAX}"));
            }
            let line_total = item.quantity.checked_mul(item.unit_price_minor);
            if line_total.is_none() {
                too_large(&mut e, &field("unit_price_minor"));
            }
            subtotal = subtotal.zip(line_total).and_then(|(s, l)| s.checked_add(l));
            items.push(PurchaseItem {
                sku,
                name,
                category,
                quantity: item.quantity,
                unit_price_minor: item.unit_price_minor,
                line_total_minor: line_total.unwrap_or_default(),
                refunded_quantity: 0,
            });
        }
        for (field, value) in [
            ("discount_minor", self.discount_minor),
            ("tax_minor", self.tax_minor),
            ("shipping_minor", self.shipping_minor),
            ("total_minor", self.total_minor),
        ] {
            // Capped like deal amounts, so that sums over many purchases stay in 64 bits.
            if !(0..=AMOUNT_MAX).contains(&value) {
                e.add(field, "out_of_range", format!("must be between 0 and {AMOUNT_MAX}"));
            }
        }
        let lines_ok = !e.0.iter().any(|err| err.field.starts_with("items"));
        match subtotal {
            None if lines_ok => too_large(&mut e, "items"),
            Some(subtotal) if lines_ok => {
                if self.discount_minor > subtotal {
                    e.add("discount_minor", "out_of_range", format!("must not exceed the subtotal of {subtotal}"));
                }
                let amounts_ok = !e.0.iter().any(|err| err.field.ends_with("_minor"));
                match total_of(subtotal, self.discount_minor, self.tax_minor, self.shipping_minor) {
                    None => too_large(&mut e, "total_minor"),
                    Some(computed) if amounts_ok && computed != self.total_minor => e.add(
                        "total_minor",
                        "total_mismatch",
                        format!(
                            "must equal subtotal {subtotal} − discount {} + tax {} + shipping {} = {computed}",
                            self.discount_minor, self.tax_minor, self.shipping_minor
                        ),
                    ),
                    Some(_) => {}
                }
            }
            _ => {}
        }
        let coupon_code = e.text("coupon_code", self.coupon_code, COUPON_CODE_MAX);
        check_metadata(&mut e, "metadata", &self.metadata);
        e.into_result(NewPurchase {
            customer_id: self.customer_id,
            external_order_id,
            channel: self.channel,
            occurred_at,
            currency,
            items,
            subtotal_minor: subtotal.unwrap_or_default(),
            discount_minor: self.discount_minor,
            tax_minor: self.tax_minor,
            shipping_minor: self.shipping_minor,
            total_minor: self.total_minor,
            coupon_code,
            metadata: self.metadata,
        })
    }
}

impl RefundInput {
    /// A refund of part of what is left (some money or some units): unlike a full refund, doing
    /// it twice does not fail on its own.
    pub fn is_partial(&self) -> bool {
        self.amount_minor.is_some() || self.items.is_some()
    }

    /// Checks the shape of the request; what it may take from a purchase is [`plan_refund`]'s.
    pub fn validate(self) -> Result<RefundInput, ValidationErrors> {
        let mut e = ValidationErrors::default();
        if self.amount_minor.is_some() && self.items.is_some() {
            e.add("amount_minor", "invalid_combination", "send either amount_minor or items, not both");
        }
        if self.amount_minor.is_some_and(|a| a <= 0) {
            e.add("amount_minor", "out_of_range", "must be at least 1");
        }
        if let Some(items) = &self.items {
            if items.is_empty() {
                e.add("items", "required", "name at least one item, or leave `items` out to refund everything");
            }
            if items.len() > ITEMS_MAX {
                e.add("items", "too_many", format!("at most {ITEMS_MAX} items"));
            }
            for (i, item) in items.iter().enumerate() {
                e.check_len(&format!("items[{i}].sku"), &item.sku, SKU_MAX);
                if item.quantity < 1 {
                    e.add(format!("items[{i}].quantity"), "out_of_range", "must be at least 1");
                }
            }
        }
        let reason = e.text("reason", self.reason, REASON_MAX);
        e.into_result(RefundInput { reason, ..self })
    }
}

/// The amount of a purchase not refunded yet.
pub fn remaining(total_minor: i64, refunded_minor: i64) -> i64 {
    total_minor.saturating_sub(refunded_minor).max(0)
}

/// The status of a purchase with `refunded_minor` of `total_minor` given back.
pub fn status_after(total_minor: i64, refunded_minor: i64) -> PurchaseStatus {
    if refunded_minor <= 0 {
        PurchaseStatus::Completed
    } else if refunded_minor >= total_minor {
        PurchaseStatus::Refunded
    } else {
        PurchaseStatus::PartiallyRefunded
    }
}

/// Net revenue per category of the lines with units not given back, in first-seen order (`None`:
/// lines without a category): what category analytics count for a purchase. A purchase
/// refunded in full counts in none, whatever its lines say.
pub fn category_revenue(items: &[PurchaseItem], status: PurchaseStatus) -> Vec<(Option<String>, i64)> {
    let mut out: Vec<(Option<String>, i64)> = Vec::new();
    if status == PurchaseStatus::Refunded {
        return out;
    }
    for item in items.iter().filter(|i| i.refunded_quantity < i.quantity) {
        // Validated totals fit in i64, so saturation never shows; it only rules out a panic.
        let net = item.unit_price_minor.saturating_mul(item.quantity - item.refunded_quantity);
        match out.iter_mut().find(|(category, _)| *category == item.category) {
            Some((_, revenue)) => *revenue = revenue.saturating_add(net),
            None => out.push((item.category.clone(), net)),
        }
    }
    out
}

/// What one refund does to a purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundPlan {
    pub amount_minor: i64,
    /// What the refund record lists.
    pub items: Vec<RefundedItem>,
    /// `(position, refunded_quantity after)` of every line whose refunded quantity changes.
    pub lines: Vec<(usize, i64)>,
    pub refunded_after: i64,
    pub status_after: PurchaseStatus,
}

/// Why a refund is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundRefused {
    /// Nothing is left to refund (409 `already_refunded`).
    AlreadyRefunded,
    /// More than is left, in money or in units, or unknown SKUs (422).
    Invalid(ValidationErrors),
}

fn exceeds(field: impl Into<String>, message: String) -> RefundRefused {
    RefundRefused::Invalid(ValidationErrors::single(field, "refund_exceeds_remaining", message))
}

/// Plans a refund of a validated `input` against a purchase's current state.
///
/// - Empty request: everything left, and every unit not yet given back.
/// - `amount_minor`: that much money, at most what is left; units are unchanged.
/// - `items`: units by SKU (a SKU on several lines fills them in order), at most the units not
///   yet given back; the amount is their unit prices × quantity, capped at the money left (a
///   discounted order never refunds more than was paid). Items worth nothing are a 422.
pub fn plan_refund(purchase: &Purchase, input: &RefundInput) -> Result<RefundPlan, RefundRefused> {
    let left = remaining(purchase.total_minor, purchase.refunded_minor);
    if left == 0 {
        return Err(RefundRefused::AlreadyRefunded);
    }
    let (amount, items, lines) = match (input.amount_minor, &input.items) {
        (Some(amount), _) => {
            if amount > left {
                return Err(exceeds("amount_minor", format!("only {left} is left to refund")));
            }
            (amount, Vec::new(), Vec::new())
        }
        (None, Some(wanted)) => refund_units(&purchase.items, wanted, left)?,
        (None, None) => {
            let mut items = Vec::new();
            let mut lines = Vec::new();
            for (position, line) in purchase.items.iter().enumerate() {
                let units = line.quantity - line.refunded_quantity;
                if units > 0 {
                    let amount_minor = units.saturating_mul(line.unit_price_minor);
                    items.push(RefundedItem { sku: line.sku.clone(), quantity: units, amount_minor });
                    lines.push((position, line.quantity));
                }
            }
            (left, items, lines)
        }
    };
    let refunded_after = purchase.refunded_minor.saturating_add(amount);
    Ok(RefundPlan {
        amount_minor: amount,
        items,
        lines,
        refunded_after,
        status_after: status_after(purchase.total_minor, refunded_after),
    })
}

impl RefundPlan {
    /// The purchase's lines once this refund is applied.
    pub fn items_after(&self, items: &[PurchaseItem]) -> Vec<PurchaseItem> {
        let mut after = items.to_vec();
        for (position, refunded) in &self.lines {
            if let Some(line) = after.get_mut(*position) {
                line.refunded_quantity = *refunded;
            }
        }
        after
    }
}

type UnitRefund = (i64, Vec<RefundedItem>, Vec<(usize, i64)>);

fn refund_units(lines: &[PurchaseItem], wanted: &[RefundItemInput], left: i64) -> Result<UnitRefund, RefundRefused> {
    // Requests for one SKU are added up first, keeping the index of the first for errors.
    let mut by_sku: BTreeMap<&str, (usize, i64)> = BTreeMap::new();
    for (i, item) in wanted.iter().enumerate() {
        let entry = by_sku.entry(item.sku.trim()).or_insert((i, 0));
        entry.1 = entry.1.saturating_add(item.quantity);
    }
    let mut unknown = ValidationErrors::default();
    let mut refunded: Vec<i64> = lines.iter().map(|l| l.refunded_quantity).collect();
    let mut items = Vec::new();
    let mut amount: i64 = 0;
    let mut order: Vec<(&str, (usize, i64))> = by_sku.into_iter().collect();
    order.sort_by_key(|(_, (i, _))| *i);
    for (sku, (index, quantity)) in order {
        let positions: Vec<usize> = (0..lines.len()).filter(|p| lines[*p].sku == sku).collect();
        if positions.is_empty() {
            unknown.add(format!("items[{index}].sku"), "not_found", "this purchase has no line with this SKU");
            continue;
        }
        let available: i64 = positions.iter().map(|p| lines[*p].quantity - lines[*p].refunded_quantity).sum();
        if quantity > available {
            return Err(exceeds(
                format!("items[{index}].quantity"),
                format!("only {available} unit(s) of {sku} are left to refund"),
            ));
        }
        let mut still = quantity;
        let mut sku_amount: i64 = 0;
        for p in positions {
            let take = still.min(lines[p].quantity - refunded[p]);
            if take == 0 {
                continue;
            }
            refunded[p] += take;
            still -= take;
            let value = take.checked_mul(lines[p].unit_price_minor).ok_or_else(|| too_large_refund(index))?;
            sku_amount = sku_amount.checked_add(value).ok_or_else(|| too_large_refund(index))?;
        }
        amount = amount.checked_add(sku_amount).ok_or_else(|| too_large_refund(index))?;
        items.push(RefundedItem { sku: sku.to_owned(), quantity, amount_minor: sku_amount });
    }
    if !unknown.is_empty() {
        return Err(RefundRefused::Invalid(unknown));
    }
    if amount == 0 {
        return Err(RefundRefused::Invalid(ValidationErrors::single(
            "items",
            "out_of_range",
            "these items cost nothing: there is no money to refund",
        )));
    }
    let changed =
        refunded.iter().enumerate().filter(|(p, q)| **q != lines[*p].refunded_quantity).map(|(p, q)| (p, *q)).collect();
    Ok((amount.min(left), items, changed))
}

fn too_large_refund(index: usize) -> RefundRefused {
    RefundRefused::Invalid(ValidationErrors::single(
        format!("items[{index}].quantity"),
        "too_large",
        "the amount is too large to compute",
    ))
}

/// The filters `GET /v1/purchases` accepts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PurchaseFilter {
    pub customer_id: Option<CustomerId>,
    /// Any of these channels (empty: all).
    pub channels: Vec<Channel>,
    /// Any of these statuses (empty: all).
    pub statuses: Vec<PurchaseStatus>,
    /// `occurred_at >= occurred_after`.
    pub occurred_after: Option<DateTime<Utc>>,
    /// `occurred_at < occurred_before`.
    pub occurred_before: Option<DateTime<Utc>>,
    pub external_order_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurchaseSortField {
    OccurredAt,
    CreatedAt,
}

/// A list order of purchases, ties broken by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurchaseSort {
    pub field: PurchaseSortField,
    pub descending: bool,
}

impl Default for PurchaseSort {
    fn default() -> Self {
        PurchaseSort { field: PurchaseSortField::OccurredAt, descending: true }
    }
}

impl PurchaseSort {
    pub const ACCEPTED: [&str; 4] = ["-occurred_at", "occurred_at", "-created_at", "created_at"];

    pub fn parse(s: &str) -> Option<PurchaseSort> {
        let (descending, name) = s.strip_prefix('-').map_or((false, s), |name| (true, name));
        let field = match name {
            "occurred_at" => PurchaseSortField::OccurredAt,
            "created_at" => PurchaseSortField::CreatedAt,
            _ => return None,
        };
        Some(PurchaseSort { field, descending })
    }

    pub fn as_str(self) -> &'static str {
        match (self.field, self.descending) {
            (PurchaseSortField::OccurredAt, true) => "-occurred_at",
            (PurchaseSortField::OccurredAt, false) => "occurred_at",
            (PurchaseSortField::CreatedAt, true) => "-created_at",
            (PurchaseSortField::CreatedAt, false) => "created_at",
        }
    }

    pub fn key_of(self, purchase: &Purchase) -> DateTime<Utc> {
        match self.field {
            PurchaseSortField::OccurredAt => purchase.occurred_at,
            PurchaseSortField::CreatedAt => purchase.created_at,
        }
    }
}

/// "purchase (web): 3 items, 9690 EUR (minor units)"; the status is named once refunded.
pub fn summary(p: &Purchase) -> String {
    let units: i64 = p.items.iter().map(|i| i.quantity).fold(0, i64::saturating_add);
    let head = match p.status {
        PurchaseStatus::Completed => format!("purchase ({})", p.channel.as_str()),
        status => format!("purchase ({}, {})", p.channel.as_str(), status.as_str()),
    };
    let plural = if units == 1 { "" } else { "s" };
    format!("{head}: {units} item{plural}, {} {} (minor units)", p.total_minor, p.currency)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::patch::decode;

    const CUSTOMER: &str = "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1c";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).single().unwrap_or_default()
    }

    fn body(extra: Value) -> Value {
        let mut base = json!({
            "customer_id": CUSTOMER, "channel": "web", "currency": "EUR",
            "items": [{"sku": "A", "name": "Tea", "quantity": 2, "unit_price_minor": 4500},
                      {"sku": "B", "name": "Cup", "quantity": 1, "unit_price_minor": 1200}],
            "total_minor": 10200
        });
        if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                base.insert(k.clone(), v.clone());
            }
        }
        base
    }

    fn validate(value: Value) -> Result<NewPurchase, ValidationErrors> {
        decode::<PurchaseInput>(value).and_then(|p| p.validate(now()))
    }

    fn codes(value: Value) -> Vec<(String, String)> {
        match validate(value) {
            Ok(p) => panic!("expected errors, got {p:?}"),
            Err(e) => e.0.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    }

    fn pair(field: &str, code: &str) -> (String, String) {
        (field.to_owned(), code.to_owned())
    }

    fn purchase(new: NewPurchase) -> Purchase {
        Purchase {
            id: PurchaseId(uuid::Uuid::nil()),
            customer_id: new.customer_id,
            external_order_id: new.external_order_id,
            channel: new.channel,
            occurred_at: new.occurred_at,
            currency: new.currency,
            items: new.items,
            subtotal_minor: new.subtotal_minor,
            discount_minor: new.discount_minor,
            tax_minor: new.tax_minor,
            shipping_minor: new.shipping_minor,
            total_minor: new.total_minor,
            refunded_minor: 0,
            status: PurchaseStatus::Completed,
            coupon_code: new.coupon_code,
            metadata: new.metadata,
            points_earned: 0,
            points_reversed: 0,
            refunds: Vec::new(),
            version: 1,
            created_at: now(),
            updated_at: now(),
        }
    }

    fn sample() -> Purchase {
        purchase(validate(body(json!({}))).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Applies a plan as the store does.
    fn apply(p: &mut Purchase, plan: &RefundPlan) {
        p.refunded_minor = plan.refunded_after;
        p.status = plan.status_after;
        p.items = plan.items_after(&p.items);
    }

    fn refund(value: Value) -> RefundInput {
        decode::<RefundInput>(value).and_then(RefundInput::validate).unwrap_or_else(|e| panic!("{e}"))
    }

    fn refused_code(p: &Purchase, value: Value) -> (String, String) {
        match plan_refund(p, &refund(value)) {
            Err(RefundRefused::Invalid(e)) => (e.0[0].field.clone(), e.0[0].code.clone()),
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_purchase_gets_line_totals_subtotal_and_defaults() {
        let p = validate(body(json!({"currency": "eur", "external_order_id": " X-1 ", "coupon_code": "  "})))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.items[0].line_total_minor, 9000);
        assert_eq!((p.subtotal_minor, p.total_minor), (10200, 10200));
        assert_eq!((p.currency.as_str(), p.external_order_id.as_deref(), p.coupon_code), ("EUR", Some("X-1"), None));
        assert_eq!(p.occurred_at, now(), "occurred_at defaults to now");
        let discounted = validate(body(
            json!({"discount_minor": 1000, "tax_minor": 50, "shipping_minor": 490, "total_minor": 9740}),
        ));
        assert!(discounted.is_ok(), "{discounted:?}");
    }

    #[test]
    fn a_wrong_total_names_the_computed_one() {
        let errors = validate(body(json!({"total_minor": 10000}))).err().unwrap_or_default();
        assert_eq!(errors.0[0].code, "total_mismatch");
        assert_eq!(errors.0[0].field, "total_minor");
        assert!(errors.0[0].message.ends_with("= 10200"), "{}", errors.0[0].message);
    }

    #[test]
    fn bad_fields_are_all_reported() {
        let codes = codes(json!({
            "customer_id": CUSTOMER, "channel": "store", "currency": "EURO", "external_order_id": "x".repeat(201),
            "occurred_at": "2026-11-27T12:00:01Z",
            "items": [{"sku": "a\u{0}", "name": " ", "category": "c".repeat(101), "quantity": 0, "unit_price_minor": -1}],
            "total_minor": -1, "coupon_code": "c".repeat(65), "metadata": {"k": "\u{0}"}
        }));
        assert_eq!(
            codes,
            [
                pair("external_order_id", "too_long"),
                pair("occurred_at", "in_future"),
                pair("currency", "invalid_value"),
                pair("items[0].sku", "invalid_characters"),
                pair("items[0].name", "required"),
                pair("items[0].category", "too_long"),
                pair("items[0].quantity", "out_of_range"),
                pair("items[0].unit_price_minor", "out_of_range"),
                pair("total_minor", "out_of_range"),
                pair("coupon_code", "too_long"),
                pair("metadata", "invalid_characters"),
            ]
        );
        assert_eq!(codes_of(json!({"items": []})), [pair("items", "required")]);
        let many: Vec<Value> = (0..201)
            .map(|i| json!({"sku": format!("S{i}"), "name": "x", "quantity": 1, "unit_price_minor": 1}))
            .collect();
        assert_eq!(codes_of(json!({"items": many, "total_minor": 201})), [pair("items", "too_many")]);
        assert_eq!(
            codes_of(json!({"discount_minor": 10201, "total_minor": 0})),
            [pair("discount_minor", "out_of_range")]
        );
        assert_eq!(codes_of(json!({"channel": "fax"})), [pair("channel", "invalid_value")]);
        assert_eq!(codes_of(json!({"id": CUSTOMER})), [pair("id", "unknown_field")]);
    }

    fn codes_of(extra: Value) -> Vec<(String, String)> {
        codes(body(extra))
    }

    #[test]
    fn huge_numbers_are_too_large_not_a_panic() {
        let max = i64::MAX;
        let line = json!([{"sku": "A", "name": "x", "quantity": 10_000, "unit_price_minor": AMOUNT_MAX}]);
        assert_eq!(
            codes_of(json!({"items": line, "total_minor": AMOUNT_MAX})),
            [pair("items[0].unit_price_minor", "too_large")]
        );
        let big = json!({"sku": "A", "name": "x", "quantity": 9_000, "unit_price_minor": AMOUNT_MAX});
        assert_eq!(codes_of(json!({"items": [big, big], "total_minor": AMOUNT_MAX})), [pair("items", "too_large")]);
        // 9 223 × 10^15 still fits in i64; adding the tax does not.
        let edge = json!({"sku": "A", "name": "x", "quantity": 9_223, "unit_price_minor": AMOUNT_MAX});
        assert_eq!(
            codes_of(json!({"items": [edge], "tax_minor": AMOUNT_MAX, "total_minor": AMOUNT_MAX})),
            [pair("total_minor", "too_large")]
        );
        let over = json!([{"sku": "A", "name": "x", "quantity": 1, "unit_price_minor": max}]);
        assert_eq!(
            codes_of(json!({"items": over, "shipping_minor": max, "total_minor": 1})),
            [pair("items[0].unit_price_minor", "out_of_range"), pair("shipping_minor", "out_of_range"),]
        );
        assert_eq!(
            codes_of(json!({"items": [{"sku": "A", "name": "x", "quantity": max, "unit_price_minor": 1}]}))[0].1,
            "out_of_range"
        );
    }

    #[test]
    fn status_follows_the_refunded_amount() {
        assert_eq!(status_after(100, 0), PurchaseStatus::Completed);
        assert_eq!(status_after(100, 1), PurchaseStatus::PartiallyRefunded);
        assert_eq!(status_after(100, 100), PurchaseStatus::Refunded);
        assert_eq!(remaining(100, 30), 70);
        assert_eq!(remaining(100, 100), 0);
    }

    #[test]
    fn category_revenue_counts_units_left_until_the_refund_is_full() {
        let mut p = purchase(
            validate(body(json!({
                "items": [{"sku": "A", "name": "Tea", "category": "tea", "quantity": 2, "unit_price_minor": 4500},
                          {"sku": "B", "name": "Cup", "quantity": 1, "unit_price_minor": 1200},
                          {"sku": "C", "name": "Mug", "category": "tea", "quantity": 1, "unit_price_minor": 800}],
                "total_minor": 11000
            })))
            .unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(category_revenue(&p.items, p.status), [(Some("tea".into()), 9800), (None, 1200)]);
        let cup = plan_refund(&p, &refund(json!({"items": [{"sku": "B", "quantity": 1}]})))
            .unwrap_or_else(|e| panic!("{e:?}"));
        apply(&mut p, &cup);
        assert_eq!(category_revenue(&p.items, p.status), [(Some("tea".into()), 9800)], "no units left: no line");
        let tea = plan_refund(&p, &refund(json!({"items": [{"sku": "A", "quantity": 1}]})))
            .unwrap_or_else(|e| panic!("{e:?}"));
        apply(&mut p, &tea);
        assert_eq!(category_revenue(&p.items, p.status), [(Some("tea".into()), 5300)]);
        let rest = plan_refund(&p, &refund(json!({"amount_minor": 5300}))).unwrap_or_else(|e| panic!("{e:?}"));
        apply(&mut p, &rest);
        assert_eq!(p.status, PurchaseStatus::Refunded);
        assert!(category_revenue(&p.items, p.status).is_empty(), "refunded in full by money: counted nowhere");
    }

    #[test]
    fn an_empty_refund_takes_everything_left() {
        let mut p = sample();
        let plan = plan_refund(&p, &refund(json!({"amount_minor": 200}))).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((plan.amount_minor, plan.status_after), (200, PurchaseStatus::PartiallyRefunded));
        assert!(plan.items.is_empty() && plan.lines.is_empty(), "money only: {plan:?}");
        apply(&mut p, &plan);
        let rest = plan_refund(&p, &RefundInput::default()).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            (rest.amount_minor, rest.refunded_after, rest.status_after),
            (10000, 10200, PurchaseStatus::Refunded)
        );
        assert_eq!(rest.lines, [(0, 2), (1, 1)], "every unit goes back");
        apply(&mut p, &rest);
        assert_eq!(plan_refund(&p, &RefundInput::default()), Err(RefundRefused::AlreadyRefunded));
    }

    #[test]
    fn item_refunds_count_units_and_never_exceed_what_was_bought() {
        let mut p = sample();
        let plan = plan_refund(&p, &refund(json!({"items": [{"sku": "A", "quantity": 1}]})))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(plan.amount_minor, 4500);
        assert_eq!(plan.items, [RefundedItem { sku: "A".into(), quantity: 1, amount_minor: 4500 }]);
        assert_eq!(plan.lines, [(0, 1)]);
        apply(&mut p, &plan);
        assert_eq!(
            refused_code(&p, json!({"items": [{"sku": "A", "quantity": 2}]})),
            pair("items[0].quantity", "refund_exceeds_remaining")
        );
        assert_eq!(
            refused_code(&p, json!({"items": [{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 1}]})),
            pair("items[0].quantity", "refund_exceeds_remaining"),
            "requests for one SKU add up"
        );
        assert_eq!(
            refused_code(&p, json!({"items": [{"sku": "Z", "quantity": 1}]})),
            pair("items[0].sku", "not_found")
        );
        assert_eq!(refused_code(&p, json!({"amount_minor": 5701})), pair("amount_minor", "refund_exceeds_remaining"));
    }

    #[test]
    fn a_discounted_order_never_refunds_more_than_was_paid() {
        let new =
            validate(body(json!({"discount_minor": 5000, "total_minor": 5200}))).unwrap_or_else(|e| panic!("{e}"));
        let p = purchase(new);
        let plan =
            plan_refund(&p, &refund(json!({"items": [{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 1}]})))
                .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((plan.amount_minor, plan.status_after), (5200, PurchaseStatus::Refunded));
    }

    #[test]
    fn a_sku_on_several_lines_fills_them_in_order_and_free_items_refund_nothing() {
        let items = json!([{"sku": "A", "name": "x", "quantity": 1, "unit_price_minor": 100},
                           {"sku": "A", "name": "x", "quantity": 2, "unit_price_minor": 50},
                           {"sku": "GIFT", "name": "x", "quantity": 1, "unit_price_minor": 0}]);
        let p = purchase(validate(body(json!({"items": items, "total_minor": 200}))).unwrap_or_else(|e| panic!("{e}")));
        let plan = plan_refund(&p, &refund(json!({"items": [{"sku": "A", "quantity": 2}]})))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((plan.amount_minor, plan.lines.clone()), (150, vec![(0, 1), (1, 1)]));
        assert_eq!(refused_code(&p, json!({"items": [{"sku": "GIFT", "quantity": 1}]})), pair("items", "out_of_range"));
    }

    #[test]
    fn refund_requests_are_checked() {
        let both = decode::<RefundInput>(json!({"amount_minor": 1, "items": [{"sku": "A", "quantity": 1}]}))
            .and_then(RefundInput::validate);
        assert_eq!(both.err().map(|e| e.0[0].code.clone()).as_deref(), Some("invalid_combination"));
        let bad = decode::<RefundInput>(json!({"amount_minor": 0, "items": [], "reason": "r".repeat(501)}))
            .and_then(RefundInput::validate)
            .err()
            .unwrap_or_default();
        let fields: Vec<&str> = bad.0.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(fields, ["invalid_combination", "out_of_range", "required", "too_long"]);
        assert_eq!(refund(json!({"reason": "  "})), RefundInput::default());
    }

    #[test]
    fn sorts_round_trip() {
        for s in PurchaseSort::ACCEPTED {
            assert_eq!(PurchaseSort::parse(s).map(PurchaseSort::as_str), Some(s));
        }
        assert_eq!(PurchaseSort::default().as_str(), "-occurred_at");
        assert_eq!(PurchaseSort::parse("total_minor"), None);
    }

    #[test]
    fn summaries_read_as_one_line() {
        let mut p = sample();
        assert_eq!(summary(&p), "purchase (web): 3 items, 10200 EUR (minor units)");
        p.status = PurchaseStatus::Refunded;
        assert!(summary(&p).starts_with("purchase (web, refunded): "));
    }

    proptest! {
        /// Whatever the sequence of refunds, the money refunded never exceeds the total, no
        /// line gives back more units than were bought, and the status matches the money.
        #[test]
        fn refunds_never_exceed_the_purchase(steps in proptest::collection::vec((0u8..3, 1i64..6000, 0usize..2, 1i64..3), 1..12)) {
            let mut p = sample();
            for (kind, amount, line, quantity) in steps {
                let input = match kind {
                    0 => RefundInput { amount_minor: Some(amount), ..RefundInput::default() },
                    1 => RefundInput {
                        items: Some(vec![RefundItemInput { sku: p.items[line].sku.clone(), quantity }]),
                        ..RefundInput::default()
                    },
                    _ => RefundInput::default(),
                };
                match plan_refund(&p, &input) {
                    Ok(plan) => {
                        prop_assert!(plan.amount_minor > 0);
                        apply(&mut p, &plan);
                    }
                    Err(RefundRefused::AlreadyRefunded) => prop_assert_eq!(p.refunded_minor, p.total_minor),
                    Err(RefundRefused::Invalid(_)) => {}
                }
                prop_assert!(p.refunded_minor <= p.total_minor);
                prop_assert_eq!(p.status, status_after(p.total_minor, p.refunded_minor));
                for item in &p.items {
                    prop_assert!(item.refunded_quantity <= item.quantity);
                }
            }
        }

        /// Any purchase whose parts fit is accepted exactly when its total adds up.
        #[test]
        fn totals_add_up(quantity in 1i64..1000, price in 0i64..1_000_000, tax in 0i64..10_000, offset in -2i64..3) {
            let subtotal = quantity * price;
            let total = subtotal + tax + offset;
            let value = body(json!({"items": [{"sku": "A", "name": "x", "quantity": quantity, "unit_price_minor": price}],
                                    "tax_minor": tax, "total_minor": total}));
            let result = validate(value);
            if offset == 0 {
                prop_assert!(result.is_ok(), "{:?}", result);
            } else if total >= 0 {
                let errors = result.err().unwrap_or_default();
                prop_assert_eq!(errors.0[0].code.as_str(), "total_mismatch");
            }
        }
    }
}
