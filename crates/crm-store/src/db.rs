//! Connections to either database behind one type, and the two macros that let each query
//! be written once: `per_backend!` for reads, `write_tx!` for transactions
//! (`BEGIN IMMEDIATE` on SQLite, so concurrent writers queue instead of failing).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use deadpool::Runtime;
use deadpool::managed::{Hook, Metrics, QueueMode, WeakPool};
use diesel::SqliteConnection;
use diesel::connection::{AnsiTransactionManager, SimpleConnection};
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::sync_connection_wrapper::{SpawnBlocking, SyncConnectionWrapper};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection, TransactionManager};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::StoreError;

pub type SqliteConn = SyncConnectionWrapper<SqliteConnection, Inline>;

/// Runs SQLite work on the calling thread instead of diesel-async's default blocking pool.
/// In WAL mode a read never waits for a writer and answers in microseconds, so the hop to the
/// pool and back cost more than the query (≈ 27 % of the process in task switching, measured);
/// writes cannot wait on SQLite's lock either, because the one-connection writer pool queues
/// them before they reach it. The future is ready when returned, so it cannot be cancelled
/// half-way (the blocking pool's futures panic when dropped on actix's runtime). A panic in the
/// work is an error of the query, as the blocking pool reports it: unwinding would take the
/// worker down with every request in flight on it, and skip the rollback of a transaction.
pub struct Inline;

impl SpawnBlocking for Inline {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> BoxFuture<'a, Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task))
            .map_err(|panic| format!("SQLite work panicked: {}", panic_message(&*panic)).into());
        futures_util::future::ready(done).boxed()
    }

    fn get_runtime() -> Self {
        Inline
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(text), _) => (*text).to_owned(),
        (_, Some(text)) => text.clone(),
        _ => "no message".to_owned(),
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// `postgres://`, `postgresql://` or `sqlite://`; anything else is refused by name.
    pub fn of_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("sqlite://") {
            Ok(Backend::Sqlite)
        } else {
            Err(StoreError::Config(format!(
                "unsupported database URL scheme in {:?}: use sqlite://PATH or postgres://USER@HOST/DB",
                url.split("://").next().unwrap_or(url)
            )))
        }
    }
}

/// Whether a `postgres://` URL names a server on this machine (localhost, a loopback address or
/// a Unix socket), whose processes then share the service's cores. A URL that cannot be parsed
/// or names no host is not local: connecting reports what is wrong with it.
pub fn postgres_is_local(url: &str) -> bool {
    use tokio_postgres::config::Host;
    let Ok(config) = url.parse::<tokio_postgres::Config>() else {
        return false;
    };
    let local_host = |host: &Host| match host {
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        Host::Unix(_) => true,
    };
    // The addresses, when given, are what is connected to; the host names are then only names.
    match config.get_hostaddrs() {
        [] => !config.get_hosts().is_empty() && config.get_hosts().iter().all(local_host),
        addrs => addrs.iter().all(|ip| ip.is_loopback()),
    }
}

/// The file path of a `sqlite://` URL.
pub(crate) fn sqlite_path(url: &str) -> &str {
    url.trim_start_matches("sqlite://")
}

const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";

/// A pool of connections to one database.
#[derive(Clone)]
pub enum DbPool {
    Pg(Arc<ThreadPools>),
    /// One pool for all threads, for long reads: there a cross-thread wake-up is noise, and a
    /// per-thread cap would let a few of them hold up their thread's writes.
    PgCommon(Pool<AsyncPgConnection>),
    Sqlite(Pool<SqliteConn>),
}

thread_local! {
    /// This thread's pool of each [`ThreadPools`].
    static THREAD_POOLS: RefCell<HashMap<usize, Pool<AsyncPgConnection>>> = RefCell::new(HashMap::new());
}

