//! SQLite: the bulk loader and the raw-library reference (same file, same rows as the service).
//!
//! The tables are declared here with plain SQL types (text for uuid, timestamps and JSON, as
//! SQLite stores them), independent of crm-store, so the reference measures the library and
//! diesel's cached prepared statements, not the service's mapping.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::stats;

diesel::table! {
    customers (id) {
        id -> Text,
        workspace_id -> Text,
        kind -> Text,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        company_name -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        address_line1 -> Nullable<Text>,
        address_line2 -> Nullable<Text>,
        address_city -> Nullable<Text>,
        address_region -> Nullable<Text>,
        address_postal_code -> Nullable<Text>,
        address_country -> Nullable<Text>,
        social -> Text,
        lifecycle_stage -> Text,
        owner_id -> Nullable<Text>,
        tags -> Text,
        important_dates -> Text,
        custom_fields -> Text,
        consents -> Text,
        industry -> Nullable<Text>,
        vat_number -> Nullable<Text>,
        registration_number -> Nullable<Text>,
        website -> Nullable<Text>,
        employee_count -> Nullable<Integer>,
        company_id -> Nullable<Text>,
        search_text -> Text,
        version -> BigInt,
        created_at -> Text,
        updated_at -> Text,
        deleted_at -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        workspace_id -> Text,
        entity_type -> Text,
        entity_id -> Text,
        action -> Text,
        actor_type -> Text,
        actor_id -> Nullable<Text>,
        changes -> Text,
        request_id -> Nullable<Text>,
        created_at -> Text,
    }
}

/// Every column, as the service reads a customer. The fields are only materialised, never read.
#[allow(dead_code)]
#[derive(Queryable, Selectable)]
#[diesel(table_name = customers)]
struct CustomerRow {
    id: String,
    workspace_id: String,
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
    social: String,
    lifecycle_stage: String,
    owner_id: Option<String>,
    tags: String,
    important_dates: String,
    custom_fields: String,
    consents: String,
    industry: Option<String>,
    vat_number: Option<String>,
    registration_number: Option<String>,
    website: Option<String>,
    employee_count: Option<i32>,
    company_id: Option<String>,
    search_text: String,
    version: i64,
    created_at: String,
    updated_at: String,
    deleted_at: Option<String>,
}

#[derive(QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = Text)]
    journal_mode: String,
}

/// The service's connection pragmas (crm-store `SQLITE_PRAGMAS`); WAL is a property of the file.
const SERVICE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";

/// Unix time of 2026-01-01T00:00:00Z: customer n was created n seconds (and a fraction) before.
const BASE_EPOCH: u64 = 1_767_225_600;

/// The SQLite timestamp format of crm-store (`%Y-%m-%dT%H:%M:%S%.6fZ`).
const SQLITE_TS: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// The id of loaded customer `n`, as every bench tool computes it.
pub fn customer_id(n: u64) -> String {
    format!("{n:08x}-0000-7000-8000-{n:012x}")
}

pub(crate) fn workspace_uuid(raw: &str) -> anyhow::Result<String> {
    let id = Uuid::parse_str(raw).with_context(|| format!("workspace must be a UUID, got {raw:?}"))?;
    Ok(id.hyphenated().to_string())
}

pub(crate) fn connect(db: &str) -> anyhow::Result<SqliteConnection> {
    let mut conn = SqliteConnection::establish(db).with_context(|| format!("opening {db}"))?;
    conn.batch_execute(SERVICE_PRAGMAS)?;
    Ok(conn)
}

pub(crate) fn journal_mode(conn: &mut SqliteConnection) -> anyhow::Result<String> {
    Ok(diesel::sql_query("PRAGMA journal_mode").get_result::<JournalMode>(conn)?.journal_mode)
}

