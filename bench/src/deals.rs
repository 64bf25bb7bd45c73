//! Deals and the customer timeline on SQLite: the 1 M-deal bulk loader, the timeline fixture,
//! and the raw reference of the forecast and board queries (the SQL crm-store sends, run here).
//! The rows mirror `bench/sql/load_deals_pg.sql` and `bench/sql/timeline_pg.sql` (see there).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use serde_json::{Value, json};

use crate::sqlite::{connect, journal_mode, workspace_uuid};
use crate::stats;

/// Unix time of 2025-01-01T00:00:00Z: deals were created up to 59 M seconds after it, and bulk
/// interaction i happened 30 i seconds after it.
const LOAD_EPOCH: u64 = 1_735_689_600;
/// Unix time of 2026-01-01T00:00:00Z: timeline event k happened 2500 k seconds after it.
const TIMELINE_EPOCH: u64 = 1_767_225_600;

/// The default pipeline's stages numbered per kind by position (`k` from 1), and the workspace's
/// users numbered by (created_at, id) from 0: what every generated deal picks from.
fn lookup_tables(workspace: &str) -> String {
    format!(
        "CREATE TEMP TABLE bench_stages AS
SELECT s.id, s.pipeline_id, s.kind, row_number() OVER (PARTITION BY s.kind ORDER BY s.position) AS k
FROM pipeline_stages s JOIN pipelines p ON p.id = s.pipeline_id
WHERE p.workspace_id = '{workspace}' AND p.is_default = 1;
CREATE TEMP TABLE bench_owners AS
SELECT id, row_number() OVER (ORDER BY created_at, id) - 1 AS k FROM users WHERE workspace_id = '{workspace}';"
    )
}

/// The deal rollups the service keeps on every write, rebuilt from the loaded deals (the same
/// `INSERT … SELECT … GROUP BY` as the migration `2026-11-25-000008_deal_rollups`).
fn rollups_sql(workspace: &str) -> String {
    format!(
        "DELETE FROM deal_rollups WHERE workspace_id = '{workspace}';
INSERT INTO deal_rollups (workspace_id, pipeline_id, stage_id, status, owner_key, currency_key, day, deal_count,
    amount_minor, weighted_minor)
SELECT d.workspace_id, d.pipeline_id, d.stage_id, d.status, COALESCE(d.owner_id, ''), COALESCE(d.currency, ''),
    CASE WHEN d.status = 'open' THEN COALESCE(d.expected_close_date, '') ELSE COALESCE(substr(d.closed_at, 1, 10), '') END,
    COUNT(*), SUM(d.amount_minor),
    SUM(CASE WHEN d.status = 'open' THEN (d.amount_minor * s.win_probability + 50) / 100 ELSE 0 END)
FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id
WHERE d.workspace_id = '{workspace}' AND d.deleted_at IS NULL AND d.status IN ('open', 'won')
GROUP BY 1, 2, 3, 4, 5, 6, 7;"
    )
}

/// `owners − 1` bench users, `n` deals and one stage change per deal, and their rollups, in one transaction.
fn load_sql(workspace: &str, n: u64, customers: u64, owners: u64) -> String {
    let lookups = lookup_tables(workspace);
    let rollups = rollups_sql(workspace);
    format!(
        "BEGIN;
WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < {owners})
INSERT INTO users (id, workspace_id, email, name, role, password_hash, active, version, created_at, updated_at)
SELECT printf('%08x-0000-7000-8800-%012x', k, k), '{workspace}', 'owner' || k || '@bench.example.com', 'Owner ' || k,
    'sales', '!bench: no password', 1, 1, '2025-01-01T00:00:00.000000Z', '2025-01-01T00:00:00.000000Z'
FROM s WHERE k < {owners};
{lookups}
WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {n}),
r AS (
    SELECT n, (n * 2654435761) % 1000003 AS h,
        CASE WHEN n <= 10 THEN 1 ELSE 2 + (n - 11) % ({customers} - 1) END AS c,
        strftime('%Y-%m-%dT%H:%M:%S', {LOAD_EPOCH} + (7919 * n) % 59000000, 'unixepoch')
            || printf('.%06dZ', (104729 * n) % 1000000) AS ts
    FROM s
),
x AS (
    SELECT r.*, CASE WHEN n <= 10 OR h % 20 < 12 THEN 'open' WHEN h % 20 < 17 THEN 'won' ELSE 'lost' END AS kind,
        CASE WHEN n <= 10 OR h % 20 < 12 THEN 1 + (h / 20) % 3 ELSE 1 END AS k
    FROM r
)
INSERT INTO deals (id, workspace_id, title, customer_id, pipeline_id, stage_id, status, amount_minor, currency,
    expected_close_date, owner_id, lost_reason, closed_at, stage_entered_at, tags, custom_fields, search_text,
    version, created_at, updated_at)
