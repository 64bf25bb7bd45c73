//! Owner handover: a record (lead, customer, deal) changes owner with a reason kept in its history.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::{UserId, ValidationErrors};

pub const REASON_MAX: usize = 500;

/// The body of `POST /v1/{leads|customers|deals}/{id}/reassign`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"owner_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1b", "reason": "Taras covers Lviv from December"}))]
pub struct Reassign {
    /// The new owner: an active user of the workspace.
    pub owner_id: UserId,
    /// Why; kept in the record's history.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

impl Reassign {
    /// The trimmed reason, or the problems with it.
    pub fn validate(self) -> Result<Reassign, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let reason = e.text("reason", Some(self.reason), REASON_MAX);
        if reason.is_none() && e.is_empty() {
            e.add("reason", "required", "say why the owner changes");
        }
        e.into_result(Reassign { owner_id: self.owner_id, reason: reason.unwrap_or_default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reassign(reason: &str) -> Reassign {
        Reassign { owner_id: UserId(uuid::Uuid::nil()), reason: reason.to_owned() }
    }

    #[test]
    fn reason_is_required_trimmed_and_bounded() {
        assert_eq!(reassign("  leaving  ").validate().map(|r| r.reason).ok(), Some("leaving".to_owned()));
        let blank = reassign("   ").validate().err().map(|e| e.0[0].code.clone());
        assert_eq!(blank.as_deref(), Some("required"));
        let long = reassign(&"x".repeat(REASON_MAX + 1)).validate().err().map(|e| e.0[0].code.clone());
        assert_eq!(long.as_deref(), Some("too_long"));
        let nul = reassign("a\0b").validate().err().map(|e| e.0[0].code.clone());
        assert_eq!(nul.as_deref(), Some("invalid_characters"));
    }
}
