//! Loyalty: the program of a workspace (earn rate, category multipliers, tiers, expiry,
//! welcome bonus), the points a purchase earns, tier evaluation, and the ledger rules: every
//! credit is a lot, debits take lots first-in-first-out (soonest expiry, then oldest), expiry
//! takes whole due lots. The store applies these rules inside one transaction per entry.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use chrono::{DateTime, Months, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Actor;
use crate::customer::str_enum;
use crate::deal::parse_currency;
use crate::owner::REASON_MAX;
use crate::{CustomerId, LedgerEntryId, ValidationErrors};

/// The most points one amount (a balance, a threshold, an adjustment) may hold: far below
/// `i64::MAX`, so sums of many entries never overflow.
pub const MAX_POINTS: i64 = 1_000_000_000_000;
pub const MAX_TIERS: usize = 20;
pub const MAX_CATEGORIES: usize = 200;
pub const NAME_MAX: usize = 100;
/// Multipliers are percentages: 100 = ×1, 200 = double, at most ×10.
pub const PERCENT_MAX: i64 = 1000;
pub const RATE_MAX: i64 = 1_000_000;
pub const UNIT_MAX: i64 = 1_000_000_000;
pub const EXPIRY_MONTHS_MAX: u32 = 120;
/// How far back tier-qualifying points count.
pub const TIER_WINDOW_MONTHS: u32 = 12;

/// A tier: reached when the points earned in the last 12 months reach `threshold`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Gold", "threshold": 5000, "multiplier_percent": 150}))]
pub struct Tier {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Tier-qualifying points earned in the rolling 12 months; ascending, the first may be 0.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub threshold: i64,
    /// Applied to purchase earnings while in the tier: 100 = ×1, 150 = ×1.5 (100 to 1000).
    #[schema(minimum = 100, maximum = 1000)]
    pub multiplier_percent: i64,
}

/// The loyalty program of a workspace: the body of `PUT /v1/loyalty/program` (a full replace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "active": true,
    "currency": "EUR",
    "points_per_unit": 1,
    "unit_minor": 100,
    "category_multipliers": {"shoes": 200, "gift-cards": 0},
    "expiry_months": 12,
    "tiers": [
        {"name": "Member", "threshold": 0, "multiplier_percent": 100},
        {"name": "Gold", "threshold": 5000, "multiplier_percent": 150}
    ],
    "welcome_bonus": 100
}))]
pub struct ProgramInput {
    /// Inactive: nothing is earned and no welcome bonus is granted; balances stay redeemable.
    pub active: bool,
    /// Only purchases in this ISO 4217 currency earn points.
    #[schema(pattern = "^[A-Za-z]{3}$", example = "EUR")]
    pub currency: String,
    /// Points per `unit_minor` minor units spent (after discounts), rounded down once per purchase.
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub points_per_unit: i64,
    /// E.g. 100: one `points_per_unit` for every 100 cents.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub unit_minor: i64,
    /// Per product category, a percentage of the base rate (200 = double, 0 = earns nothing);
    /// categories not listed earn 100 %.
    #[serde(default)]
    pub category_multipliers: BTreeMap<String, i64>,
    /// Earned points expire this many months after they are credited; `null`: never.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 120)]
    pub expiry_months: Option<u32>,
    /// Ascending thresholds.
    #[serde(default)]
    pub tiers: Vec<Tier>,
    /// Granted once, as an `earn` entry with reference `welcome`, at the first points write
    /// of a customer while the program is active.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub welcome_bonus: i64,
}

/// The program as the API returns it. A workspace that never configured one reads the
/// inactive default at version 0.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Program {
    pub active: bool,
    #[schema(example = "EUR")]
    pub currency: String,
    pub points_per_unit: i64,
    pub unit_minor: i64,
    pub category_multipliers: BTreeMap<String, i64>,
    pub expiry_months: Option<u32>,
    pub tiers: Vec<Tier>,
    pub welcome_bonus: i64,
    /// 0 until the program is first saved; sent as `ETag`.
    #[schema(example = 1)]
    pub version: i64,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Program {
    pub fn new(settings: ProgramInput, version: i64, updated_at: Option<DateTime<Utc>>) -> Program {
        let ProgramInput {
            active,
            currency,
            points_per_unit,
            unit_minor,
            category_multipliers,
            expiry_months,
            tiers,
            welcome_bonus,
        } = settings;
        Program {
            active,
            currency,
            points_per_unit,
            unit_minor,
            category_multipliers,
            expiry_months,
            tiers,
            welcome_bonus,
            version,
            updated_at,
        }
    }

    pub fn settings(&self) -> ProgramInput {
        ProgramInput {
            active: self.active,
            currency: self.currency.clone(),
            points_per_unit: self.points_per_unit,
            unit_minor: self.unit_minor,
            category_multipliers: self.category_multipliers.clone(),
            expiry_months: self.expiry_months,
            tiers: self.tiers.clone(),
            welcome_bonus: self.welcome_bonus,
        }
    }
}