SELECT printf('%08x-0000-7000-9000-%012x', n, n), '{workspace}', 'Deal ' || n,
    printf('%08x-0000-7000-8000-%012x', c, c), st.pipeline_id, st.id, x.kind,
    10000 + (37 * h) % 5000000, CASE n % 5 WHEN 2 THEN 'USD' WHEN 3 THEN 'GBP' WHEN 4 THEN 'CHF' ELSE 'EUR' END,
    date('2026-01-01', '+' || ((13 * h) % 730) || ' days'), o.id,
    CASE WHEN x.kind = 'lost' THEN 'price' END, CASE WHEN x.kind <> 'open' THEN ts END, ts, '[]', '{{}}',
    'deal ' || n, 1, ts, ts
FROM x CROSS JOIN bench_stages st CROSS JOIN bench_owners o
WHERE st.kind = x.kind AND st.k = x.k AND o.k = x.n % (SELECT count(*) FROM bench_owners);
INSERT INTO deal_stage_changes (id, workspace_id, deal_id, customer_id, from_stage_id, to_stage_id, at, actor_type,
    actor_id)
SELECT replace(id, '-9000-', '-a000-'), workspace_id, id, customer_id, NULL, stage_id, created_at, 'system', NULL
FROM deals WHERE workspace_id = '{workspace}';
{rollups}
COMMIT;"
    )
}