/// PostgreSQL pools, one per thread. A connection's socket is driven by a task on the runtime
/// that opened it, so a connection opened on another thread costs two cross-thread wake-ups
/// per query; every actix worker is a runtime of its own, so each gets its own connections
/// (POST /v1/customers: ≈ 40 % of the process's CPU was in task switches before).
pub struct ThreadPools {
    url: String,
    size: usize,
    slot: usize,
    /// Every thread's pool, for [`DbPool::usage`] and [`DbPool::close_idle`]; weak, so that a
    /// thread's pool closes with the thread (each thread holds its pools until it ends).
    all: std::sync::Mutex<Vec<WeakPool<AsyncDieselConnectionManager<AsyncPgConnection>>>>,
}

impl ThreadPools {
    fn new(url: &str, size: usize) -> ThreadPools {
        ThreadPools {
            url: url.to_owned(),
            size,
            slot: NEXT_SLOT.fetch_add(1, Ordering::Relaxed),
            all: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn current(&self) -> Result<Pool<AsyncPgConnection>, StoreError> {
        if let Some(pool) = THREAD_POOLS.with(|m| m.borrow().get(&self.slot).cloned()) {
            return Ok(pool);
        }
        let pool = pg_pool(&self.url, self.size)?;
        THREAD_POOLS.with(|m| m.borrow_mut().insert(self.slot, pool.clone()));
        if let Ok(mut all) = self.all.lock() {
            all.push(pool.weak());
        }
        Ok(pool)
    }

    /// The pools of the threads still running (the others are forgotten).
    fn live(&self) -> Vec<Pool<AsyncPgConnection>> {
        let Ok(mut all) = self.all.lock() else { return Vec::new() };
        all.retain(|pool| pool.upgrade().is_some());
        all.iter().filter_map(WeakPool::upgrade).collect()
    }
}

fn pg_pool(url: &str, size: usize) -> Result<Pool<AsyncPgConnection>, StoreError> {
    let mut config = ManagerConfig::default();
    // The default recycling pings the server on every checkout (≈ 35 % of throughput).
    config.recycling_method = RecyclingMethod::Fast;
    let manager = AsyncDieselConnectionManager::new_with_config(url, config);
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(CHECKOUT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| StoreError::Config(e.to_string()))
}

/// A connection for one request: checked out of a [`DbPool`], or the thread's shared
/// pipelined PostgreSQL connection for reads. Held on the stack, so the size difference
/// between the variants costs less than boxing would.
#[allow(clippy::large_enum_variant)]
pub enum Conn {
    Pg(Object<AsyncPgConnection>),
    Sqlite(Object<SqliteConn>),
    PgShared(SharedPg),
}

/// How long a read on a shared connection may take before the connection is given up.
const SHARED_READ_TIMEOUT: Duration = Duration::from_secs(5);

thread_local! {
    /// One pipelined connection per thread (per actix worker) and per [`SharedReads`].
    static SHARED: RefCell<HashMap<usize, Arc<AsyncPgConnection>>> = RefCell::new(HashMap::new());
}

/// Keys of the per-thread maps, one per [`SharedReads`] or [`ThreadPools`].
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

/// Lag-tolerant PostgreSQL reads through one connection per thread, used by every request
/// on that thread at once: concurrent queries are pipelined, so the server answers many per
/// system call, and no pool checkout sits in the path (STACK.md measured 0.59–0.91 of
/// pgbench this way, against 0.34–0.41 through a pool). Transactions never use it.
pub struct SharedReads {
    url: String,
    slot: usize,
}

/// The thread's shared connection, checked out for one request.
pub struct SharedPg {
    pub conn: Arc<AsyncPgConnection>,
    slot: usize,
}

impl SharedReads {
    pub fn new(url: &str) -> SharedReads {
        SharedReads { url: url.to_owned(), slot: NEXT_SLOT.fetch_add(1, Ordering::Relaxed) }
    }

    pub async fn get(&self) -> Result<SharedPg, StoreError> {
        if let Some(conn) = SHARED.with(|m| m.borrow().get(&self.slot).cloned()) {
            return Ok(SharedPg { conn, slot: self.slot });
        }
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, AsyncPgConnection::establish(&self.url))
            .await
            .map_err(|_| StoreError::Unavailable("connecting timed out".into()))?
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let conn = Arc::new(conn);
        SHARED.with(|m| m.borrow_mut().insert(self.slot, conn.clone()));
        Ok(SharedPg { conn, slot: self.slot })
    }
}

impl SharedPg {
    /// Runs one read with a deadline: a stalled server must not queue this thread's reads
    /// without bound. A timed-out or broken connection is dropped; the next read reconnects.
    pub async fn run<T>(&self, read: impl Future<Output = diesel::QueryResult<T>>) -> diesel::QueryResult<T> {
        let result = tokio::time::timeout(SHARED_READ_TIMEOUT, read).await.unwrap_or_else(|_| {
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ClosedConnection,
                Box::new("read timed out".to_owned()),
            ))
        });
        if let Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::ClosedConnection, _)) =
            &result
        {
            SHARED.with(|m| {
                let mut shared = m.borrow_mut();
                if shared.get(&self.slot).is_some_and(|c| Arc::ptr_eq(c, &self.conn)) {
                    shared.remove(&self.slot);
                }
            });
        }
        result
    }
}