impl ProgramInput {
    /// What a workspace without a saved program has: nothing is earned.
    pub fn inactive() -> ProgramInput {
        ProgramInput {
            active: false,
            currency: "EUR".into(),
            points_per_unit: 1,
            unit_minor: 100,
            category_multipliers: BTreeMap::new(),
            expiry_months: None,
            tiers: Vec::new(),
            welcome_bonus: 0,
        }
    }

    /// Checks every field and returns the normalised program (currency upper-cased, names
    /// trimmed), or every problem found.
    pub fn validate(self) -> Result<ProgramInput, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let currency = parse_currency(&self.currency).unwrap_or_else(|| {
            e.add("currency", "invalid_format", "must be an ISO 4217 code of three letters, e.g. EUR");
            self.currency.clone()
        });
        if !(1..=RATE_MAX).contains(&self.points_per_unit) {
            e.add("points_per_unit", "out_of_range", format!("must be between 1 and {RATE_MAX}"));
        }
        if !(1..=UNIT_MAX).contains(&self.unit_minor) {
            e.add("unit_minor", "out_of_range", format!("must be between 1 and {UNIT_MAX}"));
        }
        if self.category_multipliers.len() > MAX_CATEGORIES {
            e.add("category_multipliers", "too_many", format!("at most {MAX_CATEGORIES} categories"));
        }
        let mut categories = BTreeMap::new();
        for (category, percent) in self.category_multipliers {
            let field = format!("category_multipliers.{category}");
            e.check_len(&field, &category, NAME_MAX);
            let name = category.trim().to_owned();
            if name.is_empty() {
                e.add(field.clone(), "required", "a category name must not be blank");
            }
            if !(0..=PERCENT_MAX).contains(&percent) {
                e.add(field, "out_of_range", format!("must be a percentage between 0 and {PERCENT_MAX}"));
            }
            categories.insert(name, percent);
        }
        if self.expiry_months.is_some_and(|m| !(1..=EXPIRY_MONTHS_MAX).contains(&m)) {
            e.add("expiry_months", "out_of_range", format!("must be between 1 and {EXPIRY_MONTHS_MAX}, or null"));
        }
        if self.tiers.len() > MAX_TIERS {
            e.add("tiers", "too_many", format!("at most {MAX_TIERS} tiers"));
        }
        let mut tiers = Vec::with_capacity(self.tiers.len());
        let mut previous: Option<i64> = None;
        for (i, tier) in self.tiers.into_iter().enumerate() {
            let field = |name: &str| format!("tiers[{i}].{name}");
            let name = e.text(&field("name"), Some(tier.name), NAME_MAX);
            match &name {
                None => e.add(field("name"), "required", "a tier needs a name"),
                Some(n) if tiers.iter().any(|t: &Tier| t.name.eq_ignore_ascii_case(n)) => {
                    e.add(field("name"), "duplicate", "tier names must be unique");
                }
                Some(_) => {}
            }
            if !(0..=MAX_POINTS).contains(&tier.threshold) {
                e.add(field("threshold"), "out_of_range", format!("must be between 0 and {MAX_POINTS}"));
            } else if previous.is_some_and(|p| tier.threshold <= p) {
                e.add(field("threshold"), "not_ascending", "thresholds must increase from one tier to the next");
            }
            if !(100..=PERCENT_MAX).contains(&tier.multiplier_percent) {
                e.add(field("multiplier_percent"), "out_of_range", format!("must be between 100 and {PERCENT_MAX}"));
            }
            previous = Some(tier.threshold);
            tiers.push(Tier { name: name.unwrap_or_default(), ..tier });
        }
        if !(0..=RATE_MAX).contains(&self.welcome_bonus) {
            e.add("welcome_bonus", "out_of_range", format!("must be between 0 and {RATE_MAX}"));
        }
        e.into_result(ProgramInput { currency, category_multipliers: categories, tiers, ..self })
    }

    /// The percentage a line of `category` earns at.
    pub fn category_percent(&self, category: Option<&str>) -> i64 {
        category.and_then(|c| self.category_multipliers.get(c.trim()).copied()).unwrap_or(100)
    }

    /// When points credited at `at` expire under this program; `None`: never.
    pub fn expiry_for(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.expiry_months.and_then(|m| at.checked_add_months(Months::new(m)))
    }
}

/// One line of a purchase as far as points are concerned: its category and its net amount
/// (after line-level discounts) in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarnLine {
    pub category: Option<String>,
    pub net_minor: i64,
}

