//! Operator commands that touch the database directly: bootstrap and API keys.

use chrono::{Duration, Utc};
use crm_domain::access::{Actor, Role, Scope};
use crm_domain::user::NewUser;
use crm_domain::{ApiKeyId, WorkspaceId};
use crm_store::{Context, Store};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::{api_key, password};

/// What `crm admin bootstrap` prints.
#[derive(Debug, Serialize)]
pub struct Bootstrap {
    pub workspace_id: Uuid,
    pub user_id: Uuid,
    pub api_key: String,
}

/// What `crm admin create-api-key` prints.
#[derive(Debug, Serialize)]
pub struct CreatedKey {
    pub id: ApiKeyId,
    pub api_key: String,
}

async fn open(database_url: &str) -> anyhow::Result<Store> {
    let url = database_url.to_owned();
    tokio::task::spawn_blocking(move || crm_store::run_migrations(&url)).await??;
    Ok(Store::open(database_url, None, 2)?)
}

/// Creates a workspace, its first admin and an API key with every scope.
pub async fn bootstrap(database_url: &str, workspace: &str, email: &str, password: &str) -> anyhow::Result<Bootstrap> {
    let workspace = workspace.trim();
    if workspace.is_empty() || workspace.chars().count() > 200 {
        anyhow::bail!("the workspace name must be 1 to 200 characters");
    }
    let admin = NewUser {
        email: email.to_owned(),
        name: "Administrator".to_owned(),
        role: Role::Admin,
        password: password.to_owned(),
    }
    .validate()
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = open(database_url).await?;
    let hash = password::hash(admin.password.clone()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let (key, secret) = api_key::generate();
    let made = crm_store::users::bootstrap(&store, workspace, &admin, &hash, &secret).await.map_err(|e| match e {
        crm_store::StoreError::Conflict { code: "email_taken", .. } => {
            anyhow::anyhow!("a user with the email {} already exists; bootstrap runs once per admin", admin.email)
        }
        other => other.into(),
    })?;
    Ok(Bootstrap { workspace_id: made.workspace_id.0, user_id: made.user.id.0, api_key: key })
}

/// Expires every lot of points due now, in every workspace (for cron, when the server's own
/// loop is off); safe alongside running servers.
pub async fn expire_points(database_url: &str) -> anyhow::Result<crm_domain::loyalty::ExpiryReport> {
    let store = open(database_url).await?;
    Ok(crm_store::loyalty::expire_due(&store, 500).await?)
}

/// Creates an API key in a workspace.
pub async fn create_api_key(
    database_url: &str,
    workspace: WorkspaceId,
    name: &str,
    scopes: &str,
    expires_in_days: Option<u32>,
) -> anyhow::Result<CreatedKey> {
    let mut parsed = Vec::new();
    for raw in scopes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let scope = Scope::parse(raw).ok_or_else(|| {
            let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            anyhow::anyhow!("unknown scope {raw:?}; known scopes: {}", known.join(", "))
        })?;
        parsed.push(scope);
    }
    let new = crm_domain::api_key::NewApiKey { name: name.to_owned(), scopes: parsed, expires_in_days }
        .validate()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = open(database_url).await?;
    let (key, secret) = api_key::generate();
    let ctx = Context { workspace_id: workspace, actor: Actor::System, request_id: None, idempotency_key: None };
    let expires_at = new.expires_in_days.map(|d| Utc::now() + Duration::days(i64::from(d)));
    let created = crm_store::api_keys::create(&store, &ctx, &new.name, &new.scopes, expires_at, &secret)
        .await
        .map_err(|e| match e {
            crm_store::StoreError::Database(_) => {
                anyhow::anyhow!("no workspace {workspace} (or the database refused the key: {e})")
            }
            other => other.into(),
        })?;
    Ok(CreatedKey { id: created.id, api_key: key })
}
