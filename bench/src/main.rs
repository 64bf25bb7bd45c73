//! `crm-bench`: the Rust half of `bench/run.sh` (`make bench`). Loads SQLite, measures the raw
//! SQLite reference in one process, and times start-to-ready. Every command prints one JSON
//! object on stdout; the shell script collects them. `crash` is `make crash-test` (bench/crash.sh).

mod crash;
mod deals;
mod purchases;
mod ready;
mod sqlite;
mod stats;

use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "crm-bench", about = "Benchmark helpers for bench/run.sh")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fill a bootstrapped workspace of a migrated SQLite file with N deterministic customers.
    Load {
        #[arg(long)]
        db: String,
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        customers: u64,
    },
    /// The live lead at `position` (1-based) in `-created_at` order, and how many leads exist.
    Cursor {
        #[arg(long)]
        db: String,
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        position: u64,
    },
    /// After `load`: `owners − 1` more users and N deterministic deals (one stage change each).
    LoadDeals {
        #[arg(long)]
        db: String,
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        deals: u64,
        /// How many customers `load` wrote (deals point at them).
        #[arg(long)]
        customers: u64,
        /// Deal owners: the bootstrap admin and `owners − 1` bench users.
        #[arg(long, default_value_t = 5)]
        owners: u64,
    },
    /// After `load`: N interactions over customers 2..=customers (customer 1 keeps its fixture).
    LoadInteractions {
        #[arg(long)]
        db: String,
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        interactions: u64,
        /// How many customers `load` wrote.
        #[arg(long)]
        customers: u64,
    },
    /// After `load-deals`: 10 000 interleaved timeline events for customer 1.
    TimelineFixture {
        #[arg(long)]
        db: String,
        #[arg(long)]
        workspace: String,
    },
    /// After `load`: N deterministic purchases (1–3 lines each) over customers 1..=buyers.
    LoadPurchases {
        #[arg(long)]
        db: String,
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        purchases: u64,
        #[arg(long)]
        buyers: u64,
    },
    /// A SQL file run `runs` times one after the other (an analytics reference): median, p95.
    QueryTimes {
        #[arg(long)]
        db: String,
        #[arg(long)]
        sql_file: std::path::PathBuf,
        #[arg(long = "bind")]
        binds: Vec<String>,
        #[arg(long, value_enum)]
        shape: deals::Shape,
        #[arg(long)]
        runs: u32,
        #[arg(long, default_value_t = 1)]
        warmup: u32,
    },
    /// `GET url` `runs` times one after the other (an analytics endpoint): median, p95.
    HttpTimes {
        #[arg(long)]
        url: String,
        #[arg(long)]
        key: String,
        #[arg(long)]
        runs: u32,
        #[arg(long, default_value_t = 1)]
        warmup: u32,
    },
    /// The id of the workspace's default pipeline.
    Pipeline {
        #[arg(long)]
        db: String,
        #[arg(long)]
        workspace: String,
    },
    /// A SQL file run back to back (the forecast/board reference), `?` bound as text in order.
    Query {
        #[arg(long)]
        db: String,
        #[arg(long)]
        sql_file: std::path::PathBuf,
        #[arg(long = "bind")]
        binds: Vec<String>,
        #[arg(long, value_enum)]
        shape: deals::Shape,
        #[arg(long)]
        duration: f64,
        /// One connection per thread.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Primary-key lookups of random loaded customers (cached prepared statement) for a while.
    Lookups {
        #[arg(long)]
        db: String,
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        customers: u64,
        #[arg(long)]
        duration: f64,
        /// One connection per thread.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// `first` adds a bound `LIMIT`, as crm-store's lookups do (see sqlite.rs).
        #[arg(long, value_enum, default_value = "get-result")]
        query: sqlite::LookupQuery,
    },
    /// Creates (customer + audit event), each in its own `BEGIN IMMEDIATE` transaction.
    Inserts {
        #[arg(long)]
        db: String,
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        duration: f64,
    },
    /// Milliseconds from `since_ns` (Unix time in ns) to the first 200 from `GET /readyz`.
    WaitReady {
        #[arg(long)]
        addr: String,
        #[arg(long)]
        since_ns: u128,
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
    },
    /// Crash consistency: write load, SIGKILL, restart, check every acknowledged write; prints a
    /// markdown table and fails on any violation.
    Crash {
        /// The `crm` binary.
        #[arg(long)]
        crm: std::path::PathBuf,
        /// `name=DATABASE_URL` of a fresh, empty database; repeatable.
        #[arg(long = "target", value_parser = parse_target, required = true)]
        targets: Vec<(String, String)>,
        #[arg(long, default_value_t = 18091)]
        port: u16,
        #[arg(long, default_value_t = 20)]
        cycles: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 300)]
        min_load_ms: u64,
        #[arg(long, default_value_t = 2000)]
        max_load_ms: u64,
        #[arg(long, default_value_t = 4)]
        writers: usize,
        /// Where the servers' logs go.
        #[arg(long, default_value = "bench/results/tmp")]
        log_dir: std::path::PathBuf,
    },
}

fn parse_target(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .map(|(name, url)| (name.to_owned(), url.to_owned()))
        .ok_or_else(|| format!("expected name=DATABASE_URL, got {raw:?}"))
}

fn main() -> anyhow::Result<()> {
    let output = match Cli::parse().command {
        Command::Crash { crm, targets, port, cycles, seed, min_load_ms, max_load_ms, writers, log_dir } => {
            let options =
                crash::Options { crm, targets, port, cycles, seed, min_load_ms, max_load_ms, writers, log_dir };
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            return runtime.block_on(crash::run(&options));
        }
        Command::Load { db, workspace, customers } => sqlite::load(&db, &workspace, customers)?,
        Command::LoadDeals { db, workspace, deals, customers, owners } => {
            deals::load(&db, &workspace, deals, customers, owners)?
        }
        Command::LoadInteractions { db, workspace, interactions, customers } => {
            deals::load_interactions(&db, &workspace, interactions, customers)?
        }
        Command::TimelineFixture { db, workspace } => deals::timeline(&db, &workspace)?,
        Command::Pipeline { db, workspace } => deals::pipeline(&db, &workspace)?,
        Command::LoadPurchases { db, workspace, purchases, buyers } => {
            purchases::load(&db, &workspace, purchases, buyers)?
        }
        Command::QueryTimes { db, sql_file, binds, shape, runs, warmup } => {
            let sql = std::fs::read_to_string(&sql_file)?;
            purchases::times(&db, &sql, &binds, shape, runs, warmup)?
        }
        Command::HttpTimes { url, key, runs, warmup } => purchases::http_times(&url, &key, runs, warmup)?,
        Command::Query { db, sql_file, binds, shape, duration, threads } => {
            let sql = std::fs::read_to_string(&sql_file)?;
            deals::query(&db, &sql, &binds, shape, Duration::from_secs_f64(duration), threads)?
        }
        Command::Cursor { db, workspace, position } => sqlite::cursor(&db, &workspace, position)?,
        Command::Lookups { db, workspace, customers, duration, threads, query } => {
            sqlite::lookups(&db, &workspace, customers, Duration::from_secs_f64(duration), threads, query)?
        }
        Command::Inserts { db, workspace, duration } => {
            sqlite::inserts(&db, &workspace, Duration::from_secs_f64(duration))?
        }
        Command::WaitReady { addr, since_ns, timeout_ms } => {
            ready::wait_ready(&addr, since_ns, Duration::from_millis(timeout_ms))?
        }
    };
    println!("{output}");
    Ok(())
}
