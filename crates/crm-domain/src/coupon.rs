//! Coupons: a code worth a percentage or an amount off an order, valid in a window, limited
//! overall and per customer, optionally only for the customers of a segment. The rules that
//! decide whether a redemption may happen and what it is worth live here as pure functions.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::Actor;
use crate::customer::str_enum;
use crate::deal::{AMOUNT_MAX, check_currency};
use crate::interaction::earliest;
use crate::{CouponId, CouponRedemptionId, CustomerId, PurchaseId, SegmentId, ValidationErrors};

pub const CODE_MIN: usize = 3;
pub const CODE_MAX: usize = 64;
pub const NAME_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 2000;
pub const EXTERNAL_ORDER_ID_MAX: usize = 200;
pub const VOID_REASON_MAX: usize = 500;
/// Upper bound of both redemption limits.
pub const LIMIT_MAX: i64 = 1_000_000_000;

/// What a coupon takes off: a percentage of the order, or a fixed amount in one currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiscountType {
    #[default]
    Percent,
    Amount,
}

str_enum!(DiscountType { Percent => "percent", Amount => "amount" });

fn yes() -> bool {
    true
}

/// The writable fields of a coupon: the body of `POST /v1/coupons`, and the document a
/// `PATCH` merge patch is applied to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "code": "WINTER15",
    "name": "Winter sale",
    "discount_type": "percent",
    "percent_off": 15,
    "min_order_minor": 5000,
    "currency": "EUR",
    "valid_from": "2026-12-01T00:00:00Z",
    "valid_until": "2027-01-01T00:00:00Z",
    "max_redemptions": 500,
    "max_redemptions_per_customer": 1
}))]
pub struct CouponInput {
    /// 3 to 64 of `A-Z`, `0-9`, `_` and `-`; stored trimmed and upper-cased, so codes are
    /// matched case-insensitively. Unique among the workspace's live coupons.
    #[schema(min_length = 3, max_length = 64, pattern = "^[A-Za-z0-9_-]+$")]
    pub code: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    #[serde(default)]
    pub discount_type: DiscountType,
    /// 1 to 100; required for `percent` coupons, absent for `amount` ones. Discounts round half up
    /// to the minor unit.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100)]
    pub percent_off: Option<i64>,
    /// Required for `amount` coupons (with `currency`), absent for `percent` ones. Never more
    /// than the order: the discount is capped at the order amount.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    pub amount_off_minor: Option<i64>,
    /// ISO 4217; required with `amount_off_minor` or `min_order_minor`. When set, orders in
    /// another currency are refused (`currency_mismatch`).
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z]{3}$", example = "EUR")]
    pub currency: Option<String>,
    /// The smallest order amount the coupon applies to, in `currency`.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub min_order_minor: Option<i64>,
    /// Redeemable from this instant on (inclusive).
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    /// Redeemable until this instant (exclusive); after `valid_from`.
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
    /// Redemptions allowed in total; unlimited when absent. Not below the redemptions made.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub max_redemptions: Option<i64>,
    /// Redemptions allowed per customer; unlimited when absent.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub max_redemptions_per_customer: Option<i64>,
    /// Only customers matching this segment's criteria (evaluated at redemption) may redeem.
    #[serde(default)]
    pub segment_id: Option<SegmentId>,
    /// An inactive coupon is kept but refused (`coupon_inactive`). Default `true`.
    #[serde(default = "yes")]
    pub active: bool,
}

/// A coupon as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Coupon {
    pub id: CouponId,
    #[serde(flatten)]
    pub data: CouponInput,
    pub redemption_count: i64,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl utoipa::PartialSchema for Coupon {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        let count = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .description(Some("Redemptions made so far; counts against `max_redemptions`."))
            .into();
        crate::record_schema::record_schema(
            CouponInput::schema(),
            CouponId::schema(),
            vec![("redemption_count", count)],
            "coupon",
            "A coupon: a code worth a discount, with its validity window and limits.",
        )
    }
}

impl ToSchema for Coupon {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        CouponInput::schemas(schemas);
        schemas.push((CouponInput::name().into_owned(), <CouponInput as utoipa::PartialSchema>::schema()));
        schemas.push((CouponId::name().into_owned(), <CouponId as utoipa::PartialSchema>::schema()));
    }
}

