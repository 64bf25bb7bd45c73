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

/// HTTP workers when `CRM_WORKERS` is not set: one per core, but half the cores (rounded up)
/// when the PostgreSQL URL is local. Its backends then share the service's cores, and each worker
/// reads through one pipelined connection: measured on 2 cores (the only size measured), one
/// worker answered 1.6× the lookups of two at half the CPU per request, as it kept many reads in
/// flight where two workers each went idle and were woken for every few. A heuristic: a local
/// proxy to a remote server looks local, a database container on this machine does not.
fn default_workers(database_url: &str, cores: usize) -> usize {
    if crm_store::postgres_is_local(database_url) { cores.div_ceil(2) } else { cores }
}

/// Connections per pool when `CRM_DB_POOL_SIZE` is not set: 4 per worker thread, and 8 for a
/// single worker, so that on PostgreSQL one worker still commits as many writes at once as two.
fn default_pool_size(workers: usize) -> usize {
    if workers == 1 { 8 } else { 4 }
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
        let workers = env_number("CRM_WORKERS", default_workers(&database_url, cores()))?;
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
            workers,
            pool_size: env_number("CRM_DB_POOL_SIZE", default_pool_size(workers))?,
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
        if config.workers == 0 || config.pool_size == 0 || config.body_limit == 0 {
            bail!("CRM_WORKERS, CRM_DB_POOL_SIZE and CRM_BODY_LIMIT must be positive");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_postgres_gets_half_the_cores() {
        assert_eq!(default_workers("postgres://postgres@127.0.0.1:5432/crm", 2), 1);
        assert_eq!(default_workers("postgres://postgres@localhost/crm", 8), 4);
        assert_eq!(default_workers("postgres://postgres@localhost/crm", 3), 2);
        assert_eq!(default_workers("postgres://postgres@localhost/crm", 1), 1);
        assert_eq!(default_workers("postgres://postgres@db.internal/crm", 2), 2);
        assert_eq!(default_workers("sqlite://crm.db", 2), 2);
    }

    #[test]
    fn one_worker_keeps_as_many_connections_as_two() {
        assert_eq!(default_pool_size(1), 8);
        assert_eq!(default_pool_size(2), 4);
        assert_eq!(default_pool_size(8), 4);
    }
}
