//! Owner handover: a record (lead, customer, deal) changes owner with a reason kept in its history.

use serde::{Deserialize, Serialize};
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

/// The body of `POST /v1/reassignments`: everything open that one owner holds goes to another.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "from_owner_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1b",
    "to_owner_id": "01936f3e-9b6d-7e3f-8c2b-3a5d7e9f1b2c",
    "reason": "Olena left the company"
}))]
pub struct BulkReassign {
    /// The current owner (may already be deactivated).
    pub from_owner_id: UserId,
    /// The new owner: an active user of the workspace.
    pub to_owner_id: UserId,
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

impl BulkReassign {
    pub fn validate(self) -> Result<BulkReassign, ValidationErrors> {
        let Reassign { owner_id, reason } = Reassign { owner_id: self.to_owner_id, reason: self.reason }.validate()?;
        if owner_id == self.from_owner_id {
            return Err(ValidationErrors::single("to_owner_id", "same_owner", "must differ from from_owner_id"));
        }
        Ok(BulkReassign { from_owner_id: self.from_owner_id, to_owner_id: owner_id, reason })
    }
}

/// How many records changed owner, per kind. Deleted records, converted or disqualified leads
/// and closed deals keep their owner: they are history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReassignCounts {
    pub customers: u64,
    pub leads: u64,
    pub deals: u64,
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

    #[test]
    fn bulk_needs_two_owners() {
        let same = UserId(uuid::Uuid::nil());
        let bulk = BulkReassign { from_owner_id: same, to_owner_id: same, reason: "x".into() };
        let errors = bulk.validate().err().map(|e| e.0[0].code.clone());
        assert_eq!(errors.as_deref(), Some("same_owner"));
    }
}
