//! The operator interface: the `crm` binary's subcommands and its start-up checks.

use std::process::{Command, Output};

use serde_json::Value;

fn crm(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crm"));
    command.args(args).env_remove("CRM_JWT_SECRET").env_remove("CRM_ENV").env("RUST_LOG", "error");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the crm binary runs")
}

fn temp_db() -> (tempdir::Dir, String) {
    let dir = tempdir::Dir::new();
    let url = format!("sqlite://{}", dir.path.join("crm.db").display());
    (dir, url)
}

mod tempdir {
    pub struct Dir {
        pub path: std::path::PathBuf,
    }

    impl Dir {
        pub fn new() -> Dir {
            let path = std::env::temp_dir().join(format!("crm-cli-{}", uuid::Uuid::now_v7().simple()));
            std::fs::create_dir_all(&path).expect("temp dir");
            Dir { path }
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[test]
fn bootstrap_prints_ids_and_a_key_and_refuses_a_second_admin_with_the_same_email() {
    let (_dir, url) = temp_db();
    let args = [
        "admin",
        "bootstrap",
        "--workspace",
        "Acme",
        "--email",
        "Admin@Acme.test",
        "--password",
        "correct horse battery",
    ];
    let first = crm(&args, &[("DATABASE_URL", &url)]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let out: Value = serde_json::from_slice(&first.stdout).expect("one JSON object on stdout");
    assert!(out["workspace_id"].is_string() && out["user_id"].is_string());
    assert!(out["api_key"].as_str().is_some_and(|k| k.starts_with("crm_")));

    let second = crm(&args, &[("DATABASE_URL", &url)]);
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert!(second.stdout.is_empty());

    let ws = out["workspace_id"].as_str().unwrap_or_default();
    let key = crm(
        &[
            "admin",
            "create-api-key",
            "--workspace",
            ws,
            "--name",
            "BI",
            "--scopes",
            "customers:read",
            "--expires-in-days",
            "30",
        ],
        &[("DATABASE_URL", &url)],
    );
    assert!(key.status.success(), "{}", String::from_utf8_lossy(&key.stderr));
    let key: Value = serde_json::from_slice(&key.stdout).expect("JSON");
    assert!(key["id"].is_string() && key["api_key"].as_str().is_some_and(|k| k.starts_with("crm_")));

    let bad_scope = crm(
        &["admin", "create-api-key", "--workspace", ws, "--name", "x", "--scopes", "root"],
        &[("DATABASE_URL", &url)],
    );
    assert!(!bad_scope.status.success());
    assert!(String::from_utf8_lossy(&bad_scope.stderr).contains("unknown scope"));
}

#[test]
fn unsupported_database_urls_are_refused_by_name() {
    let out = crm(&["migrate"], &[("DATABASE_URL", "mysql://localhost/crm")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sqlite://") && stderr.contains("postgres://"), "{stderr}");
}

#[test]
fn production_refuses_to_start_without_a_strong_secret() {
    let (_dir, url) = temp_db();
    let missing = crm(&["serve"], &[("DATABASE_URL", &url), ("CRM_ENV", "production"), ("CRM_BIND", "127.0.0.1:0")]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("CRM_JWT_SECRET"));
    let short = crm(
        &["serve"],
        &[("DATABASE_URL", &url), ("CRM_ENV", "production"), ("CRM_JWT_SECRET", "short"), ("CRM_BIND", "127.0.0.1:0")],
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 32 bytes"));
}

#[test]
fn migrate_is_idempotent_and_openapi_prints_the_committed_spec() {
    let (_dir, url) = temp_db();
    for _ in 0..2 {
        let out = crm(&["migrate"], &[("DATABASE_URL", &url)]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let spec = crm(&["openapi"], &[]);
    assert!(spec.status.success());
    let printed: Value = serde_json::from_slice(&spec.stdout).expect("the spec is JSON");
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/openapi.json"))
        .expect("openapi/openapi.json");
    let committed: Value = serde_json::from_str(&committed).expect("committed spec is JSON");
    assert!(printed == committed, "`crm openapi` differs from openapi/openapi.json: run `make openapi`");
}
