//! Embedded migrations, one folder per dialect, applied on a plain connection before the
//! pools open.

use diesel::Connection;
use diesel::SqliteConnection;
use diesel::connection::SimpleConnection;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::StoreError;
use crate::db::{Backend, setup_sync_sqlite, sqlite_path};

const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Applies pending migrations and returns how many ran. Blocking: call it before the async
/// runtime starts or from `spawn_blocking`.
pub fn run_migrations(url: &str) -> Result<usize, StoreError> {
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    match Backend::of_url(url)? {
        Backend::Postgres => {
            let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(url)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            conn.run_pending_migrations(POSTGRES).map(|v| v.len()).map_err(failed)
        }
        Backend::Sqlite => {
            let mut conn =
                SqliteConnection::establish(sqlite_path(url)).map_err(|e| StoreError::Unavailable(e.to_string()))?;
            // WAL is a property of the file: set once, kept by every later connection.
            conn.batch_execute("PRAGMA journal_mode = WAL;")?;
            setup_sync_sqlite(&mut conn)?;
            conn.run_pending_migrations(SQLITE).map(|v| v.len()).map_err(failed)
        }
    }
}
