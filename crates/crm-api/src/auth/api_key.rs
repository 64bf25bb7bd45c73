//! API keys: `crm_<prefix>_<secret>`, 190 random bits, stored as a SHA-256 hash. Verified
//! keys are cached briefly so that a request does not cost a lookup and a write.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crm_domain::access::Scope;
use crm_domain::api_key::ApiKey;
use crm_domain::{ApiKeyId, WorkspaceId};
use crm_store::Store;
use crm_store::api_keys::KeySecret;
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// How long a verified key is trusted without a lookup; a key revoked on another node
/// stops working within this time (on this node, at once).
const CACHE_TTL: Duration = Duration::from_secs(10);
/// `last_used_at` is written at most this often per key.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

fn random(len: usize) -> String {
    rand::rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

/// The SHA-256 of a key's text: what the cache is keyed by.
fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The digest as the store keeps it.
pub fn hash(key: &str) -> String {
    hex::encode(digest(key))
}

/// A new key: the full text to show once, and what the store keeps.
pub fn generate() -> (String, KeySecret) {
    let prefix = random(8);
    let key = format!("crm_{prefix}_{}", random(32));
    let secret = KeySecret { hash: hash(&key), prefix };
    (key, secret)
}

/// A key found valid: the workspace it acts in and what it may do there.
#[derive(Clone)]
pub struct VerifiedKey {
    pub workspace_id: WorkspaceId,
    pub id: ApiKeyId,
    pub scopes: Arc<[Scope]>,
    revoked: bool,
    expires_at: Option<DateTime<Utc>>,
}

impl VerifiedKey {
    fn new(workspace_id: WorkspaceId, key: ApiKey) -> VerifiedKey {
        VerifiedKey {
            workspace_id,
            id: key.id,
            scopes: key.scopes.into(),
            revoked: key.revoked_at.is_some(),
            expires_at: key.expires_at,
        }
    }
}

struct Cached {
    key: VerifiedKey,
    fetched: Instant,
    touched: Option<Instant>,
}

/// Verified keys by the SHA-256 of their text.
#[derive(Default)]
pub struct ApiKeyCache {
    entries: RwLock<HashMap<[u8; 32], Cached>>,
}

impl ApiKeyCache {
    pub async fn authenticate(&self, store: &Store, presented: &str) -> Result<VerifiedKey, ApiError> {
        let unauthorized = || ApiError::unauthorized("the API key is not valid");
        if !presented.starts_with("crm_") || presented.len() > 100 {
            return Err(unauthorized());
        }
        let digest = digest(presented);
        // The common case, a fresh entry not due for `last_used_at`, takes only the read lock.
        let (fresh, touched) = self
            .entries
            .read()
            .ok()
            .and_then(|entries| {
                let c = entries.get(&digest)?;
                Some(((c.fetched.elapsed() < CACHE_TTL).then(|| c.key.clone()), c.touched))
            })
            .unwrap_or((None, None));
        let (key, fetched) = match fresh {
            Some(key) => (key, None),
            None => {
                let (workspace_id, key) =
                    crm_store::api_keys::find_by_hash(store, &hash(presented)).await?.ok_or_else(unauthorized)?;
                (VerifiedKey::new(workspace_id, key), Some(Instant::now()))
            }
        };
        let now = Utc::now();
        if key.revoked {
            return Err(ApiError::unauthorized("the API key has been revoked"));
        }
        if key.expires_at.is_some_and(|at| at <= now) {
            return Err(ApiError::unauthorized("the API key has expired"));
        }
        let due = touched.is_none_or(|t| t.elapsed() >= TOUCH_EVERY);
        if due {
            crm_store::api_keys::touch(store, key.id, now).await?;
        }
        if (due || fetched.is_some())
            && let Ok(mut entries) = self.entries.write()
        {
            let entry = entries.entry(digest).or_insert_with(|| Cached {
                key: key.clone(),
                fetched: Instant::now(),
                touched: None,
            });
            if let Some(at) = fetched {
                *entry = Cached { key: key.clone(), fetched: at, touched: entry.touched };
            }
            if due {
                entry.touched = Some(Instant::now());
            }
        }
        Ok(key)
    }

    /// Forgets a key at once (after revocation on this node).
    pub fn forget(&self, id: ApiKeyId) {
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|_, c| c.key.id != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_shape() {
        let (key, secret) = generate();
        let parts: Vec<&str> = key.split('_').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!((parts[0], parts[1].len(), parts[2].len()), ("crm", 8, 32));
        assert_eq!(parts[1], secret.prefix);
        assert_eq!(secret.hash, hash(&key));
        assert_ne!(generate().0, key);
    }
}
