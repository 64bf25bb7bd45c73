//! The `crm` binary: argument parsing only.

use clap::{Parser, Subcommand};
use crm_api::config::{Config, DEFAULT_DATABASE_URL};
use crm_api::startup::Application;
use crm_domain::WorkspaceId;

#[derive(Parser)]
#[command(name = "crm", version, about = "CRM service: JSON REST API over SQLite or PostgreSQL")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a workspace, its first admin user and an API key with every scope.
    Bootstrap {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
    },
    /// Create an API key in a workspace.
    CreateApiKey {
        #[arg(long)]
        workspace: WorkspaceId,
        #[arg(long)]
        name: String,
        /// Comma-separated, e.g. `customers:read,customers:write`.
        #[arg(long)]
        scopes: String,
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Expire the loyalty points that are due, in every workspace; prints what expired.
    ExpirePoints,
}

fn database_url() -> anyhow::Result<String> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
    crm_store::Backend::of_url(&url)?;
    Ok(url)
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let config = Config::from_env()?;
            let app = Application::build(config.clone()).await?;
            log::info!(
                "listening on {} (port {}) with {} HTTP worker(s), {} database connection(s) per pool",
                config.bind,
                app.port(),
                config.workers,
                config.pool_size
            );
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            let url = database_url()?;
            let applied = tokio::task::spawn_blocking(move || crm_store::run_migrations(&url)).await??;
            log::info!("applied {applied} migration(s)");
        }
        Command::Openapi => print!("{}", crm_api::openapi::spec_json()),
        Command::Admin { command: AdminCommand::Bootstrap { workspace, email, password } } => {
            print_json(&crm_api::admin::bootstrap(&database_url()?, &workspace, &email, &password).await?)?;
        }
        Command::Admin { command: AdminCommand::CreateApiKey { workspace, name, scopes, expires_in_days } } => {
            let key =
                crm_api::admin::create_api_key(&database_url()?, workspace, &name, &scopes, expires_in_days).await?;
            print_json(&key)?;
        }
        Command::Admin { command: AdminCommand::ExpirePoints } => {
            print_json(&crm_api::admin::expire_points(&database_url()?).await?)?;
        }
    }
    Ok(())
}
