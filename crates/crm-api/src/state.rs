//! What every handler can reach: the store, keys, limiters and metrics.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use crm_domain::access::Actor;
use crm_store::Store;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::auth::api_key::ApiKeyCache;
use crate::auth::jwt::JwtKeys;
use crate::config::Config;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;

pub type KeyedLimiter<K = String> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// Whom the request rate of `/v1` is counted for: the authenticated actor, or else the client's
/// address. A value, not a formatted string, so counting a request allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateKey {
    Actor(Actor),
    Address(Option<IpAddr>),
}

pub struct AppState {
    pub store: Store,
    pub jwt: JwtKeys,
    pub api_keys: ApiKeyCache,
    /// Requests per caller. Per node: with N nodes a caller gets up to N times the rate.
    pub limiter: KeyedLimiter<RateKey>,
    pub rate_limit_burst: u32,
    /// Sign-in attempts per email.
    pub login_limiter: KeyedLimiter,
    /// Public web-form submissions per client IP.
    pub form_limiter: KeyedLimiter,
    pub metrics: Metrics,
    pub decoy_hash: String,
}

/// Counts one request for `key`: the remaining burst, or the 429 (with `Retry-After`) to answer.
pub fn check_rate<K: Hash + Eq + Clone>(limiter: &KeyedLimiter<K>, key: &K, detail: &str) -> Result<u32, ApiError> {
    match limiter.check_key(key) {
        Ok(snapshot) => Ok(snapshot.remaining_burst_capacity()),
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Err(ApiError { retry_after: Some(wait.as_secs().max(1)), ..ApiError::new(ErrorCode::RateLimited, detail) })
        }
    }
}

fn non_zero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl AppState {
    pub fn new(config: &Config, store: Store) -> prometheus::Result<Arc<AppState>> {
        let quota =
            Quota::per_second(non_zero(config.rate_limit_per_second)).allow_burst(non_zero(config.rate_limit_burst));
        let login_quota = Quota::per_minute(non_zero(config.login_attempts_per_minute));
        Ok(Arc::new(AppState {
            store,
            jwt: JwtKeys::new(&config.jwt_secret),
            api_keys: ApiKeyCache::default(),
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            rate_limit_burst: config.rate_limit_burst,
            login_limiter: RateLimiter::keyed(login_quota).with_middleware::<StateInformationMiddleware>(),
            form_limiter: RateLimiter::keyed(Quota::per_minute(non_zero(config.form_submissions_per_minute)))
                .with_middleware::<StateInformationMiddleware>(),
            metrics: Metrics::new()?,
            decoy_hash: crate::auth::password::decoy_hash(),
        }))
    }
}
