//! CRM persistence on diesel-async: one [`Store`] over SQLite or PostgreSQL. Every query is
//! scoped to a workspace here, so no handler can forget it, and every write records its
//! audit event in the same transaction.

pub mod api_keys;
pub mod audit;
pub mod customers;
pub mod db;
mod error;
pub mod idempotency;
pub mod migrations;
pub mod schema;
pub mod sessions;
pub mod types;
pub mod users;

use crm_domain::WorkspaceId;
use crm_domain::access::Actor;
use diesel_async::RunQueryDsl;

pub use db::{Backend, Conn, DbPool};
pub use error::StoreError;
pub use migrations::run_migrations;

/// Who is writing, in which workspace, for which request: stamped on every audit event.
#[derive(Debug, Clone)]
pub struct Context {
    pub workspace_id: WorkspaceId,
    pub actor: Actor,
    pub request_id: Option<String>,
}

/// The database: a primary pool and, optionally, a read pool on a PostgreSQL replica.
#[derive(Clone)]
pub struct Store {
    primary: DbPool,
    replica: Option<DbPool>,
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
        Ok(Store { primary: DbPool::open(url, pool_size)?, replica, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection for writes and read-your-own-write paths.
    pub async fn write(&self) -> Result<Conn, StoreError> {
        self.primary.get().await
    }

    /// A connection for reads that tolerate replica lag; the primary when no replica answers.
    pub async fn read(&self) -> Result<Conn, StoreError> {
        if let Some(replica) = &self.replica {
            match replica.get().await {
                Ok(conn) => return Ok(conn),
                Err(e) => log::warn!("replica unavailable, reading from the primary: {e}"),
            }
        }
        self.primary.get().await
    }

    /// Round-trips a query to the primary, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.write().await?;
        per_backend!(&mut conn, |c| diesel::sql_query("SELECT 1").execute(c).await)?;
        Ok(())
    }

    pub fn pool_usage(&self) -> (usize, usize, usize) {
        self.primary.usage()
    }
}