/// The points a purchase earns: `Σ line × category % × (1 − discount ÷ Σ lines)` converted at
/// `points_per_unit / unit_minor`, times the tier multiplier, rounded down **once** for the
/// whole purchase (per-line rounding would lose a point on every cheap line).
///
/// An order-level `discount_minor` is spread over the lines in proportion to their amounts,
/// so a discount on a basket of shoes (×2) and socks (×1) costs points at both rates. Negative
/// lines count as 0; a discount larger than the lines earns nothing. Never more than
/// [`MAX_POINTS`].
pub fn points_for_purchase(
    program: &ProgramInput,
    tier_multiplier_percent: i64,
    lines: &[EarnLine],
    discount_minor: i64,
) -> i64 {
    let total: i128 = lines.iter().map(|l| i128::from(l.net_minor.max(0))).sum();
    if total == 0 {
        return 0;
    }
    let weighted: i128 = lines
        .iter()
        .map(|l| i128::from(l.net_minor.max(0)) * i128::from(program.category_percent(l.category.as_deref()).max(0)))
        .sum();
    let paid = total - i128::from(discount_minor.max(0)).min(total);
    let rate = i128::from(program.points_per_unit) * i128::from(tier_multiplier_percent.max(0));
    let denominator = total * i128::from(program.unit_minor.max(1)) * 100 * 100;
    // Exact when it fits in i128 (every realistic order); otherwise divide early and lose at
    // most a point to rounding.
    let points = weighted
        .checked_mul(paid)
        .and_then(|n| n.checked_mul(rate))
        .map(|n| n / denominator)
        .unwrap_or_else(|| weighted / total * paid / i128::from(program.unit_minor.max(1)) * rate / 10_000);
    i64::try_from(points.clamp(0, i128::from(MAX_POINTS))).unwrap_or(MAX_POINTS)
}

/// How many of a purchase's points a refund takes back: the refunded share of the purchase
/// (`earned × refunded_total ÷ purchase_total`, rounded down; all of them once it is fully
/// refunded), minus what earlier refunds already took.
pub fn points_to_reverse(earned: i64, already_reversed: i64, refunded_total_minor: i64, total_minor: i64) -> i64 {
    if earned <= 0 || total_minor <= 0 {
        return 0;
    }
    let refunded = refunded_total_minor.clamp(0, total_minor);
    let due = i128::from(earned) * i128::from(refunded) / i128::from(total_minor);
    let due = i64::try_from(due).unwrap_or(earned).min(earned);
    (due - already_reversed.max(0)).max(0)
}

/// Where a customer stands against the tiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TierStatus {
    /// The highest tier whose threshold is reached; `null` below the first.
    pub tier: Option<Tier>,
    /// The tier after it; `null` at the top (or without tiers).
    pub next_tier: Option<Tier>,
    /// Points still to earn to reach `next_tier`; 0 when there is none.
    pub points_to_next_tier: i64,
}

/// The tier reached with `earned` tier-qualifying points in the window: a threshold counts as
/// reached when met exactly.
pub fn tier_for(tiers: &[Tier], earned: i64) -> TierStatus {
    let reached = tiers.iter().rposition(|t| t.threshold <= earned);
    let next = tiers.get(reached.map_or(0, |i| i + 1)).cloned();
    TierStatus {
        tier: reached.and_then(|i| tiers.get(i)).cloned(),
        points_to_next_tier: next.as_ref().map_or(0, |t| (t.threshold - earned).max(0)),
        next_tier: next,
    }
}

/// The multiplier of the tier `earned` reaches (100 without one).
pub fn tier_multiplier(tiers: &[Tier], earned: i64) -> i64 {
    tier_for(tiers, earned).tier.map_or(100, |t| t.multiplier_percent)
}

/// The start of the rolling tier window ending at `now`.
pub fn tier_window_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now.checked_sub_months(Months::new(TIER_WINDOW_MONTHS)).unwrap_or(now)
}

/// What the lots of points that never expire sort as: after every real expiry.
pub fn never_expires() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).single().unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Points credited by one entry, still available until spent or expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lot {
    /// The crediting ledger entry.
    pub id: Uuid,
    pub remaining: i64,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The order lots are spent in: soonest expiry first (never-expiring last), then oldest.
pub fn fifo(a: &Lot, b: &Lot) -> Ordering {
    let key = |l: &Lot| (l.expires_at.unwrap_or_else(never_expires), l.created_at, l.id);
    key(a).cmp(&key(b))
}

/// Points taken from one lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Take {
    pub lot: Uuid,
    pub points: i64,
}

/// Takes `points` from `lots` first-in-first-out; returns the takes and what the lots could
/// not cover (0 when they sufficed).
pub fn consume(lots: &[Lot], points: i64) -> (Vec<Take>, i64) {
    let mut ordered: Vec<&Lot> = lots.iter().filter(|l| l.remaining > 0).collect();
    ordered.sort_by(|a, b| fifo(a, b));
    let mut need = points.max(0);
    let mut takes = Vec::new();
    for lot in ordered {
        if need == 0 {
            break;
        }
        let take = lot.remaining.min(need);
        takes.push(Take { lot: lot.id, points: take });
        need -= take;
    }
    (takes, need)
}

