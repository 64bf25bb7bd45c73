//! Loyalty points: the program, each customer's account, its append-only ledger and its lots.
//!
//! Every ledger write runs in one transaction that (a) opens and locks the customer's account
//! (on PostgreSQL the row lock of that `UPDATE` serializes the writers of one customer; on
//! SQLite `BEGIN IMMEDIATE` does), (b) updates the balance with a guarded statement that can
//! never take it below zero, (c) appends the entry with the next `seq` and its
//! `balance_after`, (d) creates or consumes lots first-in-first-out and (e) records an audit
//! event. So balance = Σ ledger = Σ lots at every commit; `GET /v1/loyalty/audit` checks it.
//!
//! The statements are macros so that other stores (purchases) can run them inside their own
//! transactions: [`earn_for_purchase!`] and [`reverse_for_refund!`].

use chrono::{DateTime, Duration, Utc};
use crm_domain::access::Actor;
use crm_domain::audit::{AuditAction, Change, diff};
use crm_domain::loyalty::{
    AuditMismatch, AuditReport, ExpiryReport, LedgerEntry, LedgerKind, LedgerWrite, Lot, LoyaltySummary, Program,
    ProgramInput, Redeem, ReferenceType, tier_for, tier_window_start,
};
use crm_domain::{CustomerId, LedgerEntryId, RewardId, ValidationErrors, WorkspaceId};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use crate::audit::NewAuditRow;
use crate::schema::{
    audit_events, customers, job_leases, loyalty_accounts, loyalty_ledger, loyalty_lots, loyalty_programs, rewards,
};
use crate::types::{Id, Json, SqlUuid, Ts, now};
use crate::{Conn, Context, Store, StoreError, per_backend, write_tx};

pub(crate) const ENTRY: &str = "loyalty_entry";
const PROGRAM: &str = "loyalty_program";
/// How many lots one statement reads while consuming or expiring.
pub(crate) const LOT_BATCH: i64 = 100;

/// Lots with points left, as the lots' partial indexes say it (`WHERE remaining > 0`), the 0
/// written into the statement: SQLite uses a partial index only when it sees the query's
/// condition is the index's, and it does not read a bound 0 (QPSG, `.cargo/config.toml`).
pub(crate) fn points_left() -> diesel::dsl::Gt<loyalty_lots::remaining, diesel::expression::SqlLiteral<BigInt>> {
    loyalty_lots::remaining.gt(diesel::dsl::sql::<BigInt>("0"))
}
/// The most mismatches the audit lists.
const AUDIT_LIMIT: i64 = 1000;

#[derive(Queryable, Selectable)]
#[diesel(table_name = loyalty_programs)]
struct ProgramRow {
    active: bool,
    currency: String,
    points_per_unit: i64,
    unit_minor: i64,
    category_multipliers: Json,
    expiry_months: Option<i32>,
    tiers: Json,
    welcome_bonus: i64,
    version: i64,
    updated_at: Ts,
}

impl ProgramRow {
    fn into_program(self) -> Result<Program, StoreError> {
        let settings = ProgramInput {
            active: self.active,
            currency: self.currency,
            points_per_unit: self.points_per_unit,
            unit_minor: self.unit_minor,
            category_multipliers: self.category_multipliers.decode()?,
            expiry_months: self.expiry_months.and_then(|m| u32::try_from(m).ok()),
            tiers: self.tiers.decode()?,
            welcome_bonus: self.welcome_bonus,
        };
        Ok(Program::new(settings, self.version, Some(self.updated_at.0)))
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = loyalty_ledger)]
pub(crate) struct EntryRow {
    id: Id,
    customer_id: Id,
    seq: i64,
    kind: String,
    points: i64,
    balance_after: i64,
    reference_type: Option<String>,
    reference_id: Option<Id>,
    reason: Option<String>,
    expires_at: Option<Ts>,
    actor_type: String,
    actor_id: Option<Id>,
    created_at: Ts,
}