/// How long a request waits for a free connection before it is answered 503.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long opening a PostgreSQL connection may take (an unreachable host would hang).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl DbPool {
    /// `size` connections at most: on PostgreSQL per thread that uses the pool.
    pub fn open(url: &str, size: usize) -> Result<DbPool, StoreError> {
        match Backend::of_url(url)? {
            Backend::Postgres => Ok(DbPool::Pg(Arc::new(ThreadPools::new(url, size)))),
            Backend::Sqlite => {
                let mut config = ManagerConfig::default();
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup = Box::new(establish_sqlite);
                let manager = AsyncDieselConnectionManager::new_with_config(sqlite_path(url), config);
                // Only the wait is bounded: cancelling SQLite work in flight panics (STACK.md).
                Pool::builder(manager)
                    .max_size(size)
                    // The connection used last is handed out first: its page cache is the warm
                    // one (first-in-first-out spread the reads over every cache, all cold).
                    .queue_mode(QueueMode::Lifo)
                    .pre_recycle(Hook::sync_fn(|conn: &mut SqliteConn, _| {
                        clear_poison(conn);
                        Ok(())
                    }))
                    .runtime(Runtime::Tokio1)
                    .wait_timeout(Some(CHECKOUT_TIMEOUT))
                    .build()
                    .map(DbPool::Sqlite)
                    .map_err(|e| StoreError::Config(e.to_string()))
            }
        }
    }

    /// One pool shared by every thread (see [`DbPool::PgCommon`]); PostgreSQL only.
    pub fn open_common(url: &str, size: usize) -> Result<DbPool, StoreError> {
        pg_pool(url, size).map(DbPool::PgCommon)
    }

    pub async fn get(&self) -> Result<Conn, StoreError> {
        match self {
            DbPool::Pg(pools) => pools.current()?.get().await.map(Conn::Pg).map_err(StoreError::from),
            DbPool::PgCommon(pool) => pool.get().await.map(Conn::Pg).map_err(StoreError::from),
            DbPool::Sqlite(pool) => pool.get().await.map(Conn::Sqlite).map_err(StoreError::from),
        }
    }

    /// (connections open, connections idle, maximum) for `/metrics`, over every thread's pool.
    pub fn usage(&self) -> (usize, usize, usize) {
        let statuses = match self {
            DbPool::Pg(pools) => pools.live().iter().map(Pool::status).collect(),
            DbPool::PgCommon(pool) => vec![pool.status()],
            DbPool::Sqlite(pool) => vec![pool.status()],
        };
        statuses.iter().fold((0, 0, 0), |(size, idle, max), s| (size + s.size, idle + s.available, max + s.max_size))
    }

    /// Closes the idle connections not checked out for `unused_for`: a burst, or a thread that
    /// used the database once (startup, a cron task), leaves connections the server keeps for
    /// nothing. (A thread's shared pipelined read connection stays open with its thread.)
    pub fn close_idle(&self, unused_for: Duration) {
        let keep = |metrics: Metrics| metrics.last_used() < unused_for;
        match self {
            DbPool::Pg(pools) => pools.live().iter().for_each(|pool| drop(pool.retain(|_, m| keep(m)))),
            DbPool::PgCommon(pool) => drop(pool.retain(|_, m| keep(m))),
            DbPool::Sqlite(pool) => drop(pool.retain(|_, m| keep(m))),
        }
    }
}

