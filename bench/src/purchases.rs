//! Purchases and their analytics: the SQLite bulk loader (the same rows as
//! `bench/sql/load_purchases_pg.sql`, see there), the raw SQLite reference of the RFM and
//! purchase-analytics statements, and sequential HTTP timings of the service's endpoints.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use serde_json::{Value, json};

use crate::deals::{Shape, bulk, run_once};
use crate::sqlite::{connect, workspace_uuid};
use crate::stats::percentile;

/// Unix time of 2024-11-27T00:00:00Z: purchases happened up to two years after it.
const PURCHASES_EPOCH: u64 = 1_732_665_600;

/// `n` purchases over customers 1..=`buyers` and their 1–3 lines each, in one transaction.
fn load_sql(workspace: &str, n: u64, buyers: u64) -> String {
    format!(
        "BEGIN;
CREATE TEMP TABLE bench_lines (i INTEGER PRIMARY KEY);
INSERT INTO bench_lines VALUES (1), (2), (3);
CREATE TEMP TABLE bench_categories (k INTEGER PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO bench_categories VALUES (0, 'books'), (1, 'electronics'), (2, 'garden'), (3, 'toys'), (4, 'food'),
    (5, 'beauty'), (6, 'sports'), (7, 'home'), (8, 'fashion'), (9, 'music');
CREATE TEMP TABLE bench_purchases AS
WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {n}),
r AS (SELECT n, (n * 2654435761) % 1000003 AS h FROM s),
k AS (SELECT n, h, 1 + h % 3 AS k,
    (SELECT SUM((1 + (h + i) % 3) * (500 + (37 * h * (i + 1)) % 20000)) FROM bench_lines WHERE i <= 1 + h % 3) AS sub
    FROM r),
d AS (SELECT n, h, k, sub, CASE WHEN h % 7 = 0 THEN sub / 10 ELSE 0 END AS discount,
    CASE WHEN h % 4 = 0 THEN 495 ELSE 0 END AS shipping FROM k),
t AS (SELECT n, h, k, sub, discount, shipping, sub - discount + shipping AS total,
    CASE WHEN h % 10 < 7 THEN 1 + (7919 * n) % {buyers} ELSE 1 + (h * h / 1000003) * {buyers} / 1000003 END AS c,
    strftime('%Y-%m-%dT%H:%M:%S', {PURCHASES_EPOCH} + (104729 * n) % 63072000, 'unixepoch') || '.000000Z' AS ts
    FROM d)
SELECT n, h, k, sub, discount, shipping, c, ts, total,
    CASE WHEN h % 50 = 0 THEN total
         WHEN h % 50 = 1 THEN min((1 + (h + 1) % 3) * (500 + (37 * h * 2) % 20000), total)
         ELSE 0 END AS refunded
FROM t;
INSERT INTO purchases (id, workspace_id, customer_id, external_order_id, channel, status, occurred_at, currency,
    subtotal_minor, discount_minor, tax_minor, shipping_minor, total_minor, refunded_minor, metadata, version,
    created_at, updated_at)
SELECT printf('%08x-0000-7000-b300-%012x', n, n), '{workspace}', printf('%08x-0000-7000-8000-%012x', c, c),
    'B' || n, CASE (h / 7) % 3 WHEN 0 THEN 'web' WHEN 1 THEN 'store' ELSE 'phone' END,
    CASE WHEN refunded = 0 THEN 'completed' WHEN refunded < total THEN 'partially_refunded' ELSE 'refunded' END, ts,
    CASE WHEN h % 5 = 0 THEN 'USD' ELSE 'EUR' END, sub, discount, 0, shipping, total, refunded, '{{}}', 1, ts, ts
FROM bench_purchases;
INSERT INTO purchase_items (purchase_id, position, workspace_id, sku, name, category, quantity, unit_price_minor,
    line_total_minor, refunded_quantity)
SELECT printf('%08x-0000-7000-b300-%012x', n, n), i, '{workspace}', 'SKU-' || ((h + 3 * i) % 10) || '-' || i,
    'Item ' || i, c.name, 1 + (h + i) % 3, 500 + (37 * h * (i + 1)) % 20000,
    (1 + (h + i) % 3) * (500 + (37 * h * (i + 1)) % 20000), CASE WHEN h % 50 = 1 AND i = 1 THEN 1 + (h + i) % 3 ELSE 0 END
FROM bench_purchases p JOIN bench_lines l ON l.i <= p.k JOIN bench_categories c ON c.k = (p.h + 3 * l.i) % 10;
DROP TABLE bench_purchases;
INSERT INTO purchase_categories (purchase_id, category, workspace_id, customer_id, currency, occurred_at, revenue_minor)
SELECT p.id, i.category, p.workspace_id, p.customer_id, p.currency, p.occurred_at,
    SUM(i.unit_price_minor * (i.quantity - i.refunded_quantity))
FROM purchases p JOIN purchase_items i ON i.purchase_id = p.id
WHERE p.workspace_id = '{workspace}' AND p.status <> 'refunded' AND i.refunded_quantity < i.quantity
GROUP BY p.id, i.category;
COMMIT;"
    )
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Loads `n` purchases after `load` wrote at least `buyers` customers into `workspace`.
pub fn load(db: &str, workspace: &str, n: u64, buyers: u64) -> anyhow::Result<Value> {
    let workspace = workspace_uuid(workspace)?;
    if buyers < 1 || n < 1 {
        bail!("need at least 1 buyer and 1 purchase");
    }
    let (inserted, total) = bulk(db, &load_sql(&workspace, n, buyers))?;
    let mut conn = connect(db)?;
    let count = |conn: &mut SqliteConnection, table: &str| -> anyhow::Result<i64> {
        let sql = format!("SELECT count(*) AS n FROM {table} WHERE workspace_id = ?");
        Ok(diesel::sql_query(sql).bind::<Text, _>(&workspace).get_result::<Count>(conn)?.n)
    };
    let purchases = count(&mut conn, "purchases")?;
    let items = count(&mut conn, "purchase_items")?;
    if u64::try_from(purchases).ok() != Some(n) {
        bail!("loaded {purchases} purchases, expected {n}");
    }
    Ok(json!({
        "rows": n,
        "items": items,
        "insert_seconds": inserted,
        "seconds": total,
        "rows_per_second": n as f64 / total,
    }))
}

/// Median, p95 and max of sequential runs (nanoseconds).
fn sequential_figures(mut latencies: Vec<u64>, elapsed: Duration) -> Value {
    latencies.sort_unstable();
    let runs = latencies.len();
    json!({
        "runs": runs,
        "seconds": elapsed.as_secs_f64(),
        "per_second": if elapsed.as_secs_f64() > 0.0 { runs as f64 / elapsed.as_secs_f64() } else { 0.0 },
        "p50_ms": percentile(&latencies, 50.0),
        "p95_ms": percentile(&latencies, 95.0),
        "max_ms": percentile(&latencies, 100.0),
    })
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `sql` (binds as text, in order) run `warmup` times unmeasured, then `runs` times one after
/// the other on one connection, as the service's boxed `sql_query` does.
pub fn times(db: &str, sql: &str, binds: &[String], shape: Shape, runs: u32, warmup: u32) -> anyhow::Result<Value> {
    let mut conn = connect(db)?;
    for _ in 0..warmup {
        run_once(&mut conn, sql, binds, shape)?;
    }
    let mut latencies = Vec::new();
    let started = Instant::now();
    for _ in 0..runs {
        let t0 = Instant::now();
        if run_once(&mut conn, sql, binds, shape)? == 0 {
            bail!("the reference query returned no rows");
        }
        latencies.push(nanos(t0.elapsed()));
    }
    Ok(sequential_figures(latencies, started.elapsed()))
}

/// `GET url` with the API key, `warmup` times unmeasured, then `runs` times one after the
/// other; every answer must be a 200.
pub fn http_times(url: &str, key: &str, runs: u32, warmup: u32) -> anyhow::Result<Value> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
        let get = async || -> anyhow::Result<usize> {
            let response = client.get(url).header("X-API-Key", key).send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            if status != reqwest::StatusCode::OK {
                bail!("GET {url} answered {status}: {}", String::from_utf8_lossy(&body[..body.len().min(400)]));
            }
            Ok(body.len())
        };
        for _ in 0..warmup {
            get().await?;
        }
        let mut latencies = Vec::new();
        let started = Instant::now();
        let mut bytes = 0;
        for _ in 0..runs {
            let t0 = Instant::now();
            bytes = get().await.with_context(|| format!("timing {url}"))?;
            latencies.push(nanos(t0.elapsed()));
        }
        let mut figures = sequential_figures(latencies, started.elapsed());
        figures["response_bytes"] = json!(bytes);
        Ok(figures)
    })
}