impl TryFrom<EntryRow> for LedgerEntry {
    type Error = StoreError;
    fn try_from(r: EntryRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str, value: &str| StoreError::Corrupt(format!("ledger {what} {value:?}"));
        let actor = match (r.actor_type.as_str(), r.actor_id) {
            ("user", Some(id)) => Actor::User(crm_domain::UserId(id.0)),
            ("api_key", Some(id)) => Actor::ApiKey(crm_domain::ApiKeyId(id.0)),
            _ => Actor::System,
        };
        let reference_type = match &r.reference_type {
            Some(t) => Some(ReferenceType::parse(t).ok_or_else(|| corrupt("reference type", t))?),
            None => None,
        };
        Ok(LedgerEntry {
            id: LedgerEntryId(r.id.0),
            customer_id: CustomerId(r.customer_id.0),
            seq: r.seq,
            kind: LedgerKind::parse(&r.kind).ok_or_else(|| corrupt("kind", &r.kind))?,
            points: r.points,
            balance_after: r.balance_after,
            reference_type,
            reference_id: r.reference_id.map(|id| id.0),
            reason: r.reason,
            expires_at: r.expires_at.map(|t| t.0),
            actor,
            created_at: r.created_at.0,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = loyalty_lots)]
pub(crate) struct LotRow {
    entry_id: Id,
    remaining: i64,
    expires_at: Option<Ts>,
    created_at: Ts,
}

impl From<LotRow> for Lot {
    fn from(r: LotRow) -> Lot {
        Lot {
            id: r.entry_id.0,
            remaining: r.remaining,
            expires_at: r.expires_at.map(|t| t.0),
            created_at: r.created_at.0,
        }
    }
}

/// What a ledger entry does to the customer's lots.
pub(crate) enum LotEffect {
    /// A credit: the entry becomes a lot.
    Credit,
    /// A debit: taken first-in-first-out, after `first` (a reversal's own purchase lot).
    Consume { first: Option<Uuid> },
    /// The caller took the points from the lots already (expiry).
    Taken,
}

/// One ledger entry, prepared outside the transaction that writes it.
pub(crate) struct NewEntry {
    pub(crate) id: Uuid,
    pub(crate) ws: Id,
    pub(crate) customer: Id,
    pub(crate) kind: LedgerKind,
    /// Signed.
    pub(crate) points: i64,
    pub(crate) tier_points: i64,
    pub(crate) reference_type: Option<&'static str>,
    pub(crate) reference_id: Option<Id>,
    pub(crate) reason: Option<String>,
    pub(crate) expires_at: Option<DateTime<Utc>>,
    pub(crate) lots: LotEffect,
    pub(crate) actor_type: &'static str,
    pub(crate) actor_id: Option<Id>,
    pub(crate) audit: NewAuditRow,
    pub(crate) at: Ts,
}

/// The statement's parts of an entry: everything but what the transaction learns (seq, balance).
pub(crate) struct EntryPlan {
    pub(crate) kind: LedgerKind,
    pub(crate) points: i64,
    pub(crate) tier_points: i64,
    pub(crate) reference: Option<(ReferenceType, Uuid)>,
    pub(crate) reason: Option<String>,
    pub(crate) expires_at: Option<DateTime<Utc>>,
    pub(crate) lots: LotEffect,
}

impl NewEntry {
    pub(crate) fn new(ctx: &Context, customer: CustomerId, plan: EntryPlan, at: DateTime<Utc>) -> NewEntry {
        let id = Uuid::now_v7();
        let (actor_type, actor_id) = match ctx.actor {
            Actor::User(u) => ("user", Some(Id(u.0))),
            Actor::ApiKey(k) => ("api_key", Some(Id(k.0))),
            Actor::System => ("system", None),
        };
        let after = json!({
            "customer_id": customer,
            "kind": plan.kind.as_str(),
            "points": plan.points,
            "reference_type": plan.reference.map(|(t, _)| t.as_str()),
            "reference_id": plan.reference.map(|(_, id)| id),
            "expires_at": plan.expires_at,
        });
        let changes = diff(&json!({}), &after);
        let audit =
            NewAuditRow::new(ctx, ENTRY, id, AuditAction::Create, &changes, at).with_reason(plan.reason.clone());
        NewEntry {
            id,
            ws: Id(ctx.workspace_id.0),
            customer: Id(customer.0),
            kind: plan.kind,
            points: plan.points,
            tier_points: plan.tier_points,
            reference_type: plan.reference.map(|(t, _)| t.as_str()),
            reference_id: plan.reference.map(|(_, id)| Id(id)),
            reason: plan.reason,
            expires_at: plan.expires_at,
            lots: plan.lots,
            actor_type,
            actor_id,
            audit,
            at: Ts(at),
        }
    }
}

/// Opening a customer's account inside a write, with the welcome bonus it is owed (if the
/// program is active and has one).
pub(crate) struct Opening {
    pub(crate) ws: Id,
    pub(crate) customer: Id,
    pub(crate) customer_id: CustomerId,
    pub(crate) at: Ts,
    pub(crate) welcome: Option<NewEntry>,
    /// Who expires due points on opening: the program, not the caller.
    pub(crate) system: Context,
}

impl Opening {
    pub(crate) fn new(ctx: &Context, customer: CustomerId, program: Option<&ProgramInput>, at: DateTime<Utc>) -> Self {
        // The program grants and expires points, not the caller; nor are they the record a keyed
        // request created.
        let system = Context { actor: Actor::System, idempotency_key: None, ..ctx.clone() };
        let welcome = program.filter(|p| p.active && p.welcome_bonus > 0).map(|p| {
            let plan = EntryPlan {
                kind: LedgerKind::Earn,
                points: p.welcome_bonus,
                tier_points: 0,
                reference: Some((ReferenceType::Welcome, customer.0)),
                reason: None,
                expires_at: p.expiry_for(at),
                lots: LotEffect::Credit,
            };
            NewEntry::new(&system, customer, plan, at)
        });
        Opening {
            ws: Id(ctx.workspace_id.0),
            customer: Id(customer.0),
            customer_id: customer,
            at: Ts(at),
            welcome,
            system,
        }
    }
}

pub(crate) fn uncovered(points: i64) -> StoreError {
    StoreError::conflict("insufficient_points", format!("the balance does not cover {points} points"))
}

pub(crate) fn insufficient(balance: i64, points: i64) -> StoreError {
    StoreError::conflict(
        "insufficient_points",
        format!("the balance is {balance} points; {points} points cannot be taken from it"),
    )
}

/// Inside a `write_tx!` body (`diesel::prelude::*` in scope): evaluates to the workspace's
/// program settings, `None` when it never saved one.
macro_rules! program_settings {
    ($c:expr, $ws:expr) => {{
        let ws: $crate::types::Id = $ws;
        let row: Option<(bool, String, i64, i64, $crate::types::Json, Option<i32>, $crate::types::Json, i64)> =
            diesel_async::RunQueryDsl::get_result(
                $crate::schema::loyalty_programs::table
                    .filter($crate::schema::loyalty_programs::workspace_id.eq(ws))
                    .select((
                        $crate::schema::loyalty_programs::active,
                        $crate::schema::loyalty_programs::currency,
                        $crate::schema::loyalty_programs::points_per_unit,
                        $crate::schema::loyalty_programs::unit_minor,
                        $crate::schema::loyalty_programs::category_multipliers,
                        $crate::schema::loyalty_programs::expiry_months,
                        $crate::schema::loyalty_programs::tiers,
                        $crate::schema::loyalty_programs::welcome_bonus,
                    )),
                $c,
            )
            .await
            .optional()?;
        match row {
            Some((active, currency, points_per_unit, unit_minor, multipliers, expiry, tiers, welcome_bonus)) => {
                Some(crm_domain::loyalty::ProgramInput {
                    active,
                    currency,
                    points_per_unit,
                    unit_minor,
                    category_multipliers: multipliers.decode()?,
                    expiry_months: expiry.and_then(|m| u32::try_from(m).ok()),
                    tiers: tiers.decode()?,
                    welcome_bonus,
                })
            }
            None => None,
        }
    }};
}
pub(crate) use program_settings;

/// Inside a `write_tx!` body: applies a [`NewEntry`] — the guarded balance update, the entry
/// with its `seq` and `balance_after`, its lot or the lots it consumes, its audit event — and
/// evaluates to the stored [`EntryRow`]. A debit the balance does not cover returns
/// `insufficient_points` from the body.
macro_rules! apply_entry {
    ($c:expr, $entry:expr) => {{
        use $crate::schema::{loyalty_accounts as acc, loyalty_ledger as led, loyalty_lots as lot};
        let e: &$crate::loyalty::NewEntry = $entry;
        let updated: Option<(i64, i64)> = diesel_async::RunQueryDsl::get_result(
            diesel::update(
                acc::table
                    .filter(acc::customer_id.eq(e.customer))
                    .filter(acc::workspace_id.eq(e.ws))
                    .filter(acc::balance.ge(-e.points)),
            )
            .set((
                acc::balance.eq(acc::balance + e.points),
                acc::last_seq.eq(acc::last_seq + 1_i64),
                acc::updated_at.eq(e.at),
            ))
            .returning((acc::balance, acc::last_seq)),
            $c,
        )
        .await
        .optional()?;
        let Some((balance, seq)) = updated else {
            return Err($crate::loyalty::uncovered(-e.points));
        };
        let row: $crate::loyalty::EntryRow = diesel_async::RunQueryDsl::get_result(
            diesel::insert_into(led::table)
                .values((
                    led::id.eq($crate::types::Id(e.id)),
                    led::workspace_id.eq(e.ws),
                    led::customer_id.eq(e.customer),
                    led::seq.eq(seq),
                    led::kind.eq(e.kind.as_str()),
                    led::points.eq(e.points),
                    led::balance_after.eq(balance),
                    led::tier_points.eq(e.tier_points),
                    led::reference_type.eq(e.reference_type),
                    led::reference_id.eq(e.reference_id),
                    led::reason.eq(e.reason.as_deref()),
                    led::expires_at.eq(e.expires_at.map($crate::types::Ts)),
                    led::actor_type.eq(e.actor_type),
                    led::actor_id.eq(e.actor_id),
                    led::created_at.eq(e.at),
                ))
                .returning($crate::loyalty::EntryRow::as_returning()),
            $c,
        )
        .await?;
        match &e.lots {
            $crate::loyalty::LotEffect::Credit if e.points > 0 => {
                let sort = e.expires_at.unwrap_or_else(crm_domain::loyalty::never_expires);
                diesel_async::RunQueryDsl::execute(
                    diesel::insert_into(lot::table).values((
                        lot::entry_id.eq($crate::types::Id(e.id)),
                        lot::workspace_id.eq(e.ws),
                        lot::customer_id.eq(e.customer),
                        lot::points.eq(e.points),
                        lot::remaining.eq(e.points),
                        lot::expires_at.eq(e.expires_at.map($crate::types::Ts)),
                        lot::expires_sort.eq($crate::types::Ts(sort)),
                        lot::created_at.eq(e.at),
                    )),
                    $c,
                )
                .await?;
            }
            $crate::loyalty::LotEffect::Consume { first } if e.points < 0 => {
                let mut need = -e.points;
                if let Some(first) = first {
                    let own: Option<$crate::loyalty::LotRow> = diesel_async::RunQueryDsl::get_result(
                        lot::table
                            .filter(lot::entry_id.eq($crate::types::Id(*first)))
                            .filter(lot::customer_id.eq(e.customer))
                            .filter($crate::loyalty::points_left())
                            .select($crate::loyalty::LotRow::as_select()),
                        $c,
                    )
                    .await
                    .optional()?;
                    if let Some(own) = own {
                        let own = crm_domain::loyalty::Lot::from(own);
                        let take = own.remaining.min(need);
                        diesel_async::RunQueryDsl::execute(
                            diesel::update(lot::table.filter(lot::entry_id.eq($crate::types::Id(own.id))))
                                .set(lot::remaining.eq(lot::remaining - take)),
                            $c,
                        )
                        .await?;
                        need -= take;
                    }
                }
                while need > 0 {
                    let batch: Vec<$crate::loyalty::LotRow> = diesel_async::RunQueryDsl::load(
                        lot::table
                            .filter(lot::customer_id.eq(e.customer))
                            .filter($crate::loyalty::points_left())
                            .order((lot::expires_sort.asc(), lot::created_at.asc(), lot::entry_id.asc()))
                            .limit($crate::loyalty::LOT_BATCH)
                            .select($crate::loyalty::LotRow::as_select()),
                        $c,
                    )
                    .await?;
                    let lots: Vec<crm_domain::loyalty::Lot> =
                        batch.into_iter().map(crm_domain::loyalty::Lot::from).collect();
                    if lots.is_empty() {
                        return Err($crate::StoreError::Corrupt("the lots hold less than the balance".into()));
                    }
                    let (takes, left) = crm_domain::loyalty::consume(&lots, need);
                    for take in takes {
                        diesel_async::RunQueryDsl::execute(
                            diesel::update(lot::table.filter(lot::entry_id.eq($crate::types::Id(take.lot))))
                                .set(lot::remaining.eq(lot::remaining - take.points)),
                            $c,
                        )
                        .await?;
                    }
                    need = left;
                }
            }
            _ => {}
        }
        diesel_async::RunQueryDsl::execute(
            diesel::insert_into($crate::schema::audit_events::table).values(&e.audit),
            $c,
        )
        .await?;
        row
    }};
}
pub(crate) use apply_entry;

/// Inside a `write_tx!` body: opens the account of an [`Opening`] if it has none, locks it,
/// grants the welcome bonus it is owed, and evaluates to the balance.
macro_rules! open_account {
    ($c:expr, $opening:expr) => {{
        use $crate::schema::loyalty_accounts as acc;
        let o: &$crate::loyalty::Opening = $opening;
        diesel_async::RunQueryDsl::execute(
            diesel::insert_into(acc::table)
                .values((
                    acc::customer_id.eq(o.customer),
                    acc::workspace_id.eq(o.ws),
                    acc::balance.eq(0_i64),
                    acc::last_seq.eq(0_i64),
                    acc::welcome_granted.eq(false),
                    acc::created_at.eq(o.at),
                    acc::updated_at.eq(o.at),
                ))
                .on_conflict_do_nothing(),
            $c,
        )
        .await?;
        // Locks the row (PostgreSQL) before anything reads the balance or the lots.
        let (mut balance, granted): (i64, bool) = diesel_async::RunQueryDsl::get_result(
            diesel::update(acc::table.filter(acc::customer_id.eq(o.customer)).filter(acc::workspace_id.eq(o.ws)))
                .set(acc::updated_at.eq(o.at))
                .returning((acc::balance, acc::welcome_granted)),
            $c,
        )
        .await?;
        if let (Some(welcome), false) = (&o.welcome, granted) {
            let row = $crate::loyalty::apply_entry!($c, welcome);
            balance = row.balance_after();
            diesel_async::RunQueryDsl::execute(
                diesel::update(acc::table.filter(acc::customer_id.eq(o.customer))).set(acc::welcome_granted.eq(true)),
                $c,
            )
            .await?;
        }
        // Points past their expiry leave before anything is spent, under this lock, whether or
        // not the expiry job has run yet.
        let mut expired_lots = 0_i64;
        let mut expired_points = 0_i64;
        loop {
            use $crate::schema::loyalty_lots as lots;
            let due: Vec<$crate::loyalty::LotRow> = diesel_async::RunQueryDsl::load(
                lots::table
                    .filter(lots::customer_id.eq(o.customer))
                    .filter($crate::loyalty::points_left())
                    .filter(lots::expires_sort.le(o.at))
                    .order((lots::expires_sort.asc(), lots::created_at.asc()))
                    .limit($crate::loyalty::LOT_BATCH)
                    .select($crate::loyalty::LotRow::as_select()),
                $c,
            )
            .await?;
            let due: Vec<crm_domain::loyalty::Lot> = due.into_iter().map(crm_domain::loyalty::Lot::from).collect();
            let takes = crm_domain::loyalty::due(&due, o.at.0);
            if takes.is_empty() {
                break;
            }
            for take in takes {
                diesel_async::RunQueryDsl::execute(
                    diesel::update(
                        lots::table
                            .filter(lots::entry_id.eq($crate::types::Id(take.lot)))
                            .filter(lots::remaining.eq(take.points)),
                    )
                    .set(lots::remaining.eq(0_i64)),
                    $c,
                )
                .await?;
                expired_lots += 1;
                expired_points += take.points;
            }
        }
        if expired_points > 0 {
            let plan = $crate::loyalty::EntryPlan {
                kind: crm_domain::loyalty::LedgerKind::Expire,
                points: -expired_points,
                tier_points: 0,
                reference: None,
                reason: Some(format!("{expired_lots} lot(s) reached their expiry")),
                expires_at: None,
                lots: $crate::loyalty::LotEffect::Taken,
            };
            let entry = $crate::loyalty::NewEntry::new(&o.system, o.customer_id, plan, o.at.0);
            balance = $crate::loyalty::apply_entry!($c, &entry).balance_after();
        }
        (balance, expired_lots, expired_points)
    }};
}
pub(crate) use open_account;

/// Inside a `write_tx!` body of a purchase create (`diesel::prelude::*` in scope): credits the
/// points the purchase earns and evaluates to them (`i64`); 0 when the workspace has no active
/// program or the purchase is in another currency.
///
/// Arguments: `$ctx: &Context`, `$customer: CustomerId`, `$purchase: PurchaseId`,
/// `$currency: &str`, `$occurred_at: DateTime<Utc>` (the points' expiry counts from it),
/// `$lines: &[EarnLine]` (category, net amount), `$discount: i64` (order-level discount in
/// minor units). The tier multiplier is the tier the customer holds before this purchase.
macro_rules! earn_for_purchase {
    ($c:expr, $ctx:expr, $customer:expr, $purchase:expr, $currency:expr, $occurred_at:expr, $lines:expr, $discount:expr) => {{
        let ctx: &$crate::Context = $ctx;
        let customer: crm_domain::CustomerId = $customer;
        let purchase: crm_domain::PurchaseId = $purchase;
        let currency: &str = $currency;
        let occurred_at: chrono::DateTime<chrono::Utc> = $occurred_at;
        let lines: &[crm_domain::loyalty::EarnLine] = $lines;
        let discount: i64 = $discount;
        let program = $crate::loyalty::program_settings!($c, $crate::types::Id(ctx.workspace_id.0));
        match program.filter(|p| p.active && p.currency == currency) {
            None => 0_i64,
            Some(program) => {
                let at = $crate::types::now();
                let opening = $crate::loyalty::Opening::new(ctx, customer, Some(&program), at);
                $crate::loyalty::open_account!($c, &opening);
                let since = $crate::types::Ts(crm_domain::loyalty::tier_window_start(at));
                let earned: i64 = diesel_async::RunQueryDsl::get_result(
                    $crate::schema::loyalty_ledger::table
                        .filter($crate::schema::loyalty_ledger::customer_id.eq($crate::types::Id(customer.0)))
                        .filter($crate::schema::loyalty_ledger::created_at.ge(since))
                        .select($crate::loyalty::sum_of("tier_points")),
                    $c,
                )
                .await?;
                let multiplier = crm_domain::loyalty::tier_multiplier(&program.tiers, earned);
                let points = crm_domain::loyalty::points_for_purchase(&program, multiplier, lines, discount);
                if points > 0 {
                    let plan = $crate::loyalty::EntryPlan {
                        kind: crm_domain::loyalty::LedgerKind::Earn,
                        points,
                        tier_points: points,
                        reference: Some((crm_domain::loyalty::ReferenceType::Purchase, purchase.0)),
                        reason: None,
                        expires_at: program.expiry_for(occurred_at),
                        lots: $crate::loyalty::LotEffect::Credit,
                    };
                    let entry = $crate::loyalty::NewEntry::new(ctx, customer, plan, at);
                    $crate::loyalty::apply_entry!($c, &entry);
                }
                points
            }
        }
    }};
}
pub(crate) use earn_for_purchase;

/// Inside a `write_tx!` body of a refund (`diesel::prelude::*` in scope): takes back up to
/// `$points` of what purchase `$purchase` earned, first from that purchase's own lot, then
/// first-in-first-out, and evaluates to the points actually reversed (`i64`).
///
/// Never below zero: points the customer already spent are not clawed back. The `reverse`
/// entry is written even then (with the points it could take, possibly 0) and its reason says
/// how many could not be reversed; its tier points remove the full `$points` from the tier
/// window, since the purchase no longer counts.
macro_rules! reverse_for_refund {
    ($c:expr, $ctx:expr, $customer:expr, $purchase:expr, $points:expr) => {{
        let ctx: &$crate::Context = $ctx;
        let customer: crm_domain::CustomerId = $customer;
        let purchase: crm_domain::PurchaseId = $purchase;
        let wanted: i64 = $points;
        if wanted <= 0 {
            0_i64
        } else {
            let at = $crate::types::now();
            let opening = $crate::loyalty::Opening::new(ctx, customer, None, at);
            let (balance, _, _) = $crate::loyalty::open_account!($c, &opening);
            let own: Option<$crate::types::Id> = diesel_async::RunQueryDsl::get_result(
                $crate::schema::loyalty_ledger::table
                    .filter($crate::schema::loyalty_ledger::customer_id.eq($crate::types::Id(customer.0)))
                    .filter($crate::schema::loyalty_ledger::kind.eq(crm_domain::loyalty::LedgerKind::Earn.as_str()))
                    .filter($crate::schema::loyalty_ledger::reference_type.eq("purchase"))
                    .filter($crate::schema::loyalty_ledger::reference_id.eq($crate::types::Id(purchase.0)))
                    .select($crate::schema::loyalty_ledger::id),
                $c,
            )
            .await
            .optional()?;
            let reversed = wanted.min(balance);
            let reason = (reversed < wanted).then(|| {
                format!(
                    "{} of {wanted} points could not be reversed: the customer spent them already",
                    wanted - reversed
                )
            });
            let plan = $crate::loyalty::EntryPlan {
                kind: crm_domain::loyalty::LedgerKind::Reverse,
                points: -reversed,
                tier_points: -wanted,
                reference: Some((crm_domain::loyalty::ReferenceType::Purchase, purchase.0)),
                reason,
                expires_at: None,
                lots: $crate::loyalty::LotEffect::Consume { first: own.map(|id| id.0) },
            };
            let entry = $crate::loyalty::NewEntry::new(ctx, customer, plan, at);
            $crate::loyalty::apply_entry!($c, &entry);
            reversed
        }
    }};
}
pub(crate) use reverse_for_refund;

/// Inside a `write_tx!` body: how many of purchase `$purchase`'s points earlier refunds took
/// back from the tier window (`i64`), spent or not — what the next refund's share is net of.
macro_rules! reversal_accounted {
    ($c:expr, $customer:expr, $purchase:expr) => {{
        let customer: crm_domain::CustomerId = $customer;
        let purchase: crm_domain::PurchaseId = $purchase;
        let tier_points: i64 = diesel_async::RunQueryDsl::get_result(
            $crate::schema::loyalty_ledger::table
                .filter($crate::schema::loyalty_ledger::customer_id.eq($crate::types::Id(customer.0)))
                .filter($crate::schema::loyalty_ledger::kind.eq(crm_domain::loyalty::LedgerKind::Reverse.as_str()))
                .filter($crate::schema::loyalty_ledger::reference_type.eq("purchase"))
                .filter($crate::schema::loyalty_ledger::reference_id.eq($crate::types::Id(purchase.0)))
                .select($crate::loyalty::sum_of("tier_points")),
            $c,
        )
        .await?;
        -tier_points
    }};
}
pub(crate) use reversal_accounted;

impl EntryRow {
    pub(crate) fn balance_after(&self) -> i64 {
        self.balance_after
    }
}

/// `CAST(COALESCE(SUM(column), 0) AS BIGINT)`: diesel's `sum` is NUMERIC on PostgreSQL.
pub(crate) fn sum_of(column: &str) -> diesel::expression::SqlLiteral<BigInt> {
    diesel::dsl::sql::<BigInt>(&format!("CAST(COALESCE(SUM({column}), 0) AS BIGINT)"))
}

/// The live customer, or `NotFound`: points move only for customers that exist.
async fn check_customer(conn: &mut Conn, ws: WorkspaceId, customer: CustomerId, live: bool) -> Result<(), StoreError> {
    let n: i64 = per_backend!(conn, |c| {
        let query = customers::table
            .filter(customers::workspace_id.eq(Id(ws.0)))
            .filter(customers::id.eq(Id(customer.0)))
            .count()
            .into_boxed();
        if live { query.filter(customers::deleted_at.is_null()).get_result(c).await } else { query.get_result(c).await }
    })?;
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

async fn fetch_program(conn: &mut Conn, ws: WorkspaceId) -> Result<Program, StoreError> {
    let row: Option<ProgramRow> = per_backend!(conn, |c| loyalty_programs::table
        .filter(loyalty_programs::workspace_id.eq(Id(ws.0)))
        .select(ProgramRow::as_select())
        .get_result(c)
        .await
        .optional())?;
    match row {
        Some(row) => row.into_program(),
        None => Ok(Program::new(ProgramInput::inactive(), 0, None)),
    }
}

/// The workspace's program; the inactive default at version 0 when it never saved one.
pub async fn program(store: &Store, ws: WorkspaceId) -> Result<Program, StoreError> {
    let mut conn = store.read_primary().await?;
    fetch_program(&mut conn, ws).await
}

/// Replaces the program (validated by the caller), guarded by `if_match` when given.
pub async fn put_program(
    store: &Store,
    ctx: &Context,
    if_match: Option<i64>,
    input: ProgramInput,
) -> Result<Program, StoreError> {
    let ws = ctx.workspace_id;
    let mut conn = store.write().await?;
    let current = fetch_program(&mut conn, ws).await?;
    if if_match.is_some_and(|v| v != current.version) {
        return Err(StoreError::VersionMismatch { current: current.version });
    }
    let before = serde_json::to_value(current.settings()).unwrap_or_default();
    let changes = diff(&before, &serde_json::to_value(&input).unwrap_or_default());
    if changes.is_empty() && current.version > 0 {
        return Ok(current);
    }
    let at = now();
    let action = if current.version == 0 { AuditAction::Create } else { AuditAction::Update };
    let audit = NewAuditRow::new(ctx, PROGRAM, ws.0, action, &changes, at);
    let version = current.version + 1;
    let values = (
        loyalty_programs::active.eq(input.active),
        loyalty_programs::currency.eq(&input.currency),
        loyalty_programs::points_per_unit.eq(input.points_per_unit),
        loyalty_programs::unit_minor.eq(input.unit_minor),
        loyalty_programs::category_multipliers.eq(Json::of(&input.category_multipliers)),
        loyalty_programs::expiry_months.eq(input.expiry_months.and_then(|m| i32::try_from(m).ok())),
        loyalty_programs::tiers.eq(Json::of(&input.tiers)),
        loyalty_programs::welcome_bonus.eq(input.welcome_bonus),
        loyalty_programs::version.eq(version),
        loyalty_programs::updated_at.eq(Ts(at)),
    );
    let written: usize = write_tx!(&mut conn, |c| {
        let n = if current.version == 0 {
            diesel::insert_into(loyalty_programs::table)
                .values((loyalty_programs::workspace_id.eq(Id(ws.0)), values))
                .on_conflict_do_nothing()
                .execute(c)
                .await?
        } else {
            diesel::update(
                loyalty_programs::table
                    .filter(loyalty_programs::workspace_id.eq(Id(ws.0)))
                    .filter(loyalty_programs::version.eq(current.version)),
            )
            .set(values)
            .execute(c)
            .await?
        };
        if n == 1 {
            diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
        }
        Ok(n)
    })?;
    if written == 0 {
        let now_at = fetch_program(&mut conn, ws).await?;
        return Err(StoreError::VersionMismatch { current: now_at.version });
    }
    Ok(Program::new(input, version, Some(at)))
}

/// A customer's balance, tier and what is about to expire.
pub async fn summary(store: &Store, ws: WorkspaceId, customer: CustomerId) -> Result<LoyaltySummary, StoreError> {
    let mut conn = store.read_primary().await?;
    check_customer(&mut conn, ws, customer, false).await?;
    let program = fetch_program(&mut conn, ws).await?;
    let at = now();
    let balance: Option<i64> = per_backend!(&mut conn, |c| loyalty_accounts::table
        .filter(loyalty_accounts::workspace_id.eq(Id(ws.0)))
        .filter(loyalty_accounts::customer_id.eq(Id(customer.0)))
        .select(loyalty_accounts::balance)
        .get_result(c)
        .await
        .optional())?;
    let since = Ts(tier_window_start(at));
    let earned: i64 = per_backend!(&mut conn, |c| loyalty_ledger::table
        .filter(loyalty_ledger::workspace_id.eq(Id(ws.0)))
        .filter(loyalty_ledger::customer_id.eq(Id(customer.0)))
        .filter(loyalty_ledger::created_at.ge(since))
        .select(sum_of("tier_points"))
        .get_result(c)
        .await)?;
    let credited: i64 = per_backend!(&mut conn, |c| loyalty_ledger::table
        .filter(loyalty_ledger::workspace_id.eq(Id(ws.0)))
        .filter(loyalty_ledger::customer_id.eq(Id(customer.0)))
        .filter(loyalty_ledger::points.gt(0_i64).or(loyalty_ledger::kind.eq(LedgerKind::Reverse.as_str())),)
        .filter(loyalty_ledger::kind.ne(LedgerKind::Redeem.as_str()))
        .select(sum_of("points"))
        .get_result(c)
        .await)?;
    let horizon = Ts(at + Duration::days(30));
    let expiring: i64 = per_backend!(&mut conn, |c| loyalty_lots::table
        .filter(loyalty_lots::workspace_id.eq(Id(ws.0)))
        .filter(loyalty_lots::customer_id.eq(Id(customer.0)))
        .filter(points_left())
        .filter(loyalty_lots::expires_sort.le(horizon))
        .select(sum_of("remaining"))
        .get_result(c)
        .await)?;
    let status = tier_for(&program.tiers, earned);
    Ok(LoyaltySummary {
        customer_id: customer,
        balance: balance.unwrap_or(0),
        tier: status.tier,
        next_tier: status.next_tier,
        points_to_next_tier: status.points_to_next_tier,
        earned_last_12_months: earned,
        expiring_next_30_days: expiring,
        lifetime_earned: credited,
        program_active: program.active,
    })
}

/// A page of a customer's ledger, newest first (`limit + 1` entries), after entry `after`.
pub async fn ledger(
    store: &Store,
    ws: WorkspaceId,
    customer: CustomerId,
    kinds: &[LedgerKind],
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<LedgerEntry>, StoreError> {
    let mut conn = store.read().await?;
    check_customer(&mut conn, ws, customer, false).await?;
    let before_seq: Option<i64> = match after {
        None => None,
        Some(id) => Some(
            per_backend!(&mut conn, |c| loyalty_ledger::table
                .filter(loyalty_ledger::customer_id.eq(Id(customer.0)))
                .filter(loyalty_ledger::id.eq(Id(id)))
                .select(loyalty_ledger::seq)
                .get_result(c)
                .await
                .optional())?
            .ok_or_else(|| StoreError::conflict("invalid_cursor", "the cursor is not one this list returned"))?,
        ),
    };
    let kinds: Vec<&'static str> = kinds.iter().map(|k| k.as_str()).collect();
    let rows: Vec<EntryRow> = per_backend!(&mut conn, |c| {
        let mut query = loyalty_ledger::table
            .filter(loyalty_ledger::workspace_id.eq(Id(ws.0)))
            .filter(loyalty_ledger::customer_id.eq(Id(customer.0)))
            .select(EntryRow::as_select())
            .order(loyalty_ledger::seq.desc())
            .limit(i64::from(limit) + 1)
            .into_boxed();
        if let Some(seq) = before_seq {
            query = query.filter(loyalty_ledger::seq.lt(seq));
        }
        if !kinds.is_empty() {
            query = query.filter(loyalty_ledger::kind.eq_any(kinds.clone()));
        }
        query.load(c).await
    })?;
    rows.into_iter().map(LedgerEntry::try_from).collect()
}

/// One ledger entry of a customer.
pub async fn entry(
    store: &Store,
    ws: WorkspaceId,
    customer: CustomerId,
    id: LedgerEntryId,
) -> Result<LedgerEntry, StoreError> {
    let mut conn = store.read_primary().await?;
    let row: EntryRow = per_backend!(&mut conn, |c| loyalty_ledger::table
        .filter(loyalty_ledger::workspace_id.eq(Id(ws.0)))
        .filter(loyalty_ledger::customer_id.eq(Id(customer.0)))
        .filter(loyalty_ledger::id.eq(Id(id.0)))
        .select(EntryRow::as_select())
        .get_result(c)
        .await)?;
    row.try_into()
}

/// A live reward the caller may redeem, checked before the transaction (stock is re-checked
/// inside it by a guarded update).
#[derive(Queryable, Selectable)]
#[diesel(table_name = rewards)]
struct RewardRef {
    id: Id,
    name: String,
    cost_points: i64,
    stock: Option<i64>,
    active: bool,
}

/// Spends points: an amount, a reward (its cost; one of its stock), or both when they agree.
/// Insufficient points are 422 `insufficient_points`, an exhausted reward 409
/// `reward_out_of_stock`, an inactive or deleted one 422 on `reward_id`.
pub async fn redeem(
    store: &Store,
    ctx: &Context,
    customer: CustomerId,
    request: Redeem,
) -> Result<LedgerWrite, StoreError> {
    let ws = ctx.workspace_id;
    let mut conn = store.write().await?;
    check_customer(&mut conn, ws, customer, true).await?;
    let program = fetch_program(&mut conn, ws).await?.settings();
    let reward = match request.reward_id {
        Some(id) => Some(fetch_reward(&mut conn, ws, id).await?),
        None => None,
    };
    let points = match (&reward, request.points) {
        (Some(r), Some(p)) if p != r.cost_points => {
            return Err(StoreError::Invalid(ValidationErrors::single(
                "points",
                "mismatch",
                format!("the reward costs {} points; send that or leave `points` out", r.cost_points),
            )));
        }
        (Some(r), _) => r.cost_points,
        (None, Some(p)) => p,
        (None, None) => return Err(StoreError::invalid("points", "required", "send `points` or `reward_id`")),
    };
    if reward.as_ref().is_some_and(|r| r.stock == Some(0)) {
        return Err(out_of_stock());
    }
    let at = now();
    let opening = Opening::new(ctx, customer, Some(&program), at);
    let plan = EntryPlan {
        kind: LedgerKind::Redeem,
        points: -points,
        tier_points: 0,
        reference: reward.as_ref().map(|r| (ReferenceType::Reward, r.id.0)),
        reason: request.reason.or_else(|| reward.as_ref().map(|r| r.name.clone())),
        expires_at: None,
        lots: LotEffect::Consume { first: None },
    };
    let entry = NewEntry::new(ctx, customer, plan, at);
    let row: EntryRow = write_tx!(&mut conn, |c| {
        let (balance, _, _) = open_account!(c, &opening);
        if balance < points {
            return Err(insufficient(balance, points));
        }
        let row = apply_entry!(c, &entry);
        if let Some(reward) = &reward {
            // The reward as read before the transaction must still hold: an admin may have
            // deactivated it, repriced it or sold the last one since.
            let unchanged = rewards::table
                .filter(rewards::id.eq(reward.id))
                .filter(rewards::workspace_id.eq(Id(ws.0)))
                .filter(rewards::active.eq(true))
                .filter(rewards::deleted_at.is_null())
                .filter(rewards::cost_points.eq(reward.cost_points));
            let held = match reward.stock {
                Some(_) => {
                    let left: Option<Option<i64>> = diesel::update(unchanged.filter(rewards::stock.gt(0_i64)))
                        .set((
                            rewards::stock.eq(rewards::stock - 1_i64),
                            rewards::version.eq(rewards::version + 1_i64),
                            rewards::updated_at.eq(Ts(at)),
                        ))
                        .returning(rewards::stock)
                        .get_result(c)
                        .await
                        .optional()?;
                    if let Some(Some(left)) = left {
                        let change = Change { field: "stock".into(), from: json!(left + 1), to: json!(left) };
                        let audit = NewAuditRow::new(
                            ctx,
                            crate::rewards::ENTITY,
                            reward.id.0,
                            AuditAction::Update,
                            &[change],
                            at,
                        );
                        diesel::insert_into(audit_events::table).values(&audit).execute(c).await?;
                    }
                    left.is_some()
                }
                None => unchanged.filter(rewards::stock.is_null()).count().get_result::<i64>(c).await? > 0,
            };
            if !held {
                let now: Option<(bool, Option<Ts>, Option<i64>)> = rewards::table
                    .filter(rewards::id.eq(reward.id))
                    .select((rewards::active, rewards::deleted_at, rewards::stock))
                    .get_result(c)
                    .await
                    .optional()?;
                return Err(match now {
                    Some((true, None, Some(0))) => out_of_stock(),
                    Some((false, None, _)) => StoreError::invalid("reward_id", "inactive", "the reward is not active"),
                    None | Some((_, Some(_), _)) => {
                        StoreError::invalid("reward_id", "not_found", "no such reward in this workspace")
                    }
                    Some(_) => StoreError::conflict("edit_conflict", "the reward changed during the request; retry"),
                });
            }
        }
        Ok(row)
    })?;
    let entry = LedgerEntry::try_from(row)?;
    Ok(LedgerWrite { balance: entry.balance_after, entry })
}

fn out_of_stock() -> StoreError {
    StoreError::conflict("reward_out_of_stock", "the reward is out of stock")
}

async fn fetch_reward(conn: &mut Conn, ws: WorkspaceId, id: RewardId) -> Result<RewardRef, StoreError> {
    let row: Option<(RewardRef, Option<Ts>)> = per_backend!(conn, |c| rewards::table
        .filter(rewards::workspace_id.eq(Id(ws.0)))
        .filter(rewards::id.eq(Id(id.0)))
        .select((RewardRef::as_select(), rewards::deleted_at))
        .get_result(c)
        .await
        .optional())?;
    match row {
        None | Some((_, Some(_))) => {
            Err(StoreError::invalid("reward_id", "not_found", "no such reward in this workspace"))
        }
        Some((reward, None)) if !reward.active => {
            Err(StoreError::invalid("reward_id", "inactive", "the reward is not active"))
        }
        Some((reward, None)) => Ok(reward),
    }
}

/// A manual correction: positive credits a lot (the program's expiry unless `expires_at`),
/// negative takes points first-in-first-out and cannot go below zero.
pub async fn adjust(
    store: &Store,
    ctx: &Context,
    customer: CustomerId,
    request: crm_domain::loyalty::Adjust,
) -> Result<LedgerWrite, StoreError> {
    let ws = ctx.workspace_id;
    let mut conn = store.write().await?;
    check_customer(&mut conn, ws, customer, true).await?;
    let program = fetch_program(&mut conn, ws).await?.settings();
    let at = now();
    let credit = request.points > 0;
    let plan = EntryPlan {
        kind: LedgerKind::Adjust,
        points: request.points,
        tier_points: if request.counts_toward_tier { request.points } else { 0 },
        reference: None,
        reason: Some(request.reason),
        expires_at: if credit { request.expires_at.or_else(|| program.expiry_for(at)) } else { None },
        lots: if credit { LotEffect::Credit } else { LotEffect::Consume { first: None } },
    };
    let opening = Opening::new(ctx, customer, Some(&program), at);
    let entry = NewEntry::new(ctx, customer, plan, at);
    let row: EntryRow = write_tx!(&mut conn, |c| {
        let (balance, _, _) = open_account!(c, &opening);
        if balance < -entry.points {
            return Err(insufficient(balance, -entry.points));
        }
        Ok(apply_entry!(c, &entry))
    })?;
    let entry = LedgerEntry::try_from(row)?;
    Ok(LedgerWrite { balance: entry.balance_after, entry })
}

#[derive(QueryableByName)]
struct MismatchRow {
    #[diesel(sql_type = SqlUuid)]
    customer_id: Id,
    #[diesel(sql_type = BigInt)]
    balance: i64,
    #[diesel(sql_type = BigInt)]
    ledger_sum: i64,
    #[diesel(sql_type = BigInt)]
    lots_sum: i64,
    #[diesel(sql_type = BigInt)]
    broken_links: i64,
}

/// Accounts whose balance differs from the sum of their ledger or of their lots, or whose
/// ledger chain breaks (`balance_after` ≠ previous + points, or `seq` skipping), all in SQL.
const AUDIT_SQL: &str = "WITH chain AS ( \
       SELECT l.customer_id, l.points, l.seq, \
         l.balance_after - l.points - COALESCE(LAG(l.balance_after) OVER w, 0) AS gap, \
         l.seq - COALESCE(LAG(l.seq) OVER w, 0) AS step \
       FROM loyalty_ledger l WHERE l.workspace_id = ? \
       WINDOW w AS (PARTITION BY l.customer_id ORDER BY l.seq) \
     ), ledger AS ( \
       SELECT customer_id, SUM(points) AS ledger_sum, \
         SUM(CASE WHEN gap <> 0 OR step <> 1 THEN 1 ELSE 0 END) AS broken, MAX(seq) AS max_seq \
       FROM chain GROUP BY customer_id \
     ), lots AS ( \
       SELECT customer_id, SUM(remaining) AS lots_sum FROM loyalty_lots WHERE workspace_id = ? GROUP BY customer_id \
     ) \
     SELECT a.customer_id AS customer_id, a.balance AS balance, \
       CAST(COALESCE(ledger.ledger_sum, 0) AS BIGINT) AS ledger_sum, \
       CAST(COALESCE(lots.lots_sum, 0) AS BIGINT) AS lots_sum, \
       CAST(COALESCE(ledger.broken, 0) + CASE WHEN COALESCE(ledger.max_seq, 0) = a.last_seq THEN 0 ELSE 1 END \
         AS BIGINT) AS broken_links \
     FROM loyalty_accounts a \
     LEFT JOIN ledger ON ledger.customer_id = a.customer_id \
     LEFT JOIN lots ON lots.customer_id = a.customer_id \
     WHERE a.workspace_id = ? AND (a.balance <> COALESCE(ledger.ledger_sum, 0) \
       OR a.balance <> COALESCE(lots.lots_sum, 0) OR COALESCE(ledger.broken, 0) <> 0 \
       OR COALESCE(ledger.max_seq, 0) <> a.last_seq) \
     ORDER BY a.customer_id LIMIT ?";

/// Checks every account of the workspace: balance = Σ ledger = Σ lots, chains unbroken.
pub async fn audit(store: &Store, ws: WorkspaceId) -> Result<AuditReport, StoreError> {
    let mut conn = store.read_primary().await?;
    let checked: i64 = per_backend!(&mut conn, |c| loyalty_accounts::table
        .filter(loyalty_accounts::workspace_id.eq(Id(ws.0)))
        .count()
        .get_result(c)
        .await)?;
    let postgres = !matches!(conn, Conn::Sqlite(_));
    let sql = crate::query::placeholders(AUDIT_SQL, postgres);
    let rows: Vec<MismatchRow> = per_backend!(&mut conn, |c| diesel::sql_query(sql.clone())
        .bind::<SqlUuid, _>(Id(ws.0))
        .bind::<SqlUuid, _>(Id(ws.0))
        .bind::<SqlUuid, _>(Id(ws.0))
        .bind::<BigInt, _>(AUDIT_LIMIT)
        .load(c)
        .await)?;
    let mismatches: Vec<AuditMismatch> = rows
        .into_iter()
        .map(|r| AuditMismatch {
            customer_id: CustomerId(r.customer_id.0),
            balance: r.balance,
            ledger_sum: r.ledger_sum,
            lots_sum: r.lots_sum,
            broken_links: r.broken_links,
        })
        .collect();
    Ok(AuditReport { accounts_checked: checked, ok: mismatches.is_empty(), mismatches })
}

/// Expires every lot due at the time of the call, one transaction per customer, `batch`
/// customers per read. Safe to run twice or on two nodes at once: a lot is taken only while
/// it still holds points, under the account's lock.
pub async fn expire_due(store: &Store, batch: i64) -> Result<ExpiryReport, StoreError> {
    let at = now();
    let mut report = ExpiryReport::default();
    // Customers in id order, so that one whose expiry keeps failing is passed, not retried forever.
    let mut after: Option<Id> = None;
    loop {
        let mut conn = store.read_primary().await?;
        let due: Vec<(Id, Id)> = per_backend!(&mut conn, |c| {
            let mut query = loyalty_lots::table
                .filter(points_left())
                .filter(loyalty_lots::expires_sort.le(Ts(at)))
                .select((loyalty_lots::workspace_id, loyalty_lots::customer_id))
                .distinct()
                .order(loyalty_lots::customer_id)
                .limit(batch)
                .into_boxed();
            if let Some(last) = after {
                query = query.filter(loyalty_lots::customer_id.gt(last));
            }
            query.load(c).await
        })?;
        drop(conn);
        for (ws, customer) in &due {
            match expire_customer(store, WorkspaceId(ws.0), CustomerId(customer.0), at).await {
                Ok((0, _)) => {}
                Ok((lots, points)) => {
                    report.customers += 1;
                    report.lots_expired += lots;
                    report.points_expired += points;
                }
                Err(e) => log::warn!("the due points of customer {} were not expired: {e}", customer.0),
            }
        }
        match due.last() {
            Some((_, last)) if i64::try_from(due.len()).unwrap_or(i64::MAX) == batch => after = Some(*last),
            _ => return Ok(report),
        }
    }
}

async fn expire_customer(
    store: &Store,
    ws: WorkspaceId,
    customer: CustomerId,
    at: DateTime<Utc>,
) -> Result<(i64, i64), StoreError> {
    let ctx = Context { workspace_id: ws, actor: Actor::System, request_id: None, idempotency_key: None };
    let opening = Opening::new(&ctx, customer, None, at);
    let mut conn = store.write().await?;
    write_tx!(&mut conn, |c| {
        let (_, lots, points) = open_account!(c, &opening);
        Ok((lots, points))
    })
}

/// Claims the lease of job `name` for `ttl` if nobody holds it: true when this caller may run
/// the job now. A guarded insert or update, so exactly one of several nodes wins.
pub async fn claim_lease(store: &Store, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
    let at = now();
    let until = Ts(at + ttl);
    let mut conn = store.write().await?;
    let inserted = per_backend!(&mut conn, |c| diesel::insert_into(job_leases::table)
        .values((job_leases::name.eq(name), job_leases::holder.eq(holder), job_leases::locked_until.eq(until)))
        .on_conflict_do_nothing()
        .execute(c)
        .await)?;
    if inserted == 1 {
        return Ok(true);
    }
    let taken = per_backend!(&mut conn, |c| diesel::update(
        job_leases::table.filter(job_leases::name.eq(name)).filter(job_leases::locked_until.le(Ts(at)))
    )
    .set((job_leases::holder.eq(holder), job_leases::locked_until.eq(until)))
    .execute(c)
    .await)?;
    Ok(taken == 1)
}

/// The ledger entries of a customer for the timeline, newest first, before `(t, id)`.
pub(crate) async fn timeline_rows(
    conn: &mut Conn,
    ws: WorkspaceId,
    customer: CustomerId,
    before: Option<(Ts, Id)>,
    n: i64,
) -> Result<Vec<LedgerEntry>, StoreError> {
    let rows: Vec<EntryRow> = per_backend!(conn, |c| {
        let mut query = loyalty_ledger::table
            .filter(loyalty_ledger::workspace_id.eq(Id(ws.0)))
            .filter(loyalty_ledger::customer_id.eq(Id(customer.0)))
            .select(EntryRow::as_select())
            .limit(n)
            .into_boxed();
        if let Some((t, u)) = before {
            query = query.filter(
                loyalty_ledger::created_at.le(t).and(loyalty_ledger::created_at.lt(t).or(loyalty_ledger::id.lt(u))),
            );
        }
        query.order((loyalty_ledger::created_at.desc(), loyalty_ledger::id.desc())).load(c).await
    })?;
    rows.into_iter().map(LedgerEntry::try_from).collect()
}

#[cfg(test)]
mod tests {
    //! Earning and reversing as the purchases store calls them: inside its own transaction.
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use crm_domain::customer::CustomerInput;
    use crm_domain::loyalty::EarnLine;
    use crm_domain::{PurchaseId, patch::decode};

    use super::*;
    use crate::schema::workspaces;

    fn line(category: Option<&str>, net_minor: i64) -> EarnLine {
        EarnLine { category: category.map(str::to_owned), net_minor }
    }

    /// SQLite's plans for the lot queries' shapes, the oldest lots of a customer and the expiry
    /// sweep, read from the partial indexes: with a bound 0 (`remaining > ?`) they scanned the
    /// whole table.
    #[test]
    fn lots_with_points_left_are_read_from_the_partial_indexes() {
        use diesel::query_builder::{QueryBuilder, QueryFragment};
        use diesel::sqlite::{Sqlite, SqliteConnection, SqliteQueryBuilder};

        #[derive(QueryableByName)]
        struct Step {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        fn plan(conn: &mut SqliteConnection, query: impl QueryFragment<Sqlite>) -> String {
            let mut sql = SqliteQueryBuilder::new();
            query.to_sql(&mut sql, &Sqlite).unwrap();
            let steps: Vec<Step> =
                diesel::RunQueryDsl::load(diesel::sql_query(format!("EXPLAIN QUERY PLAN {}", sql.finish())), conn)
                    .unwrap();
            steps.into_iter().map(|s| s.detail).collect::<Vec<_>>().join("; ")
        }
        let path = std::env::temp_dir().join(format!("crm-lots-{}.db", Uuid::now_v7().simple()));
        crate::run_migrations(&format!("sqlite://{}", path.display())).unwrap();
        let mut conn = SqliteConnection::establish(&path.display().to_string()).unwrap();
        let oldest = loyalty_lots::table
            .filter(loyalty_lots::customer_id.eq(Id(Uuid::nil())))
            .filter(points_left())
            .order((loyalty_lots::expires_sort.asc(), loyalty_lots::created_at.asc(), loyalty_lots::entry_id.asc()))
            .limit(LOT_BATCH)
            .select(loyalty_lots::entry_id);
        let due = loyalty_lots::table
            .filter(points_left())
            .filter(loyalty_lots::expires_sort.le(Ts(now())))
            .select((loyalty_lots::workspace_id, loyalty_lots::customer_id))
            .distinct()
            .order(loyalty_lots::customer_id)
            .limit(LOT_BATCH);
        let (oldest, due) = (plan(&mut conn, oldest), plan(&mut conn, due));
        assert!(oldest.contains("USING INDEX loyalty_lots_fifo"), "{oldest}");
        // Either partial index serves the sweep (the planner picks the one in customer order).
        assert!(due.contains("USING INDEX loyalty_lots_fifo") || due.contains("USING INDEX loyalty_lots_due"), "{due}");
        drop(std::fs::remove_file(path));
    }

    async fn earn(
        store: &Store,
        ctx: &Context,
        customer: CustomerId,
        currency: &str,
        lines: &[EarnLine],
    ) -> (PurchaseId, i64) {
        let purchase = PurchaseId::generate();
        let mut conn = store.write().await.unwrap();
        let at = now();
        let points: i64 =
            write_tx!(&mut conn, |c| { Ok(earn_for_purchase!(c, ctx, customer, purchase, currency, at, lines, 0)) })
                .unwrap();
        (purchase, points)
    }

    #[tokio::test]
    async fn purchases_earn_with_multipliers_and_refunds_reverse_without_going_negative() {
        let path = std::env::temp_dir().join(format!("crm-loyalty-{}.db", Uuid::now_v7().simple()));
        let url = format!("sqlite://{}", path.display());
        crate::run_migrations(&url).unwrap();
        let store = Store::open(&url, None, 2).unwrap();
        let ws = WorkspaceId::generate();
        let mut conn = store.write().await.unwrap();
        per_backend!(&mut conn, |c| diesel::insert_into(workspaces::table)
            .values((workspaces::id.eq(Id(ws.0)), workspaces::name.eq("Acme"), workspaces::created_at.eq(Ts(now()))))
            .execute(c)
            .await)
        .unwrap();
        drop(conn);
        let ctx = Context { workspace_id: ws, actor: Actor::System, request_id: None, idempotency_key: None };
        let input: CustomerInput = decode(json!({"kind": "person", "first_name": "Ann"})).unwrap();
        let respond =
            |_: &_| Ok(crate::idempotency::StoredResponse { status: 201, body: String::new(), headers: Vec::new() });
        let created = crate::customers::create(&store, &ctx, input.validate().unwrap(), None, respond).await.unwrap();
        let customer = created.unwrap().0.id;
        let program: ProgramInput = decode(json!({
            "active": true, "currency": "EUR", "points_per_unit": 1, "unit_minor": 100,
            "category_multipliers": {"shoes": 200}, "welcome_bonus": 10,
            "tiers": [{"name": "Member", "threshold": 0, "multiplier_percent": 100},
                      {"name": "Gold", "threshold": 110, "multiplier_percent": 150}]
        }))
        .unwrap();
        put_program(&store, &ctx, None, program.validate().unwrap()).await.unwrap();

        let (first, points) = earn(&store, &ctx, customer, "EUR", &[line(Some("shoes"), 5000), line(None, 1000)]).await;
        assert_eq!(points, 110, "shoes double");
        let gold = summary(&store, ws, customer).await.unwrap();
        assert_eq!((gold.balance, gold.earned_last_12_months), (120, 110), "with the welcome bonus, once");
        assert_eq!(gold.tier.map(|t| t.name).as_deref(), Some("Gold"), "reached exactly at the threshold");
        let (_, points) = earn(&store, &ctx, customer, "EUR", &[line(None, 1000)]).await;
        assert_eq!(points, 15, "the Gold multiplier");
        assert_eq!(earn(&store, &ctx, customer, "USD", &[line(None, 1000)]).await.1, 0, "another currency");

        let spend = Redeem { points: Some(100), reward_id: None, reason: None };
        assert_eq!(redeem(&store, &ctx, customer, spend).await.unwrap().balance, 35);
        // 20 points of the first purchase are left, 15 of the second: both go, 75 stay spent.
        let mut conn = store.write().await.unwrap();
        let reversed: i64 =
            write_tx!(&mut conn, |c| { Ok(reverse_for_refund!(c, &ctx, customer, first, 110)) }).unwrap();
        drop(conn);
        assert_eq!(reversed, 35);
        let after = summary(&store, ws, customer).await.unwrap();
        assert_eq!((after.balance, after.earned_last_12_months), (0, 15));
        assert_eq!(after.tier.map(|t| t.name).as_deref(), Some("Member"));
        let entries = ledger(&store, ws, customer, &[], None, 10).await.unwrap();
        let kinds: Vec<(&str, i64)> = entries.iter().map(|e| (e.kind.as_str(), e.points)).collect();
        assert_eq!(kinds, [("reverse", -35), ("redeem", -100), ("earn", 15), ("earn", 110), ("earn", 10)]);
        assert!(entries[0].reason.as_deref().is_some_and(|r| r.starts_with("75 of 110")), "{:?}", entries[0].reason);
        let report = audit(&store, ws).await.unwrap();
        assert!(report.ok && report.accounts_checked == 1, "{report:?}");
        drop(store);
        let _ = std::fs::remove_file(&path);
    }
}