/// Customer 1's 10 000 interleaved events: 4 000 interactions, 3 000 tasks, 3 000 stage changes
/// of its deals 1..10 (replacing their creation rows), and those deals made consistent with them.
fn timeline_sql(workspace: &str) -> String {
    let ts = |secs: &str| format!("strftime('%Y-%m-%dT%H:%M:%S', {secs}, 'unixepoch') || frac");
    let (at, week, day) = (ts("secs"), ts("secs + 604800"), ts("secs + 86400"));
    let customer = crate::sqlite::customer_id(1);
    format!(
        "BEGIN;
CREATE TEMP TABLE bench_open AS
SELECT s.id, row_number() OVER (ORDER BY s.position) - 1 AS k
FROM pipeline_stages s JOIN pipelines p ON p.id = s.pipeline_id
WHERE p.workspace_id = '{workspace}' AND p.is_default = 1 AND s.kind = 'open';
CREATE TEMP TABLE bench_events AS
WITH RECURSIVE e(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM e WHERE k < 9999)
SELECT k, k % 10 AS slot, {TIMELINE_EPOCH} + 2500 * k AS secs, printf('.%06dZ', (7919 * k) % 1000000) AS frac FROM e;
INSERT INTO interactions (id, workspace_id, channel, direction, subject, occurred_at, duration_seconds, customer_id,
    metadata, search_text, version, created_at, updated_at)
SELECT printf('%08x-0000-7000-b000-%012x', i, i), '{workspace}',
    CASE i % 5 WHEN 0 THEN 'email' WHEN 1 THEN 'phone' WHEN 2 THEN 'meeting' WHEN 3 THEN 'chat' ELSE 'note' END,
    CASE WHEN i % 5 = 4 THEN 'internal' WHEN i % 2 = 0 THEN 'inbound' ELSE 'outbound' END,
    'Interaction ' || i, {at}, CASE WHEN i % 5 = 1 THEN 60 + i % 600 END, '{customer}', '{{}}',
    'interaction ' || i, 1, {at}, {at}
FROM (SELECT (k / 10) * 4 + slot + 1 AS i, secs, frac FROM bench_events WHERE slot < 4);
INSERT INTO tasks (id, workspace_id, title, due_at, due_sort, status, priority, progress, customer_id, completed_at,
    search_text, version, created_at, updated_at)
SELECT printf('%08x-0000-7000-b100-%012x', i, i), '{workspace}', 'Task ' || i,
    CASE WHEN i % 2 = 0 THEN {week} END,
    CASE WHEN i % 2 = 0 THEN {week} ELSE '9999-12-31T23:59:59.000000Z' END,
    CASE i % 3 WHEN 0 THEN 'open' WHEN 1 THEN 'done' ELSE 'in_progress' END, 'normal',
    CASE i % 3 WHEN 0 THEN 0 WHEN 1 THEN 100 ELSE 50 END, '{customer}',
    CASE WHEN i % 3 = 1 THEN {day} END, 'task ' || i, 1, {at}, CASE WHEN i % 3 = 1 THEN {day} ELSE {at} END
FROM (SELECT (k / 10) * 3 + slot - 4 + 1 AS i, secs, frac FROM bench_events WHERE slot BETWEEN 4 AND 6);
DELETE FROM deal_stage_changes WHERE workspace_id = '{workspace}' AND customer_id = '{customer}';
INSERT INTO deal_stage_changes (id, workspace_id, deal_id, customer_id, from_stage_id, to_stage_id, at, actor_type,
    actor_id)
SELECT printf('%08x-0000-7000-a100-%012x', j + 1, j + 1), '{workspace}',
    printf('%08x-0000-7000-9000-%012x', j % 10 + 1, j % 10 + 1), '{customer}',
    (SELECT id FROM bench_open WHERE m > 0 AND k = (m - 1) % 3), (SELECT id FROM bench_open WHERE k = m % 3),
    {at}, 'system', NULL
FROM (SELECT (k / 10) * 3 + slot - 7 AS j, ((k / 10) * 3 + slot - 7) / 10 AS m, secs, frac
      FROM bench_events WHERE slot >= 7);
UPDATE deals SET status = 'open', closed_at = NULL, lost_reason = NULL,
    stage_id = (SELECT c.to_stage_id FROM deal_stage_changes c
                WHERE c.workspace_id = deals.workspace_id AND c.deal_id = deals.id ORDER BY c.at DESC LIMIT 1),
    created_at = (SELECT min(c.at) FROM deal_stage_changes c
                  WHERE c.workspace_id = deals.workspace_id AND c.deal_id = deals.id),
    stage_entered_at = (SELECT max(c.at) FROM deal_stage_changes c
                        WHERE c.workspace_id = deals.workspace_id AND c.deal_id = deals.id),
    updated_at = (SELECT max(c.at) FROM deal_stage_changes c
                  WHERE c.workspace_id = deals.workspace_id AND c.deal_id = deals.id)
WHERE workspace_id = '{workspace}' AND customer_id = '{customer}';
COMMIT;"
    )
}

/// The figures of a bulk load of `n` rows, from [`bulk`]'s seconds.
fn load_report(n: u64, inserted: f64, total: f64) -> Value {
    json!({
        "rows": n,
        "insert_seconds": inserted,
        "analyze_seconds": total - inserted,
        "seconds": total,
        "rows_per_second": n as f64 / total,
    })
}

/// Runs a loader script without a journal (a throwaway bench file), then `ANALYZE`, and leaves
/// the file in the service's WAL mode. Returns (insert, total) seconds.
pub(crate) fn bulk(db: &str, sql: &str) -> anyhow::Result<(f64, f64)> {
    let mut conn = SqliteConnection::establish(db).with_context(|| format!("opening {db}"))?;
    conn.batch_execute(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -1048576; \
         PRAGMA temp_store = MEMORY;",
    )?;
    let started = Instant::now();
    conn.batch_execute(sql)?;
    let inserted = started.elapsed();
    conn.batch_execute("ANALYZE;")?;
    let total = started.elapsed();
    conn.batch_execute("PRAGMA journal_mode = WAL;")?;
    let mode = journal_mode(&mut conn)?;
    if mode != "wal" {
        bail!("journal_mode is {mode:?} after the load, expected wal");
    }
    Ok((inserted.as_secs_f64(), total.as_secs_f64()))
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut SqliteConnection, sql: &str, workspace: &str) -> anyhow::Result<i64> {
    Ok(diesel::sql_query(sql).bind::<Text, _>(workspace).get_result::<Count>(conn)?.n)
}