fn latest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(3000, 1, 1, 0, 0, 0).single().unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A code as stored: trimmed and upper-cased, or `None` when it cannot be a coupon code.
pub fn normalise_code(raw: &str) -> Option<String> {
    let code = raw.trim().to_ascii_uppercase();
    let ok = (CODE_MIN..=CODE_MAX).contains(&code.len())
        && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    ok.then_some(code)
}

fn check_range(e: &mut ValidationErrors, field: &str, value: Option<i64>, min: i64, max: i64) {
    if value.is_some_and(|v| !(min..=max).contains(&v)) {
        e.add(field, "out_of_range", format!("must be between {min} and {max}"));
    }
}

impl CouponInput {
    /// Lower-cased text that `q=` searches: the code and the name.
    pub fn search_text(&self) -> String {
        format!("{} {}", self.code, self.name.as_deref().unwrap_or_default()).to_lowercase()
    }

    /// Checks every field and returns the normalised coupon, or every problem found.
    pub fn validate(self) -> Result<CouponInput, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let code = if self.code.trim().is_empty() {
            e.add("code", "required", "a coupon needs a code");
            String::new()
        } else {
            normalise_code(&self.code).unwrap_or_else(|| {
                e.add("code", "invalid_format", "must be 3 to 64 of A-Z, 0-9, `_` and `-`");
                String::new()
            })
        };
        let name = e.text("name", self.name, NAME_MAX);
        let description = e.text("description", self.description, DESCRIPTION_MAX);
        check_range(&mut e, "percent_off", self.percent_off, 1, 100);
        check_range(&mut e, "amount_off_minor", self.amount_off_minor, 1, AMOUNT_MAX);
        check_range(&mut e, "min_order_minor", self.min_order_minor, 0, AMOUNT_MAX);
        check_range(&mut e, "max_redemptions", self.max_redemptions, 1, LIMIT_MAX);
        check_range(&mut e, "max_redemptions_per_customer", self.max_redemptions_per_customer, 1, LIMIT_MAX);
        match self.discount_type {
            DiscountType::Percent => {
                if self.percent_off.is_none() {
                    e.add("percent_off", "required", "a percent coupon needs percent_off");
                }
                if self.amount_off_minor.is_some() {
                    e.add("amount_off_minor", "not_allowed", "a percent coupon takes no amount_off_minor");
                }
            }
            DiscountType::Amount => {
                if self.amount_off_minor.is_none() {
                    e.add("amount_off_minor", "required", "an amount coupon needs amount_off_minor");
                }
                if self.percent_off.is_some() {
                    e.add("percent_off", "not_allowed", "an amount coupon takes no percent_off");
                }
            }
        }
        let currency_sent = self.currency.is_some();
        let currency = check_currency(&mut e, "currency", self.currency);
        let needs_currency = self.amount_off_minor.is_some() || self.min_order_minor.is_some();
        if needs_currency && !currency_sent {
            e.add("currency", "required", "an amount off or a minimum order needs a currency");
        }
        for (field, at) in [("valid_from", self.valid_from), ("valid_until", self.valid_until)] {
            if at.is_some_and(|at| at < earliest() || at >= latest()) {
                e.add(field, "out_of_range", "must be between 1900 and 2999");
            }
        }
        if let (Some(from), Some(until)) = (self.valid_from, self.valid_until)
            && until <= from
        {
            e.add("valid_until", "out_of_range", "must be after valid_from");
        }
        e.into_result(CouponInput { code, name, description, currency, ..self })
    }

    /// Whether `next` changes what a redemption is worth or how it is recognised: not allowed
    /// once the coupon has been redeemed (the redemptions made would no longer match it).
    pub fn changes_terms(&self, next: &CouponInput) -> bool {
        (&self.code, self.discount_type, self.percent_off, self.amount_off_minor, &self.currency)
            != (&next.code, next.discount_type, next.percent_off, next.amount_off_minor, &next.currency)
    }
}

/// The order a coupon is checked against; both parts optional (a checkout may ask before it
/// knows the total).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Order {
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
}