#[allow(dead_code)]
#[derive(QueryableByName)]
pub(crate) struct RfmRow {
    #[diesel(sql_type = Text)]
    customer_id: String,
    #[diesel(sql_type = Text)]
    last_at: String,
    #[diesel(sql_type = BigInt)]
    orders: i64,
    #[diesel(sql_type = BigInt)]
    revenue: i64,
    #[diesel(sql_type = BigInt)]
    r: i64,
    #[diesel(sql_type = BigInt)]
    f: i64,
    #[diesel(sql_type = BigInt)]
    m: i64,
}

#[allow(dead_code)]
#[derive(QueryableByName)]
pub(crate) struct CellRow {
    #[diesel(sql_type = BigInt)]
    r: i64,
    #[diesel(sql_type = BigInt)]
    f: i64,
    #[diesel(sql_type = BigInt)]
    m: i64,
    #[diesel(sql_type = BigInt)]
    customers: i64,
    #[diesel(sql_type = BigInt)]
    orders: i64,
    #[diesel(sql_type = BigInt)]
    revenue: i64,
}

#[allow(dead_code)]
#[derive(QueryableByName)]
pub(crate) struct GroupRow {
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(sql_type = Nullable<Text>)]
    key: Option<String>,
    #[diesel(sql_type = BigInt)]
    revenue: i64,
    #[diesel(sql_type = BigInt)]
    orders: i64,
    #[diesel(sql_type = BigInt)]
    customers: i64,
    #[diesel(sql_type = BigInt)]
    repeat_customers: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_of_sequential_runs() {
        let ns: Vec<u64> = (1..=20).rev().map(|i| i * 1_000_000).collect();
        let f = sequential_figures(ns, Duration::from_secs(2));
        assert_eq!(f["runs"], 20);
        assert_eq!(f["p50_ms"], 10.0);
        assert_eq!(f["p95_ms"], 19.0);
        assert_eq!(f["max_ms"], 20.0);
    }
}