/// Loads `n` deals (and `owners − 1` users, a stage change per deal) after `customers`
/// customers were loaded into `workspace`.
pub fn load(db: &str, workspace: &str, n: u64, customers: u64, owners: u64) -> anyhow::Result<Value> {
    let workspace = workspace_uuid(workspace)?;
    if customers < 2 || owners < 1 || n < 10 {
        bail!("need at least 2 customers, 1 owner and 10 deals");
    }
    let (inserted, total) = bulk(db, &load_sql(&workspace, n, customers, owners))?;
    let mut conn = connect(db)?;
    let deals = count(&mut conn, "SELECT count(*) AS n FROM deals WHERE workspace_id = ?", &workspace)?;
    if u64::try_from(deals).ok() != Some(n) {
        bail!("loaded {deals} deals, expected {n} (is there a default pipeline?)");
    }
    Ok(load_report(n, inserted, total))
}

/// `n` interactions over customers 2..=`customers` (customer 1 keeps only its timeline fixture),
/// one every 30 s from 2025-01-01: the table the timeline is read from, at a realistic size. The
/// same rows as bench/sql/load_interactions_pg.sql.
fn interactions_sql(workspace: &str, n: u64, customers: u64) -> String {
    format!(
        "BEGIN;
INSERT INTO interactions (id, workspace_id, channel, direction, subject, occurred_at, duration_seconds, customer_id,
    metadata, search_text, version, created_at, updated_at)
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n}),
rows AS (SELECT i, i % ({customers} - 1) + 2 AS c,
                strftime('%Y-%m-%dT%H:%M:%S', {LOAD_EPOCH} + 30 * i, 'unixepoch') || '.000000Z' AS ts FROM g)
SELECT printf('%08x-0000-7000-b200-%012x', i, i), '{workspace}',
    CASE i % 5 WHEN 0 THEN 'email' WHEN 1 THEN 'phone' WHEN 2 THEN 'meeting' WHEN 3 THEN 'chat' ELSE 'note' END,
    CASE WHEN i % 5 = 4 THEN 'internal' WHEN i % 2 = 0 THEN 'inbound' ELSE 'outbound' END,
    'Interaction ' || i, ts, CASE WHEN i % 5 = 1 THEN 60 + i % 600 END, printf('%08x-0000-7000-8000-%012x', c, c),
    '{{}}', 'interaction ' || i, 1, ts, ts
FROM rows;
COMMIT;"
    )
}

/// Loads the interactions of [`interactions_sql`]; fails unless the workspace then has `n` more.
pub fn load_interactions(db: &str, workspace: &str, n: u64, customers: u64) -> anyhow::Result<Value> {
    let workspace = workspace_uuid(workspace)?;
    if customers < 2 || n < 1 {
        bail!("need at least 2 customers and 1 interaction");
    }
    let sql = "SELECT count(*) AS n FROM interactions WHERE workspace_id = ?";
    let before = count(&mut connect(db)?, sql, &workspace)?;
    let (inserted, total) = bulk(db, &interactions_sql(&workspace, n, customers))?;
    let loaded = count(&mut connect(db)?, sql, &workspace)? - before;
    if u64::try_from(loaded).ok() != Some(n) {
        bail!("loaded {loaded} interactions, expected {n}");
    }
    Ok(load_report(n, inserted, total))
}

/// The timeline fixture for customer 1; fails unless it ends with 10 000 events.
pub fn timeline(db: &str, workspace: &str) -> anyhow::Result<Value> {
    let workspace = workspace_uuid(workspace)?;
    let (_, total) = bulk(db, &timeline_sql(&workspace))?;
    let mut conn = connect(db)?;
    let customer = crate::sqlite::customer_id(1);
    let mut events = 0;
    for table in ["interactions", "tasks", "deal_stage_changes"] {
        let sql = format!("SELECT count(*) AS n FROM {table} WHERE workspace_id = ? AND customer_id = '{customer}'");
        events += count(&mut conn, &sql, &workspace)?;
    }
    if events != 10_000 {
        bail!("customer {customer} has {events} timeline events, expected 10000");
    }
    Ok(json!({ "rows": events, "seconds": total, "rows_per_second": events as f64 / total, "customer": customer }))
}