/// Clears the poison a panic in [`Inline`] work leaves on the wrapper's mutex (any call does):
/// the pool's broken-connection check would panic on it instead of discarding the connection.
fn clear_poison(conn: &mut SqliteConn) {
    drop(conn.spawn_blocking(|_| Ok(())).now_or_never());
}

fn establish_sqlite(path: &str) -> BoxFuture<'_, diesel::ConnectionResult<SqliteConn>> {
    async move {
        let mut conn = SqliteConn::establish(path).await?;
        conn.batch_execute(SQLITE_PRAGMAS).await.map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
        Ok(conn)
    }
    .boxed()
}

/// `BEGIN IMMEDIATE` … `COMMIT` (or `ROLLBACK` when `body` fails), as diesel-async's own
/// `immediate_transaction`, which exists only for its default blocking-pool runner.
pub async fn immediate_transaction<R>(
    conn: &mut SqliteConn,
    body: impl AsyncFnOnce(&mut SqliteConn) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    type Manager = <SqliteConn as AsyncConnection>::TransactionManager;
    conn.spawn_blocking(|c| AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")).await?;
    match body(&mut *conn).await {
        Ok(value) => {
            Manager::commit_transaction(conn).await?;
            Ok(value)
        }
        Err(e) => {
            Manager::rollback_transaction(conn).await?;
            Err(e)
        }
    }
}

/// Sets the pragmas of a plain SQLite connection (migrations, tools).
pub(crate) fn setup_sync_sqlite(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    conn.batch_execute(SQLITE_PRAGMAS)
}

/// Runs one read body on whichever connection `conn` holds. The body is expanded once per
/// backend, so it is written once and type-checked against both.
#[macro_export]
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::Conn::Pg(conn) => {
                let $c: &mut diesel_async::AsyncPgConnection = &mut **conn;
                $body
            }
            $crate::db::Conn::Sqlite(conn) => {
                let $c: &mut $crate::db::SqliteConn = &mut **conn;
                $body
            }
            $crate::db::Conn::PgShared(shared) => {
                let mut conn: &diesel_async::AsyncPgConnection = &shared.conn;
                let $c = &mut conn;
                shared.run(async { $body }).await
            }
        }
    };
}

/// Loads the one row of a query whose SQL never varies (not boxed, no `IN` list). On SQLite it
/// runs through diesel's synchronous API on the calling thread ([`Inline`]): the statement is
/// found in the cache by its type and the row read in place, where the async wrapper builds the
/// SQL text and copies every row on each call.
#[macro_export]
macro_rules! get_static {
    ($conn:expr, $query:expr) => {
        match $conn {
            $crate::db::Conn::Pg(conn) => {
                let conn: &mut diesel_async::AsyncPgConnection = &mut **conn;
                diesel_async::RunQueryDsl::get_result($query, conn).await
            }
            $crate::db::Conn::Sqlite(conn) => {
                let query = $query;
                conn.spawn_blocking(move |c| diesel::RunQueryDsl::get_result(query, c)).await
            }
            $crate::db::Conn::PgShared(shared) => {
                let mut conn: &diesel_async::AsyncPgConnection = &shared.conn;
                shared.run(diesel_async::RunQueryDsl::get_result($query, &mut conn)).await
            }
        }
    };
}