/// One `INSERT … SELECT` over a recursive CTE in one transaction. The columns and values mirror
/// `bench/sql/load_pg.sql` (same ids, names, stages and timestamps for the same n).
pub(crate) fn load_sql(workspace: &str, n: u64) -> String {
    format!(
        "BEGIN;
WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {n}),
rows(n, ts) AS (
    SELECT n, strftime('%Y-%m-%dT%H:%M:%S', {BASE_EPOCH} - n, 'unixepoch') || printf('.%06dZ', (n * 7919) % 1000000)
    FROM s
)
INSERT INTO customers (id, workspace_id, kind, first_name, last_name, email, phone, address_city, address_country,
    social, lifecycle_stage, tags, important_dates, custom_fields, consents, search_text, version, created_at, updated_at)
SELECT printf('%08x-0000-7000-8000-%012x', n, n), '{workspace}', 'person', 'First' || n, 'Last' || n,
    'customer' || n || '@example.com', printf('+4930%07d', n), 'City ' || (n % 100), 'DE', '{{}}',
    CASE n % 6 WHEN 0 THEN 'prospect' WHEN 2 THEN 'customer' WHEN 4 THEN 'churned' ELSE 'lead' END,
    '[]', '[]', '{{}}', '[]',
    'first' || n || ' last' || n || ' customer' || n || '@example.com ' || printf('+4930%07d', n), 1, ts, ts
FROM rows;
COMMIT;"
    )
}

/// Loads `n` customers into `workspace`, then `ANALYZE`; leaves the file in WAL mode.
pub fn load(db: &str, workspace: &str, n: u64) -> anyhow::Result<Value> {
    let workspace = workspace_uuid(workspace)?;
    let mut conn = SqliteConnection::establish(db).with_context(|| format!("opening {db}"))?;
    // A throwaway bench file: no journal while loading, then back to the service's WAL.
    conn.batch_execute(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -1048576; \
         PRAGMA temp_store = MEMORY;",
    )?;
    let started = Instant::now();
    conn.batch_execute(&load_sql(&workspace, n))?;
    let inserted = started.elapsed();
    conn.batch_execute("ANALYZE;")?;
    let total = started.elapsed();
    conn.batch_execute("PRAGMA journal_mode = WAL;")?;
    let mode = journal_mode(&mut conn)?;
    if mode != "wal" {
        bail!("journal_mode is {mode:?} after the load, expected wal");
    }
    let count: i64 = customers::table.filter(customers::workspace_id.eq(&workspace)).count().get_result(&mut conn)?;
    if u64::try_from(count).ok() != Some(n) {
        bail!("loaded {count} customers, expected {n}");
    }
    let rows = n as f64;
    Ok(json!({
        "rows": n,
        "insert_seconds": inserted.as_secs_f64(),
        "analyze_seconds": (total - inserted).as_secs_f64(),
        "seconds": total.as_secs_f64(),
        "rows_per_second": rows / total.as_secs_f64(),
    }))
}

/// The sort key of the live lead at `position` (1-based) by `created_at DESC, id DESC`.
pub fn cursor(db: &str, workspace: &str, position: u64) -> anyhow::Result<Value> {
    let workspace = workspace_uuid(workspace)?;
    let mut conn = connect(db)?;
    let leads = || {
        customers::table
            .filter(customers::workspace_id.eq(workspace.clone()))
            .filter(customers::deleted_at.is_null())
            .filter(customers::lifecycle_stage.eq("lead"))
    };
    let count: i64 = leads().count().get_result(&mut conn)?;
    let offset = i64::try_from(position.saturating_sub(1))?;
    let (t, id): (String, String) = leads()
        .order((customers::created_at.desc(), customers::id.desc()))
        .select((customers::created_at, customers::id))
        .offset(offset)
        .first(&mut conn)
        .with_context(|| format!("no lead at position {position} (there are {count})"))?;
    Ok(json!({ "leads": count, "position": position, "t": t, "id": id }))
}

/// SplitMix64: a fixed-seed generator, enough to pick ids.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in `1..=max` for max far below 2^64.
    fn customer(&mut self, max: u64) -> u64 {
        self.next() % max + 1
    }
}