/// Why a coupon cannot be redeemed now, in the order the rules are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Inactive,
    NotYetValid,
    Expired,
    /// Its overall `max_redemptions` is used up.
    Exhausted,
    /// The customer is outside the coupon's segment.
    NotEligible,
    /// The customer used up `max_redemptions_per_customer`.
    LimitReached,
    CurrencyMismatch,
    MinOrderNotMet,
}

impl Refusal {
    /// The stable API code.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Inactive => "coupon_inactive",
            Refusal::NotYetValid => "coupon_not_yet_valid",
            Refusal::Expired => "coupon_expired",
            Refusal::Exhausted => "coupon_exhausted",
            Refusal::NotEligible => "coupon_not_eligible",
            Refusal::LimitReached => "coupon_limit_reached",
            Refusal::CurrencyMismatch => "currency_mismatch",
            Refusal::MinOrderNotMet => "min_order_not_met",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::Inactive => "the coupon is not active",
            Refusal::NotYetValid => "the coupon is not valid yet",
            Refusal::Expired => "the coupon has expired",
            Refusal::Exhausted => "the coupon has been redeemed as often as it may be",
            Refusal::NotEligible => "the customer is not in the coupon's segment",
            Refusal::LimitReached => "the customer has redeemed the coupon as often as they may",
            Refusal::CurrencyMismatch => "the order's currency is not the coupon's",
            Refusal::MinOrderNotMet => "the order amount is below the coupon's minimum (or was not given)",
        }
    }

    pub const ALL: [Refusal; 8] = [
        Refusal::Inactive,
        Refusal::NotYetValid,
        Refusal::Expired,
        Refusal::Exhausted,
        Refusal::NotEligible,
        Refusal::LimitReached,
        Refusal::CurrencyMismatch,
        Refusal::MinOrderNotMet,
    ];
}

/// What the coupon takes off `order`: a percentage rounded half up to the minor unit, or the
/// amount off capped at the order amount. `Ok(None)` for a percent coupon when the order amount
/// is unknown. Checks the currency and the minimum order.
pub fn discount_for(coupon: &CouponInput, order: &Order) -> Result<Option<i64>, Refusal> {
    if let (Some(mine), Some(theirs)) = (&coupon.currency, &order.currency)
        && mine != theirs
    {
        return Err(Refusal::CurrencyMismatch);
    }
    if let Some(min) = coupon.min_order_minor
        && order.amount_minor.is_none_or(|amount| amount < min)
    {
        return Err(Refusal::MinOrderNotMet);
    }
    Ok(match coupon.discount_type {
        DiscountType::Percent => {
            let percent = i128::from(coupon.percent_off.unwrap_or(0));
            // In i128 the product cannot overflow; the result is at most the order amount.
            order
                .amount_minor
                .map(|amount| i64::try_from((i128::from(amount) * percent + 50) / 100).unwrap_or(amount).min(amount))
        }
        DiscountType::Amount => {
            let off = coupon.amount_off_minor.unwrap_or(0);
            Some(order.amount_minor.map_or(off, |amount| off.min(amount)))
        }
    })
}

/// The checks that depend on the coupon alone: active, inside its window, not used up
/// (`redeemed` is the count before this redemption).
pub fn check_state(coupon: &CouponInput, redeemed: i64, now: DateTime<Utc>) -> Result<(), Refusal> {
    if !coupon.active {
        return Err(Refusal::Inactive);
    }
    if coupon.valid_from.is_some_and(|from| now < from) {
        return Err(Refusal::NotYetValid);
    }
    if coupon.valid_until.is_some_and(|until| now >= until) {
        return Err(Refusal::Expired);
    }
    if coupon.max_redemptions.is_some_and(|max| redeemed >= max) {
        return Err(Refusal::Exhausted);
    }
    Ok(())
}