/// The lots due to expire at `now` (expiry at or before it), each taken whole, oldest first.
pub fn due(lots: &[Lot], now: DateTime<Utc>) -> Vec<Take> {
    let mut due: Vec<&Lot> =
        lots.iter().filter(|l| l.remaining > 0 && l.expires_at.is_some_and(|at| at <= now)).collect();
    due.sort_by(|a, b| fifo(a, b));
    due.into_iter().map(|l| Take { lot: l.id, points: l.remaining }).collect()
}

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    /// Points credited for a purchase or the welcome bonus.
    Earn,
    /// Points spent on a reward or an amount.
    Redeem,
    /// A manual correction, with its reason and who made it.
    Adjust,
    /// Lots that reached their expiry.
    Expire,
    /// A refunded purchase's points taken back.
    Reverse,
}

str_enum!(LedgerKind { Earn => "earn", Redeem => "redeem", Adjust => "adjust", Expire => "expire", Reverse => "reverse" });

impl LedgerKind {
    pub const ALL: [LedgerKind; 5] =
        [LedgerKind::Earn, LedgerKind::Redeem, LedgerKind::Adjust, LedgerKind::Expire, LedgerKind::Reverse];
}

/// What an entry refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceType {
    Purchase,
    Reward,
    Coupon,
    Welcome,
}

str_enum!(ReferenceType { Purchase => "purchase", Reward => "reward", Coupon => "coupon", Welcome => "welcome" });

/// One entry of a customer's points ledger. Entries are never changed or removed.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1b",
    "customer_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1c",
    "seq": 7,
    "kind": "redeem",
    "points": -500,
    "balance_after": 740,
    "reference_type": "reward",
    "reference_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1d",
    "reason": null,
    "expires_at": null,
    "actor": {"type": "api_key", "id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1e"},
    "created_at": "2026-11-26T10:00:00Z"
}))]
pub struct LedgerEntry {
    pub id: LedgerEntryId,
    pub customer_id: CustomerId,
    /// 1, 2, 3… per customer, in the order the entries were written.
    pub seq: i64,
    pub kind: LedgerKind,
    /// Signed: credits positive, debits negative.
    pub points: i64,
    /// The balance right after this entry.
    pub balance_after: i64,
    pub reference_type: Option<ReferenceType>,
    pub reference_id: Option<Uuid>,
    pub reason: Option<String>,
    /// For credits: when these points expire (`null`: never).
    pub expires_at: Option<DateTime<Utc>>,
    pub actor: Actor,
    pub created_at: DateTime<Utc>,
}

/// `GET /v1/customers/{id}/loyalty`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "customer_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1c",
    "balance": 1240,
    "tier": {"name": "Member", "threshold": 0, "multiplier_percent": 100},
    "next_tier": {"name": "Gold", "threshold": 5000, "multiplier_percent": 150},
    "points_to_next_tier": 3760,
    "earned_last_12_months": 1240,
    "expiring_next_30_days": 120,
    "lifetime_earned": 1740,
    "program_active": true
}))]
pub struct LoyaltySummary {
    pub customer_id: CustomerId,
    pub balance: i64,
    pub tier: Option<Tier>,
    pub next_tier: Option<Tier>,
    pub points_to_next_tier: i64,
    /// Tier-qualifying points of the rolling 12 months: purchase earnings minus their
    /// reversals, plus adjustments made with `counts_toward_tier`.
    pub earned_last_12_months: i64,
    /// Points whose expiry falls within 30 days (including ones due at the next expiry run).
    pub expiring_next_30_days: i64,
    /// Every point ever credited (earnings, positive adjustments) minus reversals.
    pub lifetime_earned: i64,
    pub program_active: bool,
}