/// How a lookup is written: `get_result` (the reference) or diesel's `first`, as crm-store does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LookupQuery {
    GetResult,
    First,
}

fn lookup_loop(
    db: &str,
    workspace: &str,
    max: u64,
    seed: u64,
    run_for: Duration,
    how: LookupQuery,
) -> anyhow::Result<Vec<u64>> {
    let mut conn = connect(db)?;
    let mut rng = Rng(seed);
    let mut latencies = Vec::with_capacity(1 << 20);
    let started = Instant::now();
    loop {
        let id = customer_id(rng.customer(max));
        let t0 = Instant::now();
        let query = customers::table
            .filter(customers::workspace_id.eq(workspace))
            .filter(customers::id.eq(&id))
            .filter(customers::deleted_at.is_null())
            .select(CustomerRow::as_select());
        // `get_result` by default: diesel binds `first`'s LIMIT as a parameter, and SQLite (3.53
        // bundled) marks a statement whose LIMIT is a bound parameter for re-preparation on every
        // new bind, so a cached `first` query is parsed and planned again on each call (≈ 5× slower).
        let row: CustomerRow = match how {
            LookupQuery::GetResult => query.get_result(&mut conn),
            LookupQuery::First => query.first(&mut conn),
        }
        .with_context(|| format!("customer {id}"))?;
        let t1 = Instant::now();
        std::hint::black_box(row);
        latencies.push(u64::try_from((t1 - t0).as_nanos()).unwrap_or(u64::MAX));
        if t1 - started >= run_for {
            return Ok(latencies);
        }
    }
}

/// Random primary-key lookups of loaded customers, one connection per thread.
pub fn lookups(
    db: &str,
    workspace: &str,
    max: u64,
    run_for: Duration,
    threads: usize,
    how: LookupQuery,
) -> anyhow::Result<Value> {
    let workspace = workspace_uuid(workspace)?;
    let threads = threads.max(1);
    let started = Instant::now();
    let results: Vec<anyhow::Result<Vec<u64>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let workspace = workspace.as_str();
                scope.spawn(move || lookup_loop(db, workspace, max, 42 + t as u64, run_for, how))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("lookup thread panicked"))))
            .collect()
    });
    let elapsed = started.elapsed();
    let mut latencies = Vec::new();
    for result in results {
        latencies.extend(result?);
    }
    Ok(stats::figures(latencies, elapsed, threads))
}

