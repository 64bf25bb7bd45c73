//! The bench's references (`bench/sql/<op>_sqlite.sql`, `bench/pgbench/<op>.sql`) run the
//! statements crm-store sends: their one statement line each (`WITH …` or `SELECT …`), with
//! pgbench's binds named. `UPDATE_BENCH_SQL=1 cargo test -p crm-store` rewrites that line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use crm_domain::analytics::PurchaseGroup;
use crm_domain::deal::ForecastGroup;

use crate::analytics::{RFM_CELLS, purchase_stats_sql, rfm_page_sql, rfm_sql};
use crate::deals::{board_sql, forecast_sql};

/// The statement of a reference for a backend (`true`: PostgreSQL).
type Statement = fn(bool) -> String;

#[test]
fn the_bench_references_run_the_statements_sent() {
    let window = ["ws", "currency", "start", "end"];
    let stats_binds: Vec<&str> = window.iter().chain(&window).chain(&["ws", "ws"]).copied().collect();
    let forecast_binds = vec!["ws", "from", "to"];
    let statements: [(&str, Statement, Vec<&str>); 8] = [
        ("rfm_page", |pg| rfm_page_sql("", pg), vec!["ws", "currency", "as_of", "ws", "limit"]),
        ("rfm_summary", |pg| rfm_sql(RFM_CELLS, pg), vec!["ws", "currency", "as_of", "ws"]),
        ("purchases_month", |pg| purchase_stats_sql(PurchaseGroup::Month, pg), stats_binds.clone()),
        ("purchases_category", |pg| purchase_stats_sql(PurchaseGroup::Category, pg), stats_binds.clone()),
        ("purchases_channel", |pg| purchase_stats_sql(PurchaseGroup::Channel, pg), stats_binds),
        // The bench's forecast covers every pipeline and its board every owner.
        ("forecast_month", |pg| forecast_sql(ForecastGroup::Month, false, pg), forecast_binds.clone()),
        ("forecast_owner", |pg| forecast_sql(ForecastGroup::Owner, false, pg), forecast_binds),
        ("board", |pg| board_sql(false, pg), vec!["ws", "pipeline"]),
    ];
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench");
    let update = std::env::var("UPDATE_BENCH_SQL").is_ok_and(|v| v == "1");
    for (op, sql, binds) in statements {
        let mut named = sql(true);
        for (i, bind) in binds.iter().enumerate().rev() {
            named = named.replace(&format!("${}", i + 1), &format!(":{bind}"));
        }
        let files = [
            (bench.join(format!("sql/{op}_sqlite.sql")), sql(false)),
            (bench.join(format!("pgbench/{op}.sql")), format!("{named};")),
        ];
        for (path, statement) in files {
            let text = std::fs::read_to_string(&path).expect("a bench reference file");
            let mut lines: Vec<&str> = text.lines().collect();
            let line = lines
                .iter()
                .position(|l| l.starts_with("WITH ") || l.starts_with("SELECT "))
                .expect("a statement line");
            if update {
                lines[line] = &statement;
                std::fs::write(&path, lines.join("\n") + "\n").unwrap();
            } else {
                assert_eq!(
                    lines[line],
                    statement,
                    "{} is stale: UPDATE_BENCH_SQL=1 cargo test -p crm-store",
                    path.display()
                );
            }
        }
    }
}