/// Runs one body in a write transaction: `BEGIN` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite
/// (a deferred transaction that later writes fails with "database is locked" under load).
#[macro_export]
macro_rules! write_tx {
    ($conn:expr, |$c:ident| $body:block) => {
        match $conn {
            $crate::db::Conn::Pg(conn) => {
                use diesel_async::AsyncConnection as _;
                let conn: &mut diesel_async::AsyncPgConnection = &mut **conn;
                conn.transaction(async |$c| -> Result<_, $crate::StoreError> { $body }).await
            }
            $crate::db::Conn::Sqlite(conn) => {
                let conn: &mut $crate::db::SqliteConn = &mut **conn;
                $crate::db::immediate_transaction(conn, async |$c| -> Result<_, $crate::StoreError> { $body }).await
            }
            $crate::db::Conn::PgShared(_) => {
                Err($crate::StoreError::Config("a shared read connection cannot open a transaction".into()))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use diesel::sql_types::BigInt;

    use super::*;

    #[test]
    fn postgres_is_local_for_loopback_and_sockets_only() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/crm",
            "postgres://postgres@localhost/crm",
            "postgresql://u:p@[::1]:5433/crm",
            "postgres://u@127.0.0.2/crm",
            "postgresql://u@%2Fvar%2Frun%2Fpostgresql/crm",
            "postgres://u@db.example.com/crm?hostaddr=127.0.0.1",
        ] {
            assert!(postgres_is_local(url), "{url}");
        }
        for url in [
            "postgres://postgres@db.example.com:5432/crm",
            "postgres://u@10.0.0.5/crm",
            "postgres://u@localhost,db.example.com/crm",
            "postgres://u@localhost/crm?hostaddr=10.0.0.5",
            "postgres:///crm",
            "sqlite://crm.db",
            "postgres://u@[not an address/crm",
        ] {
            assert!(!postgres_is_local(url), "{url}");
        }
    }

    async fn count(conn: &mut SqliteConn) -> i64 {
        conn.spawn_blocking(|c| {
            diesel::RunQueryDsl::get_result(diesel::select(diesel::dsl::sql::<BigInt>("(SELECT count(*) FROM t)")), c)
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_panic_in_sqlite_work_is_an_error_and_its_transaction_is_rolled_back() {
        let mut conn = SqliteConn::establish(":memory:").await.unwrap();
        conn.batch_execute("CREATE TABLE t (n INTEGER)").await.unwrap();
        let insert = |c: &mut SqliteConnection| c.batch_execute("INSERT INTO t VALUES (1)");

        let failed = immediate_transaction(&mut conn, async |c| {
            c.spawn_blocking(insert).await?;
            c.spawn_blocking(|_| -> diesel::QueryResult<()> { panic!("boom") }).await?;
            Ok(())
        })
        .await;
        let error = failed.expect_err("the panic is the transaction's error").to_string();
        assert!(error.contains("boom"), "{error}");
        assert_eq!(count(&mut conn).await, 0, "the insert before the panic is rolled back");

        immediate_transaction(&mut conn, async |c| Ok(c.spawn_blocking(insert).await?)).await.unwrap();
        assert_eq!(count(&mut conn).await, 1, "the connection takes the next transaction");
    }

    /// Outside a transaction the panic poisons the connection's mutex; the pool hands the
    /// connection out again, where its broken-connection check would panic on the poison.
    #[tokio::test]
    async fn a_connection_whose_work_panicked_is_handed_out_again() {
        let path = std::env::temp_dir().join(format!("crm-panic-{}.db", uuid::Uuid::now_v7().simple()));
        let pool = DbPool::open(&format!("sqlite://{}", path.display()), 1).unwrap();
        let Conn::Sqlite(mut conn) = pool.get().await.unwrap() else { panic!("a SQLite connection") };
        let failed = conn.spawn_blocking(|_| -> diesel::QueryResult<()> { panic!("boom") }).await;
        assert!(failed.is_err());
        drop(conn);
        let Conn::Sqlite(mut conn) = pool.get().await.unwrap() else { panic!("a SQLite connection") };
        conn.batch_execute("CREATE TABLE t (n INTEGER)").await.unwrap();
        assert_eq!(count(&mut conn).await, 0);
        drop((conn, pool));
        let _ = std::fs::remove_file(&path);
    }
}