/// The body of `POST /v1/customers/{id}/loyalty/redeem`: an amount, a reward, or both when
/// `points` equals the reward's cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reward_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1d", "reason": "Birthday voucher"}))]
pub struct Redeem {
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub points: Option<i64>,
    #[serde(default)]
    pub reward_id: Option<crate::RewardId>,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

impl Redeem {
    pub fn validate(self) -> Result<Redeem, ValidationErrors> {
        let mut e = ValidationErrors::default();
        match (self.points, self.reward_id) {
            (None, None) => e.add("points", "required", "send `points`, `reward_id`, or both"),
            (Some(p), _) if !(1..=MAX_POINTS).contains(&p) => {
                e.add("points", "out_of_range", format!("must be between 1 and {MAX_POINTS}"));
            }
            _ => {}
        }
        let reason = e.text("reason", self.reason, REASON_MAX);
        e.into_result(Redeem { reason, ..self })
    }
}

/// The body of `POST /v1/customers/{id}/loyalty/adjust`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"points": 250, "reason": "Apology for the late delivery of order 1042"}))]
pub struct Adjust {
    /// Positive credits a new lot; negative takes points first-in-first-out and cannot take
    /// the balance below zero.
    #[schema(minimum = -1_000_000_000_000_i64, maximum = 1_000_000_000_000_i64)]
    pub points: i64,
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
    /// Credits only: when these points expire, in the future; default: the program's expiry.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Credits and debits alike: whether the points count toward tiers like purchase
    /// earnings (e.g. an order recorded by hand). Default false.
    #[serde(default)]
    pub counts_toward_tier: bool,
}

impl Adjust {
    pub fn validate(self, now: DateTime<Utc>) -> Result<Adjust, ValidationErrors> {
        let mut e = ValidationErrors::default();
        if self.points == 0 || !(-MAX_POINTS..=MAX_POINTS).contains(&self.points) {
            e.add("points", "out_of_range", format!("must be non-zero, between -{MAX_POINTS} and {MAX_POINTS}"));
        }
        let reason = e.text("reason", Some(self.reason), REASON_MAX);
        if reason.is_none() && !e.0.iter().any(|x| x.field == "reason") {
            e.add("reason", "required", "say why the balance is adjusted");
        }
        match self.expires_at {
            Some(_) if self.points < 0 => {
                e.add("expires_at", "not_allowed", "only a credit (positive points) has an expiry");
            }
            Some(at) if at <= now || at >= never_expires() => {
                e.add("expires_at", "out_of_range", "must be in the future, before 9999");
            }
            _ => {}
        }
        e.into_result(Adjust { reason: reason.unwrap_or_default(), ..self })
    }
}

/// The answer to a redeem or an adjustment: the entry written and the balance after it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LedgerWrite {
    pub entry: LedgerEntry,
    #[schema(example = 740)]
    pub balance: i64,
}

/// One account whose numbers disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AuditMismatch {
    pub customer_id: CustomerId,
    pub balance: i64,
    /// Σ points of the customer's ledger.
    pub ledger_sum: i64,
    /// Σ remaining points of the customer's lots.
    pub lots_sum: i64,
    /// Entries whose `balance_after` does not follow from the one before, or whose `seq`
    /// skips; 0 when the chain holds.
    pub broken_links: i64,
}

/// `GET /v1/loyalty/audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"accounts_checked": 1520, "ok": true, "mismatches": []}))]
pub struct AuditReport {
    pub accounts_checked: i64,
    pub ok: bool,
    /// At most 1000.
    pub mismatches: Vec<AuditMismatch>,
}

/// What an expiry run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ExpiryReport {
    pub customers: i64,
    pub lots_expired: i64,
    pub points_expired: i64,
}

