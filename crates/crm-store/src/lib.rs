//! CRM persistence on diesel-async: one [`Store`] over SQLite or PostgreSQL. Every query is
//! scoped to a workspace here, so no handler can forget it, and every write records its
//! audit event in the same transaction.
//!
//! Lookups by a unique key use `get_result`, never `first`: `first` binds a `LIMIT` that makes
//! SQLite re-prepare the cached statement on every call (a quarter of the throughput, measured).

pub mod analytics;
pub mod api_keys;
pub mod audit;
#[cfg(test)]
mod bench_references;
pub mod conversion;
pub mod coupons;
pub mod customers;
pub mod db;
pub mod deals;
mod error;
pub mod idempotency;
pub mod interactions;
pub mod leads;
pub mod loyalty;
pub mod migrations;
pub mod ownership;
pub mod pipelines;
pub mod purchases;
mod query;
pub mod refs;
pub mod rewards;
pub mod schema;
pub mod scoring_rules;
pub mod segments;
pub mod sessions;
mod soft_delete;
pub mod tasks;
pub mod timeline;
pub mod types;
pub mod users;
pub mod web_forms;

use std::sync::Arc;

use crm_domain::WorkspaceId;
use crm_domain::access::Actor;
use diesel_async::RunQueryDsl;

pub use db::{Backend, Conn, DbPool, SharedReads, postgres_is_local};
pub use error::StoreError;
pub use migrations::run_migrations;

/// Who is writing, in which workspace, for which request: stamped on every audit event.
#[derive(Debug, Clone)]
pub struct Context {
    pub workspace_id: WorkspaceId,
    pub actor: Actor,
    pub request_id: Option<String>,
    /// The request's idempotency key scoped to its caller (see `idempotency::claim`); lets a
    /// retry find what its first attempt committed.
    pub idempotency_key: Option<String>,
}

/// The database. PostgreSQL: one pool for reads and writes, and optionally a read pool on a
/// replica. SQLite: a pool of readers and a single writer, so that writers queue in order
/// here instead of spinning in SQLite's busy handler (WAL lets readers run alongside).
#[derive(Clone)]
pub struct Store {
    writer: DbPool,
    reader: DbPool,
    replica: Option<DbPool>,
    /// PostgreSQL: the primary's pool for long reads (`read_pooled`), apart from the per-thread
    /// pools that writes use.
    long_reads: Option<DbPool>,
    shared: Option<Arc<SharedReads>>,
    backend: Backend,
}

impl Store {
    pub fn open(url: &str, replica_url: Option<&str>, pool_size: usize) -> Result<Store, StoreError> {
        let backend = Backend::of_url(url)?;
        let replica = match replica_url {
            Some(replica) if Backend::of_url(replica)? != Backend::Postgres || backend != Backend::Postgres => {
                return Err(StoreError::Config("DATABASE_REPLICA_URL needs PostgreSQL for both URLs".into()));
            }
            Some(replica) => Some(DbPool::open(replica, pool_size)?),
            None => None,
        };
        let (writer, reader) = match backend {
            Backend::Postgres => {
                let pool = DbPool::open(url, pool_size)?;
                (pool.clone(), pool)
            }
            Backend::Sqlite => (DbPool::open(url, 1)?, DbPool::open(url, pool_size)?),
        };
        let (shared, long_reads) = match backend {
            Backend::Postgres => (
                Some(Arc::new(SharedReads::new(replica_url.unwrap_or(url)))),
                Some(DbPool::open_common(url, pool_size)?),
            ),
            Backend::Sqlite => (None, None),
        };
        Ok(Store { writer, reader, replica, long_reads, shared, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection for writes. Never ask for a second one while holding it.
    pub async fn write(&self) -> Result<Conn, StoreError> {
        self.writer.get().await
    }

    /// A connection for reads that must see the latest committed state (sign-in, version checks).
    pub async fn read_primary(&self) -> Result<Conn, StoreError> {
        self.reader.get().await
    }

    /// A connection for reads that tolerate replica lag; the primary when no replica answers.
    pub async fn read(&self) -> Result<Conn, StoreError> {
        if let Some(shared) = &self.shared {
            match shared.get().await {
                Ok(conn) => return Ok(Conn::PgShared(conn)),
                Err(e) => log::warn!("shared read connection unavailable, using the pool: {e}"),
            }
        }
        self.replica_or(&self.reader).await
    }

    /// A connection of its own for a lag-tolerant read of several queries in a row (a timeline
    /// page): the replica when one answers, else this thread's pool. On the shared pipelined
    /// connection each query would wait behind every other read of the thread, all of them on
    /// one PostgreSQL backend.
    pub async fn read_several(&self) -> Result<Conn, StoreError> {
        self.replica_or(&self.reader).await
    }

    /// A pooled connection for long reads (analytics, the forecast, the board's sums): the
    /// replica when one answers, else the primary's pool for long reads; never the shared
    /// pipelined connection, where a query of a second would hold up every other read of its
    /// thread.
    pub async fn read_pooled(&self) -> Result<Conn, StoreError> {
        self.replica_or(self.long_reads.as_ref().unwrap_or(&self.reader)).await
    }

    async fn replica_or(&self, primary: &DbPool) -> Result<Conn, StoreError> {
        if let Some(replica) = &self.replica {
            match replica.get().await {
                Ok(conn) => return Ok(conn),
                Err(e) => log::warn!("replica unavailable, reading from the primary: {e}"),
            }
        }
        primary.get().await
    }

    /// Round-trips a query to the primary, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.write().await?;
        per_backend!(&mut conn, |c| diesel::sql_query("SELECT 1").execute(c).await)?;
        Ok(())
    }

    /// (connections open, idle, maximum) for `/metrics`: on PostgreSQL the per-thread pools of
    /// the primary and its analytics pool; on SQLite the readers.
    pub fn pool_usage(&self) -> (usize, usize, usize) {
        let (open, idle, max) = self.reader.usage();
        let (long_open, long_idle, long_max) = self.long_reads.as_ref().map_or((0, 0, 0), DbPool::usage);
        (open + long_open, idle + long_idle, max + long_max)
    }

    /// Closes connections idle for `unused_for` (see [`DbPool::close_idle`]).
    pub fn close_idle(&self, unused_for: std::time::Duration) {
        // On PostgreSQL the writer and the reader are one pool: closing twice is harmless.
        let pools = [Some(&self.writer), Some(&self.reader), self.replica.as_ref(), self.long_reads.as_ref()];
        pools.into_iter().flatten().for_each(|pool| pool.close_idle(unused_for));
    }
}