/// Whether `coupon` may be redeemed now by a customer who redeemed it `customer_redeemed` times
/// and is (`in_segment`) or is not in its segment, for `order`; `redeemed` is the overall count
/// before this redemption. Returns the discount as [`discount_for`] does, or the first refusal.
pub fn check_redeemable(
    coupon: &CouponInput,
    now: DateTime<Utc>,
    redeemed: i64,
    customer_redeemed: i64,
    in_segment: bool,
    order: &Order,
) -> Result<Option<i64>, Refusal> {
    check_state(coupon, redeemed, now)?;
    if !in_segment {
        return Err(Refusal::NotEligible);
    }
    if coupon.max_redemptions_per_customer.is_some_and(|max| customer_redeemed >= max) {
        return Err(Refusal::LimitReached);
    }
    discount_for(coupon, order)
}

/// The body of `POST /v1/coupons/{code}/validate`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customer_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1c", "order_amount_minor": 12000, "currency": "EUR"}))]
pub struct CouponCheck {
    pub customer_id: CustomerId,
    /// The order total the discount applies to; required with a minimum order, and for a
    /// percent coupon to know the discount.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub order_amount_minor: Option<i64>,
    /// ISO 4217; required with `order_amount_minor`.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z]{3}$", example = "EUR")]
    pub currency: Option<String>,
}

impl CouponCheck {
    pub fn validate(self) -> Result<(CustomerId, Order), ValidationErrors> {
        let mut e = ValidationErrors::default();
        let order = check_order(&mut e, self.order_amount_minor, self.currency);
        e.into_result((self.customer_id, order))
    }
}

fn check_order(e: &mut ValidationErrors, amount: Option<i64>, currency: Option<String>) -> Order {
    check_range(e, "order_amount_minor", amount, 0, AMOUNT_MAX);
    let sent = currency.as_ref().is_some_and(|c| !c.trim().is_empty());
    let currency = check_currency(e, "currency", currency);
    if amount.is_some() && !sent {
        e.add("currency", "required", "an order amount needs a currency");
    }
    Order { amount_minor: amount, currency }
}

/// The body of `POST /v1/coupons/{code}/redeem`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "customer_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1c",
    "order_amount_minor": 12000,
    "currency": "EUR",
    "external_order_id": "SHOP-10482"
}))]
pub struct RedeemInput {
    pub customer_id: CustomerId,
    /// The order total; required for a percent coupon (the discount is recorded) and with a
    /// minimum order.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub order_amount_minor: Option<i64>,
    /// ISO 4217; required with `order_amount_minor`.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z]{3}$", example = "EUR")]
    pub currency: Option<String>,
    /// The shop's order number; a coupon is redeemed at most once per order, unless that
    /// redemption was voided (409 `coupon_already_redeemed`).
    #[serde(default)]
    #[schema(max_length = 200)]
    pub external_order_id: Option<String>,
    /// A purchase of the same customer recorded in the CRM.
    #[serde(default)]
    pub purchase_id: Option<PurchaseId>,
}

/// A checked [`RedeemInput`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeem {
    pub customer_id: CustomerId,
    pub order: Order,
    pub external_order_id: Option<String>,
    pub purchase_id: Option<PurchaseId>,
}

impl RedeemInput {
    pub fn validate(self) -> Result<Redeem, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let order = check_order(&mut e, self.order_amount_minor, self.currency);
        let external_order_id = e.text("external_order_id", self.external_order_id, EXTERNAL_ORDER_ID_MAX);
        e.into_result(Redeem { customer_id: self.customer_id, order, external_order_id, purchase_id: self.purchase_id })
    }
}

/// The answer of `POST /v1/coupons/{code}/validate`: whether the customer could redeem the
/// coupon for this order now, and for how much. Nothing is recorded.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "valid": false, "coupon_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1d", "code": "WINTER15",
    "discount_type": "percent", "discount_minor": null, "currency": "EUR",
    "reason": "min_order_not_met", "message": "the order amount is below the coupon's minimum (or was not given)"
}))]
pub struct CouponValidation {
    pub valid: bool,
    pub coupon_id: CouponId,
    pub code: String,
    pub discount_type: DiscountType,
    /// What the coupon takes off this order; `null` when refused, or for a percent coupon
    /// without an order amount.
    pub discount_minor: Option<i64>,
    /// The currency of the discount: the order's, else the coupon's.
    pub currency: Option<String>,
    /// Why it is refused: `coupon_inactive`, `coupon_not_yet_valid`, `coupon_expired`,
    /// `coupon_exhausted`, `coupon_not_eligible`, `coupon_limit_reached`, `currency_mismatch` or
    /// `min_order_not_met` (the same codes `redeem` answers with).
    pub reason: Option<String>,
    pub message: Option<String>,
}