/// "redeem −500 points (reward)": the timeline's line for an entry.
pub fn entry_summary(entry: &LedgerEntry) -> String {
    let sign = if entry.points > 0 { "+" } else { "" };
    let head = format!("{} {sign}{} points", entry.kind.as_str(), entry.points);
    match (entry.reference_type, &entry.reason) {
        (_, Some(reason)) => format!("{head}: {reason}"),
        (Some(reference), None) => format!("{head} ({})", reference.as_str()),
        (None, None) => head,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::patch::decode;

    fn program(value: serde_json::Value) -> ProgramInput {
        decode(value).unwrap_or_else(|e| panic!("decodes: {e}"))
    }

    fn basic() -> ProgramInput {
        program(json!({"active": true, "currency": "eur", "points_per_unit": 1, "unit_minor": 100,
                       "category_multipliers": {"shoes": 200, "gift-cards": 0}}))
        .validate()
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn codes(value: serde_json::Value) -> Vec<(String, String)> {
        match program(value).validate() {
            Ok(p) => panic!("expected errors, got {p:?}"),
            Err(e) => e.0.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    }

    fn line(category: Option<&str>, net_minor: i64) -> EarnLine {
        EarnLine { category: category.map(str::to_owned), net_minor }
    }

    fn tier(name: &str, threshold: i64, multiplier_percent: i64) -> Tier {
        Tier { name: name.into(), threshold, multiplier_percent }
    }

    #[test]
    fn programs_are_validated_and_normalised() {
        assert_eq!(basic().currency, "EUR");
        let bad = codes(json!({
            "active": true, "currency": "EURO", "points_per_unit": 0, "unit_minor": 2_000_000_000,
            "category_multipliers": {"x": 1001, " ": 100}, "expiry_months": 0,
            "tiers": [{"name": "Gold", "threshold": 100, "multiplier_percent": 150},
                      {"name": "gold", "threshold": 100, "multiplier_percent": 99},
                      {"name": "Top", "threshold": 1_000_000_000_001_i64, "multiplier_percent": 200}],
            "welcome_bonus": -1
        }));
        let expected = [
            ("currency", "invalid_format"),
            ("points_per_unit", "out_of_range"),
            ("unit_minor", "out_of_range"),
            ("category_multipliers. ", "required"),
            ("category_multipliers.x", "out_of_range"),
            ("expiry_months", "out_of_range"),
            ("tiers[1].name", "duplicate"),
            ("tiers[1].threshold", "not_ascending"),
            ("tiers[1].multiplier_percent", "out_of_range"),
            ("tiers[2].threshold", "out_of_range"),
            ("welcome_bonus", "out_of_range"),
        ];
        let expected: Vec<(String, String)> = expected.iter().map(|(f, c)| ((*f).into(), (*c).into())).collect();
        assert_eq!(bad, expected);
        let unknown = decode::<ProgramInput>(json!({"active": true, "currency": "EUR", "points_per_unit": 1,
                                                    "unit_minor": 100, "version": 3}));
        assert_eq!(unknown.err().map(|e| e.0[0].code.clone()).as_deref(), Some("unknown_field"));
    }

    #[test]
    fn purchase_points_round_down_once_with_category_tier_and_discount() {
        let p = basic();
        // 12.99 + 7.50 = 20.49 → 20 points, not 12 + 7.
        assert_eq!(points_for_purchase(&p, 100, &[line(None, 1299), line(Some("socks"), 750)], 0), 20);
        // Shoes double: 50.00 × 2 + 10.00 = 110.
        assert_eq!(points_for_purchase(&p, 100, &[line(Some("shoes"), 5000), line(None, 1000)], 0), 110);
        // Gift cards earn nothing; tier ×1.5 on the rest.
        assert_eq!(points_for_purchase(&p, 150, &[line(Some("gift-cards"), 5000), line(None, 1000)], 0), 15);
        // A 20 % order discount is spread over both lines: (100 + 10) × 0.8 = 88.
        assert_eq!(points_for_purchase(&p, 100, &[line(Some("shoes"), 5000), line(None, 1000)], 1200), 88);
        // Discount beyond the lines, empty or negative lines: nothing.
        assert_eq!(points_for_purchase(&p, 100, &[line(None, 1000)], 5000), 0);
        assert_eq!(points_for_purchase(&p, 100, &[], 0), 0);
        assert_eq!(points_for_purchase(&p, 100, &[line(None, -500)], 0), 0);
        // Huge amounts saturate instead of overflowing.
        let huge = ProgramInput { points_per_unit: RATE_MAX, unit_minor: 1, ..basic() };
        let lines = [line(Some("shoes"), i64::MAX), line(None, i64::MAX)];
        assert_eq!(points_for_purchase(&huge, 1000, &lines, 1), MAX_POINTS);
    }

    #[test]
    fn refunds_reverse_the_refunded_share() {
        assert_eq!(points_to_reverse(110, 0, 5000, 11000), 50);
        assert_eq!(points_to_reverse(110, 50, 11000, 11000), 60, "the rest on a full refund");
        assert_eq!(points_to_reverse(110, 110, 11000, 11000), 0);
        assert_eq!(points_to_reverse(0, 0, 100, 100), 0);
        assert_eq!(points_to_reverse(7, 0, 1, 3), 2);
    }

    #[test]
    fn tiers_are_reached_exactly_at_their_threshold() {
        let tiers = [tier("Member", 0, 100), tier("Silver", 1000, 120), tier("Gold", 5000, 150)];
        let at = |earned| tier_for(&tiers, earned);
        assert_eq!(at(0).tier.map(|t| t.name), Some("Member".into()));
        assert_eq!((at(999).tier.map(|t| t.name), at(999).points_to_next_tier), (Some("Member".into()), 1));
        assert_eq!(at(1000).tier.map(|t| t.name), Some("Silver".into()));
        assert_eq!(at(1000).next_tier.map(|t| t.name), Some("Gold".into()));
        let top = at(9000);
        assert_eq!((top.tier.map(|t| t.name), top.next_tier, top.points_to_next_tier), (Some("Gold".into()), None, 0));
        let no_base = [tier("Gold", 500, 150)];
        let below = tier_for(&no_base, 499);
        assert_eq!((below.tier, below.points_to_next_tier), (None, 1));
        assert_eq!(tier_multiplier(&no_base, 499), 100);
        assert_eq!(tier_multiplier(&no_base, 500), 150);
        assert_eq!(tier_for(&[], 10), TierStatus { tier: None, next_tier: None, points_to_next_tier: 0 });
    }

    #[test]
    fn adjustments_and_redemptions_are_validated() {
        let now = Utc::now();
        let adjust = |v| decode::<Adjust>(v).unwrap_or_else(|e| panic!("{e}")).validate(now);
        let codes = |r: Result<Adjust, ValidationErrors>| -> Vec<String> {
            r.err().map(|e| e.0.into_iter().map(|x| format!("{}:{}", x.field, x.code)).collect()).unwrap_or_default()
        };
        assert_eq!(codes(adjust(json!({"points": 0, "reason": " "}))), ["points:out_of_range", "reason:required"]);
        let past = json!({"points": 5, "reason": "x", "expires_at": "2020-01-01T00:00:00Z"});
        assert_eq!(codes(adjust(past)), ["expires_at:out_of_range"]);
        let debit = json!({"points": -5, "reason": "x", "expires_at": "2999-01-01T00:00:00Z"});
        assert_eq!(codes(adjust(debit)), ["expires_at:not_allowed"]);
        assert_eq!(codes(adjust(json!({"points": 5, "reason": "a\u{0}"}))), ["reason:invalid_characters"]);
        let redeem = |v| decode::<Redeem>(v).unwrap_or_else(|e| panic!("{e}")).validate();
        assert!(redeem(json!({})).is_err());
        assert!(redeem(json!({"points": 0})).is_err());
        assert!(redeem(json!({"points": MAX_POINTS + 1})).is_err());
        assert!(redeem(json!({"points": 10, "reason": "  "})).is_ok_and(|r| r.reason.is_none()));
    }

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, day, 0, 0, 0).single().unwrap_or_default()
    }

    #[test]
    fn fifo_takes_the_soonest_expiry_then_the_oldest() {
        let lot = |id: u128, remaining, expires: Option<u32>, created: u32| Lot {
            id: Uuid::from_u128(id),
            remaining,
            expires_at: expires.map(at),
            created_at: at(created),
        };
        let lots = [lot(1, 10, None, 1), lot(2, 10, Some(20), 5), lot(3, 10, Some(10), 9), lot(4, 10, Some(10), 2)];
        let (takes, short) = consume(&lots, 25);
        let order: Vec<(u128, i64)> = takes.iter().map(|t| (t.lot.as_u128(), t.points)).collect();
        assert_eq!((order, short), (vec![(4, 10), (3, 10), (2, 5)], 0));
        assert_eq!(consume(&lots, 50).1, 10, "what the lots cannot cover");
        let due: Vec<u128> = due(&lots, at(10)).iter().map(|t| t.lot.as_u128()).collect();
        assert_eq!(due, [4, 3], "expiry at the instant counts; never-expiring lots never do");
    }

    /// A customer's account as the store keeps it, driven only by the rules above: the model
    /// the property tests check the invariants on.
    #[derive(Debug, Default)]
    struct Account {
        balance: i64,
        entries: Vec<(LedgerKind, i64, i64)>,
        lots: Vec<Lot>,
        clock: u32,
        next_id: u128,
    }

    #[derive(Debug, Clone)]
    enum Op {
        Earn(i64, Option<u32>),
        Redeem(i64),
        Adjust(i64),
        Expire(u32),
        Reverse(usize, i64),
    }

    impl Account {
        fn now(&self) -> DateTime<Utc> {
            at(1) + chrono::Duration::hours(i64::from(self.clock))
        }

        fn record(&mut self, kind: LedgerKind, points: i64) {
            self.balance += points;
            self.entries.push((kind, points, self.balance));
        }

        fn credit(&mut self, kind: LedgerKind, points: i64, expires_in: Option<u32>) {
            self.next_id += 1;
            let now = self.now();
            let expires_at = expires_in.map(|h| now + chrono::Duration::hours(i64::from(h)));
            self.lots.push(Lot { id: Uuid::from_u128(self.next_id), remaining: points, expires_at, created_at: now });
            self.record(kind, points);
        }

        fn take(&mut self, takes: &[Take]) {
            for t in takes {
                if let Some(lot) = self.lots.iter_mut().find(|l| l.id == t.lot) {
                    lot.remaining -= t.points;
                }
            }
        }

        /// A debit as the store makes it: refused when the balance does not cover it.
        fn debit(&mut self, kind: LedgerKind, points: i64, preferred: Option<Uuid>) -> bool {
            if points > self.balance {
                return false;
            }
            let mut need = points;
            if let Some(own) = preferred.and_then(|id| self.lots.iter().find(|l| l.id == id)).cloned() {
                let (takes, left) = consume(&[own], need);
                self.take(&takes);
                need = left;
            }
            let (takes, left) = consume(&self.lots, need);
            assert_eq!(left, 0, "the balance covered it, so the lots must");
            self.take(&takes);
            self.record(kind, -points);
            true
        }

        fn apply(&mut self, op: Op) {
            self.clock += 1;
            match op {
                Op::Earn(p, expiry) => self.credit(LedgerKind::Earn, p, expiry),
                Op::Redeem(p) => {
                    self.debit(LedgerKind::Redeem, p, None);
                }
                Op::Adjust(p) if p > 0 => self.credit(LedgerKind::Adjust, p, None),
                Op::Adjust(p) => {
                    self.debit(LedgerKind::Adjust, -p, None);
                }
                Op::Expire(hours) => {
                    self.clock += hours;
                    let takes = due(&self.lots, self.now());
                    let total: i64 = takes.iter().map(|t| t.points).sum();
                    // Every due lot is older than any lot still alive with a later expiry.
                    let oldest_alive = self
                        .lots
                        .iter()
                        .filter(|l| l.remaining > 0 && !takes.iter().any(|t| t.lot == l.id))
                        .filter_map(|l| l.expires_at)
                        .min();
                    for t in &takes {
                        let lot = self.lots.iter().find(|l| l.id == t.lot).and_then(|l| l.expires_at);
                        assert!(lot.zip(oldest_alive).is_none_or(|(a, b)| a <= b));
                    }
                    self.take(&takes);
                    if total > 0 {
                        self.record(LedgerKind::Expire, -total);
                    }
                }
                Op::Reverse(index, p) => {
                    let Some(own) = self.lots.get(index % self.lots.len().max(1)).map(|l| l.id) else {
                        return;
                    };
                    // Never below zero: what was spent already is not clawed back.
                    let amount = p.min(self.balance);
                    if amount > 0 {
                        self.debit(LedgerKind::Reverse, amount, Some(own));
                    }
                }
            }
        }

        fn check(&self) {
            let ledger: i64 = self.entries.iter().map(|e| e.1).sum();
            let lots: i64 = self.lots.iter().map(|l| l.remaining).sum();
            assert!(self.balance >= 0);
            assert_eq!(self.balance, ledger, "balance = Σ ledger");
            assert_eq!(self.balance, lots, "balance = Σ lots");
            assert!(self.lots.iter().all(|l| l.remaining >= 0));
            let mut running = 0;
            for (_, points, after) in &self.entries {
                running += points;
                assert_eq!(running, *after, "balance_after chains");
            }
        }
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1..1000_i64, proptest::option::of(1..50_u32)).prop_map(|(p, e)| Op::Earn(p, e)),
            (1..1500_i64).prop_map(Op::Redeem),
            (-800..800_i64).prop_filter("non-zero", |p| *p != 0).prop_map(Op::Adjust),
            (0..40_u32).prop_map(Op::Expire),
            (0..20_usize, 1..1000_i64).prop_map(|(i, p)| Op::Reverse(i, p)),
        ]
    }

    proptest! {
        #[test]
        fn any_sequence_keeps_balance_equal_to_ledger_and_lots(ops in proptest::collection::vec(op(), 1..80)) {
            let mut account = Account::default();
            for op in ops {
                account.apply(op);
                account.check();
            }
        }

        #[test]
        fn redeeming_takes_lots_in_fifo_order(
            lots in proptest::collection::vec((1..100_i64, proptest::option::of(1..30_u32), 1..30_u32), 1..20),
            points in 1..2000_i64,
        ) {
            let lots: Vec<Lot> = lots
                .into_iter()
                .enumerate()
                .map(|(i, (remaining, expires, created))| Lot {
                    id: Uuid::from_u128(i as u128 + 1),
                    remaining,
                    expires_at: expires.map(at),
                    created_at: at(created),
                })
                .collect();
            let total: i64 = lots.iter().map(|l| l.remaining).sum();
            let (takes, short) = consume(&lots, points);
            prop_assert_eq!(short, (points - total).max(0));
            prop_assert_eq!(takes.iter().map(|t| t.points).sum::<i64>(), points.min(total));
            // Every lot but the last taken is emptied, and no untouched lot comes before a taken one.
            let find = |id: Uuid| lots.iter().find(|l| l.id == id).cloned();
            for pair in takes.windows(2) {
                let (a, b) = (find(pair[0].lot), find(pair[1].lot));
                prop_assert!(a.zip(b).is_some_and(|(a, b)| fifo(&a, &b) == Ordering::Less));
                prop_assert_eq!(Some(pair[0].points), find(pair[0].lot).map(|l| l.remaining));
            }
            if let Some(last) = takes.last().and_then(|t| find(t.lot)) {
                for lot in lots.iter().filter(|l| !takes.iter().any(|t| t.lot == l.id)) {
                    prop_assert!(fifo(&last, lot) == Ordering::Less);
                }
            }
        }
    }

    #[test]
    fn summaries_read_as_sentences() {
        let entry = LedgerEntry {
            id: LedgerEntryId(Uuid::nil()),
            customer_id: CustomerId(Uuid::nil()),
            seq: 1,
            kind: LedgerKind::Earn,
            points: 120,
            balance_after: 120,
            reference_type: Some(ReferenceType::Purchase),
            reference_id: None,
            reason: None,
            expires_at: None,
            actor: Actor::System,
            created_at: at(1),
        };
        assert_eq!(entry_summary(&entry), "earn +120 points (purchase)");
        let redeem = LedgerEntry { kind: LedgerKind::Adjust, points: -5, reason: Some("typo".into()), ..entry };
        assert_eq!(entry_summary(&redeem), "adjust -5 points: typo");
    }
}