/// The default pipeline of `workspace`.
pub fn pipeline(db: &str, workspace: &str) -> anyhow::Result<Value> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        id: String,
    }
    let workspace = workspace_uuid(workspace)?;
    let mut conn = connect(db)?;
    let row: Row = diesel::sql_query("SELECT id FROM pipelines WHERE workspace_id = ? AND is_default = 1")
        .bind::<Text, _>(&workspace)
        .get_result(&mut conn)
        .context("no default pipeline")?;
    Ok(json!({ "pipeline_id": row.id }))
}

/// The rows a reference query returns, materialised as the service reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    Forecast,
    Board,
    /// RFM page rows (`bench/sql/rfm_page_sqlite.sql`).
    Rfm,
    /// RFM score-cell counts (`rfm_summary`).
    RfmCells,
    /// Purchase-analytics groups and totals (`purchases_*`).
    Groups,
}

#[allow(dead_code)]
#[derive(QueryableByName)]
struct ForecastRow {
    #[diesel(sql_type = Nullable<Text>)]
    period: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    currency: Option<String>,
    #[diesel(sql_type = BigInt)]
    open_count: i64,
    #[diesel(sql_type = BigInt)]
    open_amount_minor: i64,
    #[diesel(sql_type = BigInt)]
    weighted_amount_minor: i64,
    #[diesel(sql_type = BigInt)]
    won_count: i64,
    #[diesel(sql_type = BigInt)]
    won_amount_minor: i64,
}

#[allow(dead_code)]
#[derive(QueryableByName)]
struct BoardRow {
    #[diesel(sql_type = Text)]
    stage_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    currency: Option<String>,
    #[diesel(sql_type = BigInt)]
    deal_count: i64,
    #[diesel(sql_type = BigInt)]
    amount_minor: i64,
    #[diesel(sql_type = BigInt)]
    weighted_minor: i64,
}

pub(crate) fn run_once(
    conn: &mut SqliteConnection,
    sql: &str,
    binds: &[String],
    shape: Shape,
) -> anyhow::Result<usize> {
    let mut query = diesel::sql_query(sql).into_boxed();
    for bind in binds {
        query = query.bind::<Text, _>(bind.clone());
    }
    Ok(match shape {
        Shape::Forecast => std::hint::black_box(query.load::<ForecastRow>(conn)?).len(),
        Shape::Board => std::hint::black_box(query.load::<BoardRow>(conn)?).len(),
        Shape::Rfm => std::hint::black_box(query.load::<crate::purchases::RfmRow>(conn)?).len(),
        Shape::RfmCells => std::hint::black_box(query.load::<crate::purchases::CellRow>(conn)?).len(),
        Shape::Groups => std::hint::black_box(query.load::<crate::purchases::GroupRow>(conn)?).len(),
    })
}

fn query_loop(db: &str, sql: &str, binds: &[String], shape: Shape, run_for: Duration) -> anyhow::Result<Vec<u64>> {
    let mut conn = connect(db)?;
    let mut latencies = Vec::new();
    let started = Instant::now();
    loop {
        let t0 = Instant::now();
        if run_once(&mut conn, sql, binds, shape)? == 0 {
            bail!("the reference query returned no rows");
        }
        let t1 = Instant::now();
        latencies.push(u64::try_from((t1 - t0).as_nanos()).unwrap_or(u64::MAX));
        if t1 - started >= run_for {
            return Ok(latencies);
        }
    }
}