impl CouponValidation {
    pub fn new(coupon: &Coupon, order: &Order, outcome: Result<Option<i64>, Refusal>) -> CouponValidation {
        let (valid, discount_minor, refusal) = match outcome {
            Ok(discount) => (true, discount, None),
            Err(refusal) => (false, None, Some(refusal)),
        };
        CouponValidation {
            valid,
            coupon_id: coupon.id,
            code: coupon.data.code.clone(),
            discount_type: coupon.data.discount_type,
            discount_minor,
            currency: order.currency.clone().or_else(|| coupon.data.currency.clone()),
            reason: refusal.map(|r| r.code().to_owned()),
            message: refusal.map(|r| r.message().to_owned()),
        }
    }
}

/// One use of a coupon by a customer.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1e", "coupon_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1d",
    "code": "WINTER15", "customer_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1c",
    "order_amount_minor": 12000, "currency": "EUR", "discount_minor": 1800, "purchase_id": null,
    "external_order_id": "SHOP-10482", "actor": {"type": "api_key", "id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1f"},
    "created_at": "2026-12-03T10:15:00Z", "voided_at": null, "void_reason": null
}))]
pub struct CouponRedemption {
    pub id: CouponRedemptionId,
    pub coupon_id: CouponId,
    /// The coupon's code.
    pub code: String,
    pub customer_id: CustomerId,
    pub order_amount_minor: Option<i64>,
    pub currency: Option<String>,
    /// What the coupon took off the order.
    pub discount_minor: i64,
    pub purchase_id: Option<PurchaseId>,
    pub external_order_id: Option<String>,
    /// Who recorded the redemption.
    pub actor: Actor,
    pub created_at: DateTime<Utc>,
    /// Set when the redemption was voided: it no longer counts against the coupon's limits.
    pub voided_at: Option<DateTime<Utc>>,
    pub void_reason: Option<String>,
}

/// The body of `POST /v1/coupons/{id}/redemptions/{redemption_id}/void`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "order SHOP-10482 cancelled before payment"}))]
pub struct VoidInput {
    #[serde(default)]
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

impl VoidInput {
    pub fn validate(self) -> Result<VoidInput, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let reason = e.text("reason", self.reason, VOID_REASON_MAX);
        e.into_result(VoidInput { reason })
    }
}

/// The filters `GET /v1/coupons` accepts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CouponFilter {
    pub active: Option<bool>,
    /// Exact code (normalised).
    pub code: Option<String>,
    pub segment_id: Option<SegmentId>,
    /// Case-insensitive substring of the code or the name.
    pub q: Option<String>,
    pub deleted: bool,
}

/// A list order of coupons by creation, ties broken by id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CouponSort {
    pub ascending: bool,
}

impl CouponSort {
    pub const ACCEPTED: [&str; 2] = ["-created_at", "created_at"];

    pub fn parse(s: &str) -> Option<CouponSort> {
        match s {
            "-created_at" => Some(CouponSort { ascending: false }),
            "created_at" => Some(CouponSort { ascending: true }),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        Self::ACCEPTED[usize::from(self.ascending)]
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::patch::decode;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, 0, 0, 0).single().unwrap_or_default()
    }

    fn coupon(value: Value) -> CouponInput {
        decode::<CouponInput>(value)
            .unwrap_or_else(|e| panic!("decodes: {e}"))
            .validate()
            .unwrap_or_else(|e| panic!("valid: {e}"))
    }

