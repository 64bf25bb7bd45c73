//! API keys: credentials for integrations, limited by scopes and an optional expiry.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::Scope;
use crate::{ApiKeyId, ValidationErrors};

/// An API key as listed. The secret is shown once, at creation, and never stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: ApiKeyId,
    #[schema(example = "Shop integration")]
    pub name: String,
    /// The public part of the key (`crm_<prefix>_…`), to recognise it in logs and lists.
    #[schema(example = "k3J9xQ2m")]
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    #[schema(example = 1)]
    pub version: i64,
    pub created_at: DateTime<Utc>,
}

/// A freshly created key, with its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The full key. Store it now: it cannot be shown again.
    #[schema(example = "crm_k3J9xQ2m_Zx8vN1qL0aR7tY4uW2sE9dF6gH3jK5lM")]
    pub api_key: String,
}

/// The body of `POST /v1/api-keys`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Shop integration", "scopes": ["customers:read", "customers:write"], "expires_in_days": 365}))]
pub struct NewApiKey {
    #[schema(max_length = 100)]
    pub name: String,
    pub scopes: Vec<Scope>,
    /// 1 to 3650 days; absent means the key does not expire.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
}

impl NewApiKey {
    pub fn validate(self) -> Result<NewApiKey, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let name = e.text("name", Some(self.name), 100).unwrap_or_default();
        if name.is_empty() {
            e.add("name", "required", "must not be blank");
        }
        if self.scopes.is_empty() {
            e.add("scopes", "required", "a key needs at least one scope");
        }
        if self.expires_in_days.is_some_and(|d| !(1..=3650).contains(&d)) {
            e.add("expires_in_days", "out_of_range", "must be between 1 and 3650");
        }
        let mut scopes = self.scopes;
        scopes.sort_by_key(|s| s.as_str());
        scopes.dedup();
        e.into_result(NewApiKey { name, scopes, ..self })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_deduplicated_and_required() {
        let key = NewApiKey {
            name: "x".into(),
            scopes: vec![Scope::CustomersWrite, Scope::CustomersRead, Scope::CustomersWrite],
            expires_in_days: Some(30),
        };
        assert_eq!(key.validate().map(|k| k.scopes), Ok(vec![Scope::CustomersRead, Scope::CustomersWrite]));
        let empty = NewApiKey { name: "x".into(), scopes: vec![], expires_in_days: Some(0) };
        let codes: Vec<_> = empty.validate().err().unwrap_or_default().0.into_iter().map(|e| e.code).collect();
        assert_eq!(codes, ["required", "out_of_range"]);
    }
}
