//! Configuration from the environment, validated once at start-up.

use anyhow::{Context, bail};
use rand::RngCore;

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub replica_url: Option<String>,
    pub bind: String,
    pub jwt_secret: Vec<u8>,
    pub production: bool,
    /// Sustained requests per second per caller (API key, user, or client IP).
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// Sign-in attempts per minute per email address.
    pub login_attempts_per_minute: u32,
    /// Public web-form submissions per minute per client IP.
    pub form_submissions_per_minute: u32,
    pub workers: usize,
    pub pool_size: usize,
    pub body_limit: usize,
    /// Seconds between runs of points expiry on this node (one node runs it per interval);
    /// 0 turns it off (e.g. when cron runs `crm admin expire-points`).
    pub points_expiry_interval_secs: u64,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://crm.db";
const MIN_SECRET_BYTES: usize = 32;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(raw) => raw.trim().parse().ok().with_context(|| format!("{name} must be a positive number, got {raw:?}")),
        Err(_) => Ok(default),
    }
}

fn random_secret() -> Vec<u8> {
    let mut secret = vec![0u8; MIN_SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    secret
}

impl Config {
    pub fn from_env() -> anyhow::Result<Config> {
        let production = match std::env::var("CRM_ENV").as_deref() {
            Ok("production") => true,
            Ok("development") | Err(_) => false,
            Ok(other) => bail!("CRM_ENV must be `production` or `development`, got {other:?}"),
        };
        let jwt_secret = match std::env::var("CRM_JWT_SECRET") {
            Ok(secret) if secret.len() >= MIN_SECRET_BYTES => secret.into_bytes(),
            Ok(_) => bail!("CRM_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes"),
            Err(_) if production => {
                bail!("CRM_ENV=production requires CRM_JWT_SECRET (at least {MIN_SECRET_BYTES} bytes)")
            }
            Err(_) => {
                log::warn!(
                    "CRM_JWT_SECRET is not set: using a random secret for this process; tokens will not survive a restart"
                );
                random_secret()
            }
        };
        let database_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
        crm_store::Backend::of_url(&database_url)?;
        let config = Config {
            database_url,
            replica_url: std::env::var("DATABASE_REPLICA_URL").ok().filter(|u| !u.is_empty()),
            bind: std::env::var("CRM_BIND").unwrap_or_else(|_| "127.0.0.1:8080".to_owned()),
            jwt_secret,
            production,
            rate_limit_per_second: env_number("CRM_RATE_LIMIT_PER_SECOND", 100)?,
            rate_limit_burst: env_number("CRM_RATE_LIMIT_BURST", 200)?,
            login_attempts_per_minute: env_number("CRM_LOGIN_ATTEMPTS_PER_MINUTE", 10)?,
            form_submissions_per_minute: env_number("CRM_FORM_SUBMISSIONS_PER_MINUTE", 30)?,
            workers: env_number("CRM_WORKERS", cores())?,
            pool_size: env_number("CRM_DB_POOL_SIZE", 4)?,
            body_limit: env_number("CRM_BODY_LIMIT", 1024 * 1024)?,
            points_expiry_interval_secs: env_number("CRM_POINTS_EXPIRY_INTERVAL_SECS", 3600)?,
        };
        if config.rate_limit_per_second == 0
            || config.rate_limit_burst == 0
            || config.login_attempts_per_minute == 0
            || config.form_submissions_per_minute == 0
        {
            bail!("rate limits must be positive");
        }
        Ok(config)
    }

    /// A configuration for tests: a fresh secret, two workers, limits no test reaches by accident.
    pub fn for_tests(database_url: &str) -> Config {
        Config {
            database_url: database_url.to_owned(),
            replica_url: None,
            bind: "127.0.0.1:0".to_owned(),
            jwt_secret: random_secret(),
            production: false,
            rate_limit_per_second: 10_000,
            rate_limit_burst: 10_000,
            login_attempts_per_minute: 1_000,
            form_submissions_per_minute: 10_000,
            workers: 2,
            pool_size: 8,
            body_limit: 1024 * 1024,
            // Tests that need it turn it on; the others keep their databases to themselves.
            points_expiry_interval_secs: 0,
        }
    }
}