/// Runs `sql` (with `?` bound to `binds` as text) back to back for `run_for` on `threads`
/// connections, as the service's boxed `sql_query` does.
pub fn query(
    db: &str,
    sql: &str,
    binds: &[String],
    shape: Shape,
    run_for: Duration,
    threads: usize,
) -> anyhow::Result<Value> {
    let threads = threads.max(1);
    let started = Instant::now();
    let results: Vec<anyhow::Result<Vec<u64>>> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            (0..threads).map(|_| scope.spawn(move || query_loop(db, sql, binds, shape, run_for))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("query thread panicked"))))
            .collect()
    });
    let elapsed = started.elapsed();
    let mut latencies = Vec::new();
    for result in results {
        latencies.extend(result?);
    }
    Ok(stats::figures(latencies, elapsed, threads))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WS: &str = "0190f0f0-0000-7000-8000-000000000000";

    /// The real SQLite schema, a bootstrapped workspace (admin, default pipeline) and 20 customers.
    fn bootstrapped() -> anyhow::Result<SqliteConnection> {
        let mut conn = SqliteConnection::establish(":memory:")?;
        for up in [
            include_str!("../../migrations/sqlite/2026-11-25-000001_foundation/up.sql"),
            include_str!("../../migrations/sqlite/2026-11-25-000002_audit_reason/up.sql"),
            include_str!("../../migrations/sqlite/2026-11-25-000003_pipelines_deals/up.sql"),
            include_str!("../../migrations/sqlite/2026-11-25-000004_leads/up.sql"),
            include_str!("../../migrations/sqlite/2026-11-25-000005_activities/up.sql"),
            include_str!("../../migrations/sqlite/2026-11-25-000006_segments_timeline/up.sql"),
            include_str!("../../migrations/sqlite/2026-11-25-000008_deal_rollups/up.sql"),
        ] {
            conn.batch_execute(up)?;
        }
        let at = "2025-06-01T00:00:00.000000Z";
        conn.batch_execute(&format!(
            "INSERT INTO workspaces VALUES ('{WS}', 'Bench', '{at}');
             INSERT INTO users (id, workspace_id, email, name, role, password_hash, active, version, created_at, updated_at)
                 VALUES ('0190f0f0-0000-7000-8000-0000000000aa', '{WS}', 'a@example.com', 'A', 'admin', 'x', 1, 1, '{at}', '{at}');
             INSERT INTO pipelines VALUES ('0190f0f0-0000-7000-8000-0000000000b0', '{WS}', 'Sales', 1, 1, '{at}', '{at}');
             INSERT INTO pipeline_stages VALUES
                 ('0190f0f0-0000-7000-8000-0000000000b1', '{WS}', '0190f0f0-0000-7000-8000-0000000000b0', 'Qualified', 0, 10, 'open'),
                 ('0190f0f0-0000-7000-8000-0000000000b2', '{WS}', '0190f0f0-0000-7000-8000-0000000000b0', 'Proposal', 1, 40, 'open'),
                 ('0190f0f0-0000-7000-8000-0000000000b3', '{WS}', '0190f0f0-0000-7000-8000-0000000000b0', 'Negotiation', 2, 70, 'open'),
                 ('0190f0f0-0000-7000-8000-0000000000b4', '{WS}', '0190f0f0-0000-7000-8000-0000000000b0', 'Won', 3, 100, 'won'),
                 ('0190f0f0-0000-7000-8000-0000000000b5', '{WS}', '0190f0f0-0000-7000-8000-0000000000b0', 'Lost', 4, 0, 'lost');
             PRAGMA foreign_keys = ON;"
        ))?;
        conn.batch_execute(&crate::sqlite::load_sql(WS, 20))?;
        Ok(conn)
    }

    fn one(conn: &mut SqliteConnection, sql: &str) -> anyhow::Result<i64> {
        count(conn, sql, WS)
    }

    #[test]
    fn deals_and_timeline_are_valid_rows() -> anyhow::Result<()> {
        let mut conn = bootstrapped()?;
        conn.batch_execute(&load_sql(WS, 400, 20, 3))?;
        assert_eq!(one(&mut conn, "SELECT count(*) AS n FROM deals WHERE workspace_id = ?")?, 400);
        assert_eq!(one(&mut conn, "SELECT count(*) AS n FROM users WHERE workspace_id = ?")?, 3);
        // Status follows the stage kind; closed deals carry closed_at, lost ones a reason.
        let bad = "SELECT count(*) AS n FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id
                   WHERE d.workspace_id = ? AND (d.status <> s.kind OR (d.status = 'open') <> (d.closed_at IS NULL)
                   OR (d.status = 'lost') <> (d.lost_reason IS NOT NULL) OR d.stage_entered_at <> d.created_at
                   OR d.expected_close_date NOT GLOB '202[67]-[01][0-9]-[0-3][0-9]' OR d.currency IS NULL
                   OR d.owner_id IS NULL OR d.customer_id NOT IN (SELECT id FROM customers))";
        assert_eq!(one(&mut conn, bad)?, 0);
        for status in ["open", "won", "lost"] {
            let n = one(
                &mut conn,
                &format!("SELECT count(*) AS n FROM deals WHERE workspace_id = ? AND status = '{status}'"),
            )?;
            assert!(n > 30, "{n} {status} deals of 400");
        }
        let (created, closed): (String, String) = {
            #[derive(QueryableByName)]
            struct Times {
                #[diesel(sql_type = Text)]
                created_at: String,
                #[diesel(sql_type = Text)]
                expected_close_date: String,
            }
            let t: Times = diesel::sql_query("SELECT created_at, expected_close_date FROM deals WHERE id = ?")
                .bind::<Text, _>("0000000b-0000-7000-9000-00000000000b")
                .get_result(&mut conn)?;
            (t.created_at, t.expected_close_date)
        };
        // n = 11: 2025-01-01 + 87 109 s + 1 152 019 mod 10⁶ µs.
        assert_eq!(created, "2025-01-02T00:11:49.152019Z");
        let h = (11u64 * 2_654_435_761) % 1_000_003;
        let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).context("day")? + chrono::Days::new((13 * h) % 730);
        assert_eq!(closed, day.format("%Y-%m-%d").to_string());
        assert_eq!(one(&mut conn, "SELECT count(*) AS n FROM deal_stage_changes WHERE workspace_id = ?")?, 400);

        conn.batch_execute(&timeline_sql(WS))?;
        let customer = crate::sqlite::customer_id(1);
        for (table, want) in [("interactions", 4000), ("tasks", 3000), ("deal_stage_changes", 3000)] {
            let sql =
                format!("SELECT count(*) AS n FROM {table} WHERE workspace_id = ? AND customer_id = '{customer}'");
            assert_eq!(one(&mut conn, &sql)?, want, "{table}");
        }
        assert_eq!(one(&mut conn, "SELECT count(*) AS n FROM deal_stage_changes WHERE workspace_id = ?")?, 3390);
        // Each fixture deal: created by its first move, in the stage of its last, entered then.
        let inconsistent = "SELECT count(*) AS n FROM deals d WHERE d.workspace_id = ? AND d.customer_id = '00000001-0000-7000-8000-000000000001'
            AND (d.status <> 'open' OR d.stage_id <> '0190f0f0-0000-7000-8000-0000000000b3'
                 OR d.created_at <> (SELECT min(at) FROM deal_stage_changes c WHERE c.deal_id = d.id AND c.from_stage_id IS NULL)
                 OR d.stage_entered_at <> (SELECT max(at) FROM deal_stage_changes c WHERE c.deal_id = d.id))";
        assert_eq!(one(&mut conn, inconsistent)?, 0);
        assert_eq!(
            one(
                &mut conn,
                "SELECT count(*) AS n FROM deals WHERE workspace_id = ? AND customer_id = '00000001-0000-7000-8000-000000000001'"
            )?,
            10
        );
        // The sources interleave: the newest 10 events hold every kind.
        let newest = "SELECT count(DISTINCT kind) AS n FROM (SELECT kind FROM (
              SELECT 'i' AS kind, occurred_at AS t FROM interactions WHERE workspace_id = ?1
              UNION ALL SELECT 't', created_at FROM tasks WHERE workspace_id = ?1
              UNION ALL SELECT 'd', at FROM deal_stage_changes WHERE workspace_id = ?1 AND customer_id = '00000001-0000-7000-8000-000000000001')
            ORDER BY t DESC LIMIT 10)";
        assert_eq!(one(&mut conn, newest)?, 3);
        Ok(())
    }
}