/// A create as the service writes it: the customer row and its audit event in one
/// `BEGIN IMMEDIATE` transaction, committed (WAL, `synchronous = NORMAL`).
fn insert_one(conn: &mut SqliteConnection, workspace: &str, i: u64) -> anyhow::Result<()> {
    let id = Uuid::now_v7().hyphenated().to_string();
    let at = chrono::Utc::now().format(SQLITE_TS).to_string();
    let email = format!("ref{i}@example.com");
    let changes = format!(r#"[{{"field":"first_name","new":"Ref"}},{{"field":"email","new":"{email}"}}]"#);
    conn.immediate_transaction(|c| {
        diesel::insert_into(customers::table)
            .values((
                customers::id.eq(&id),
                customers::workspace_id.eq(workspace),
                customers::kind.eq("person"),
                customers::first_name.eq("Ref"),
                customers::email.eq(&email),
                customers::social.eq("{}"),
                customers::lifecycle_stage.eq("prospect"),
                customers::tags.eq("[]"),
                customers::important_dates.eq("[]"),
                customers::custom_fields.eq("{}"),
                customers::consents.eq("[]"),
                customers::search_text.eq(format!("ref {email}")),
                customers::version.eq(1i64),
                customers::created_at.eq(&at),
                customers::updated_at.eq(&at),
            ))
            .execute(c)?;
        diesel::insert_into(audit_events::table)
            .values((
                audit_events::id.eq(Uuid::now_v7().hyphenated().to_string()),
                audit_events::workspace_id.eq(workspace),
                audit_events::entity_type.eq("customer"),
                audit_events::entity_id.eq(&id),
                audit_events::action.eq("create"),
                audit_events::actor_type.eq("system"),
                audit_events::changes.eq(&changes),
                audit_events::created_at.eq(&at),
            ))
            .execute(c)?;
        diesel::QueryResult::Ok(())
    })?;
    Ok(())
}

/// Creates for `run_for`, one after another on one connection.
pub fn inserts(db: &str, workspace: &str, run_for: Duration) -> anyhow::Result<Value> {
    let workspace = workspace_uuid(workspace)?;
    let mut conn = connect(db)?;
    let mode = journal_mode(&mut conn)?;
    if mode != "wal" {
        bail!("journal_mode is {mode:?}, expected wal");
    }
    let mut latencies = Vec::with_capacity(1 << 18);
    let started = Instant::now();
    for i in 0.. {
        let t0 = Instant::now();
        insert_one(&mut conn, &workspace, i)?;
        let t1 = Instant::now();
        latencies.push(u64::try_from((t1 - t0).as_nanos()).unwrap_or(u64::MAX));
        if t1 - started >= run_for {
            break;
        }
    }
    Ok(stats::figures(latencies, started.elapsed(), 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_in_load_order() {
        assert_eq!(customer_id(1), "00000001-0000-7000-8000-000000000001");
        assert_eq!(customer_id(1_000_000), "000f4240-0000-7000-8000-0000000f4240");
        assert!(Uuid::parse_str(&customer_id(u64::from(u32::MAX))).is_ok());
        assert!(customer_id(9) < customer_id(10));
    }

    #[test]
    fn load_matches_the_service_formats() -> anyhow::Result<()> {
        let mut conn = SqliteConnection::establish(":memory:")?;
        conn.batch_execute(
            "CREATE TABLE customers (id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, kind TEXT NOT NULL,
             first_name TEXT, last_name TEXT, company_name TEXT, email TEXT, phone TEXT, address_line1 TEXT,
             address_line2 TEXT, address_city TEXT, address_region TEXT, address_postal_code TEXT,
             address_country TEXT, social TEXT NOT NULL, lifecycle_stage TEXT NOT NULL, owner_id TEXT,
             tags TEXT NOT NULL, important_dates TEXT NOT NULL, custom_fields TEXT NOT NULL, consents TEXT NOT NULL,
             industry TEXT, vat_number TEXT, registration_number TEXT, website TEXT, employee_count INTEGER,
             company_id TEXT, search_text TEXT NOT NULL, version INTEGER NOT NULL, created_at TEXT NOT NULL,
             updated_at TEXT NOT NULL, deleted_at TEXT);",
        )?;
        let ws = "0190f0f0-0000-7000-8000-000000000000";
        conn.batch_execute(&load_sql(ws, 12))?;
        let rows: Vec<CustomerRow> =
            customers::table.order(customers::id.asc()).select(CustomerRow::as_select()).load(&mut conn)?;
        assert_eq!(rows.len(), 12);
        let first = rows.first().context("no row")?;
        assert_eq!(first.id, customer_id(1));
        assert_eq!(first.created_at, "2025-12-31T23:59:59.007919Z");
        let parsed = chrono::NaiveDateTime::parse_from_str(&first.created_at, SQLITE_TS)?;
        assert_eq!(parsed.format(SQLITE_TS).to_string(), first.created_at);
        assert_eq!(first.lifecycle_stage, "lead");
        assert_eq!(first.search_text, "first1 last1 customer1@example.com +49300000001");
        let stages: Vec<&str> = rows.iter().take(6).map(|r| r.lifecycle_stage.as_str()).collect();
        assert_eq!(stages, ["lead", "customer", "lead", "churned", "lead", "prospect"]);
        let times: Vec<&str> = rows.iter().map(|r| r.created_at.as_str()).collect();
        assert!(times.windows(2).all(|w| w[0] > w[1]), "created_at falls as n grows: {times:?}");
        Ok(())
    }
}