    fn codes(value: Value) -> Vec<(String, String)> {
        match decode::<CouponInput>(value).map_err(|e| e.0).and_then(|c| c.validate().map_err(|e| e.0)) {
            Ok(c) => panic!("expected errors, got {c:?}"),
            Err(e) => e.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    }

    fn pair(field: &str, code: &str) -> (String, String) {
        (field.to_owned(), code.to_owned())
    }

    fn order(amount: Option<i64>, currency: Option<&str>) -> Order {
        Order { amount_minor: amount, currency: currency.map(str::to_owned) }
    }

    #[test]
    fn codes_are_trimmed_upper_cased_and_checked() {
        let c = coupon(json!({"code": " winter-15_a ", "percent_off": 15, "name": " Winter "}));
        assert_eq!((c.code.as_str(), c.name.as_deref()), ("WINTER-15_A", Some("Winter")));
        assert!(c.active, "active by default");
        assert_eq!(c.search_text(), "winter-15_a winter");
        assert_eq!(normalise_code("abc"), Some("ABC".into()));
        for bad in ["ab", "a b c", "ÄBC", "abc!", "a\0bc", &"x".repeat(65), ""] {
            assert_eq!(normalise_code(bad), None, "{bad:?}");
        }
        assert_eq!(normalise_code(&"x".repeat(64)).map(|c| c.len()), Some(64));
        assert_eq!(codes(json!({"code": "  ", "percent_off": 5})), [pair("code", "required")]);
        assert_eq!(codes(json!({"code": "no way", "percent_off": 5})), [pair("code", "invalid_format")]);
    }

    #[test]
    fn discount_fields_follow_the_type() {
        assert_eq!(codes(json!({"code": "ABC"})), [pair("percent_off", "required")]);
        assert_eq!(codes(json!({"code": "ABC", "percent_off": 0})), [pair("percent_off", "out_of_range")]);
        assert_eq!(codes(json!({"code": "ABC", "percent_off": 101})), [pair("percent_off", "out_of_range")]);
        assert_eq!(
            codes(json!({"code": "ABC", "percent_off": 10, "amount_off_minor": 5, "currency": "EUR"})),
            [pair("amount_off_minor", "not_allowed")]
        );
        assert_eq!(
            codes(json!({"code": "ABC", "discount_type": "amount", "amount_off_minor": 500})),
            [pair("currency", "required")]
        );
        assert_eq!(
            codes(json!({"code": "ABC", "discount_type": "amount", "percent_off": 5, "currency": "EUR"})),
            [pair("amount_off_minor", "required"), pair("percent_off", "not_allowed")]
        );
        assert_eq!(
            codes(
                json!({"code": "ABC", "discount_type": "amount", "amount_off_minor": AMOUNT_MAX + 1, "currency": "eu"})
            ),
            [pair("amount_off_minor", "out_of_range"), pair("currency", "invalid_value")]
        );
        let amount =
            coupon(json!({"code": "ABC", "discount_type": "amount", "amount_off_minor": 500, "currency": "eur"}));
        assert_eq!(amount.currency.as_deref(), Some("EUR"));
        assert_eq!(
            codes(json!({"code": "ABC", "percent_off": 5, "min_order_minor": 100})),
            [pair("currency", "required")]
        );
        assert_eq!(
            codes(json!({"code": "ABC", "discount_type": "gift"})).first().map(|p| p.1.as_str()),
            Some("invalid_value")
        );
    }

    #[test]
    fn windows_and_limits_are_checked() {
        let bad = codes(json!({"code": "ABC", "percent_off": 5, "valid_from": "2026-12-02T00:00:00Z",
                              "valid_until": "2026-12-01T00:00:00Z", "max_redemptions": 0,
                              "max_redemptions_per_customer": LIMIT_MAX + 1, "min_order_minor": -1, "currency": "EUR"}));
        assert_eq!(
            bad,
            [
                pair("min_order_minor", "out_of_range"),
                pair("max_redemptions", "out_of_range"),
                pair("max_redemptions_per_customer", "out_of_range"),
                pair("valid_until", "out_of_range")
            ]
        );
        let same = codes(json!({"code": "ABC", "percent_off": 5, "valid_from": "2026-12-02T00:00:00Z",
                               "valid_until": "2026-12-02T00:00:00Z"}));
        assert_eq!(same, [pair("valid_until", "out_of_range")]);
        assert_eq!(
            codes(json!({"code": "ABC", "percent_off": 5, "valid_until": "3000-01-01T00:00:00Z"})),
            [pair("valid_until", "out_of_range")]
        );
        assert_eq!(
            codes(json!({"code": "ABC", "percent_off": 5, "name": "a\u{0}"})),
            [pair("name", "invalid_characters")]
        );
        assert_eq!(codes(json!({"code": "ABC", "percent_off": 5, "id": "x"})), [pair("id", "unknown_field")]);
    }

    #[test]
    fn the_terms_are_code_discount_and_currency() {
        let c = coupon(json!({"code": "ABC", "percent_off": 5}));
        assert!(!c.changes_terms(&CouponInput {
            name: Some("x".into()),
            max_redemptions: Some(3),
            active: false,
            ..c.clone()
        }));
        assert!(c.changes_terms(&CouponInput { code: "ABD".into(), ..c.clone() }));
        assert!(c.changes_terms(&CouponInput { percent_off: Some(6), ..c.clone() }));
        assert!(c.changes_terms(&CouponInput { currency: Some("EUR".into()), ..c.clone() }));
    }

    #[test]
    fn percent_rounds_half_up_and_amount_is_capped() {
        let p = coupon(json!({"code": "ABC", "percent_off": 15}));
        assert_eq!(discount_for(&p, &order(Some(999), Some("EUR"))), Ok(Some(150)), "149.85 rounds up");
        assert_eq!(discount_for(&p, &order(Some(990), Some("EUR"))), Ok(Some(149)), "148.5 rounds up");
        assert_eq!(discount_for(&p, &order(Some(3), Some("EUR"))), Ok(Some(0)), "0.45 rounds down");
        assert_eq!(discount_for(&p, &order(None, None)), Ok(None), "unknown without an amount");
        let all = coupon(json!({"code": "ABC", "percent_off": 100}));
        assert_eq!(discount_for(&all, &order(Some(AMOUNT_MAX), Some("EUR"))), Ok(Some(AMOUNT_MAX)));
        let a = coupon(json!({"code": "ABC", "discount_type": "amount", "amount_off_minor": 500, "currency": "EUR"}));
        assert_eq!(discount_for(&a, &order(Some(1200), Some("EUR"))), Ok(Some(500)));
        assert_eq!(discount_for(&a, &order(Some(300), Some("EUR"))), Ok(Some(300)), "capped at the order");
        assert_eq!(discount_for(&a, &order(None, None)), Ok(Some(500)));
        assert_eq!(discount_for(&a, &order(Some(1200), Some("USD"))), Err(Refusal::CurrencyMismatch));
        assert_eq!(discount_for(&a, &order(None, Some("USD"))), Err(Refusal::CurrencyMismatch));
    }

    #[test]
    fn minimum_order_needs_an_amount_that_meets_it() {
        let c = coupon(json!({"code": "ABC", "percent_off": 10, "min_order_minor": 5000, "currency": "EUR"}));
        assert_eq!(discount_for(&c, &order(Some(4999), Some("EUR"))), Err(Refusal::MinOrderNotMet));
        assert_eq!(discount_for(&c, &order(None, None)), Err(Refusal::MinOrderNotMet));
        assert_eq!(discount_for(&c, &order(Some(5000), Some("EUR"))), Ok(Some(500)));
        assert_eq!(discount_for(&c, &order(Some(5000), Some("PLN"))), Err(Refusal::CurrencyMismatch));
    }

    #[test]
    fn redeemable_checks_in_order() {
        let base = coupon(json!({"code": "ABC", "percent_off": 10, "valid_from": "2026-12-05T00:00:00Z",
                                "valid_until": "2026-12-10T00:00:00Z", "max_redemptions": 5,
                                "max_redemptions_per_customer": 2}));
        let o = order(Some(1000), Some("EUR"));
        assert_eq!(check_redeemable(&base, at(5), 0, 0, true, &o), Ok(Some(100)), "valid_from is inclusive");
        assert_eq!(check_redeemable(&base, at(4), 0, 0, true, &o), Err(Refusal::NotYetValid));
        assert_eq!(check_redeemable(&base, at(10), 0, 0, true, &o), Err(Refusal::Expired), "valid_until is exclusive");
        assert_eq!(check_redeemable(&base, at(6), 5, 0, true, &o), Err(Refusal::Exhausted));
        assert_eq!(check_redeemable(&base, at(6), 4, 0, true, &o), Ok(Some(100)));
        assert_eq!(check_redeemable(&base, at(6), 0, 0, false, &o), Err(Refusal::NotEligible));
        assert_eq!(check_redeemable(&base, at(6), 0, 2, true, &o), Err(Refusal::LimitReached));
        assert_eq!(check_redeemable(&base, at(6), 0, 1, true, &o), Ok(Some(100)));
        let inactive = CouponInput { active: false, ..base.clone() };
        assert_eq!(check_redeemable(&inactive, at(12), 9, 9, false, &o), Err(Refusal::Inactive), "checked first");
        assert_eq!(check_redeemable(&base, at(12), 9, 9, false, &o), Err(Refusal::Expired));
        assert_eq!(check_redeemable(&base, at(6), 9, 9, false, &o), Err(Refusal::Exhausted));
        assert_eq!(check_state(&base, 4, at(6)), Ok(()));
        let unlimited = coupon(json!({"code": "ABC", "percent_off": 10}));
        assert_eq!(check_redeemable(&unlimited, at(1), i64::MAX, i64::MAX, true, &o), Ok(Some(100)));
    }

    #[test]
    fn refusal_codes_are_distinct() {
        let mut codes: Vec<&str> = Refusal::ALL.iter().map(|r| r.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Refusal::ALL.len());
    }

    #[test]
    fn order_inputs_are_checked() {
        let customer = CustomerId(uuid::Uuid::nil());
        let check = |amount: Option<i64>, currency: Option<&str>| {
            CouponCheck { customer_id: customer, order_amount_minor: amount, currency: currency.map(str::to_owned) }
                .validate()
                .map_err(|e| e.0.into_iter().map(|e| (e.field, e.code)).collect::<Vec<_>>())
        };
        assert_eq!(check(Some(100), Some("eur")).map(|(_, o)| o), Ok(order(Some(100), Some("EUR"))));
        assert_eq!(check(Some(100), None).err(), Some(vec![pair("currency", "required")]));
        assert_eq!(check(Some(-1), Some("EUR")).err(), Some(vec![pair("order_amount_minor", "out_of_range")]));
        assert_eq!(check(None, Some("EURO")).err(), Some(vec![pair("currency", "invalid_value")]));
        assert_eq!(check(None, Some("USD")).map(|(_, o)| o), Ok(order(None, Some("USD"))));
        let redeem = RedeemInput {
            customer_id: customer,
            order_amount_minor: None,
            currency: None,
            external_order_id: Some(" A-1 ".into()),
            purchase_id: None,
        };
        assert_eq!(redeem.clone().validate().map(|r| r.external_order_id), Ok(Some("A-1".into())));
        let nul = RedeemInput { external_order_id: Some("a\0".into()), ..redeem }.validate();
        assert_eq!(nul.err().map(|e| e.0[0].code.clone()).as_deref(), Some("invalid_characters"));
    }

    #[test]
    fn sorts_round_trip() {
        for s in CouponSort::ACCEPTED {
            assert_eq!(CouponSort::parse(s).map(CouponSort::as_str), Some(s));
        }
        assert_eq!(CouponSort::default().as_str(), "-created_at");
        assert_eq!(CouponSort::parse("code"), None);
    }

    proptest! {
        #[test]
        fn a_discount_never_exceeds_the_order(amount in 0..=AMOUNT_MAX, percent in 1_i64..=100, off in 1..=AMOUNT_MAX) {
            let p = CouponInput { percent_off: Some(percent), ..coupon(json!({"code": "ABC", "percent_off": 1})) };
            let o = order(Some(amount), Some("EUR"));
            let d = discount_for(&p, &o).ok().flatten().unwrap_or(-1);
            prop_assert!((0..=amount).contains(&d));
            // Half up: within half a minor unit of the exact value.
            let exact = i128::from(amount) * i128::from(percent);
            prop_assert!((i128::from(d) * 100 - exact).abs() <= 50);
            let a = coupon(json!({"code": "ABC", "discount_type": "amount", "amount_off_minor": off, "currency": "EUR"}));
            prop_assert_eq!(discount_for(&a, &o), Ok(Some(off.min(amount))));
        }
    }
}
