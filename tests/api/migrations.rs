//! Migrations: every migration exists for both dialects, and applying them twice is a no-op.

use std::collections::BTreeSet;
use std::path::Path;

use crate::helpers::{TestApp, both_backends};

fn migration_names(dialect: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations").join(dialect);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    entries
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_dir())
        .map(|path| {
            for file in ["up.sql", "down.sql"] {
                assert!(path.join(file).is_file(), "{} has no {file}", path.display());
            }
            path.file_name().unwrap().to_string_lossy().into_owned()
        })
        .collect()
}

#[test]
fn sqlite_and_postgres_migrations_are_paired() {
    let sqlite = migration_names("sqlite");
    let postgres = migration_names("postgres");
    assert!(!sqlite.is_empty(), "no migrations found");
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(&sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "migrations differ: only in sqlite {only_sqlite:?}, only in postgres {only_postgres:?}"
    );
}

async fn migrations_are_applied_once(app: TestApp) {
    let url = app.database_url.clone();
    let ran = tokio::task::spawn_blocking(move || crm_store::run_migrations(&url))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("re-running migrations on {:?}: {e}", app.backend));
    assert_eq!(ran, 0, "the server applied every migration at start");
}
both_backends!(migrations_are_applied_once);
