//! Audit events: who changed which field of which record, from what to what.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AuditEventId;
use crate::access::Actor;

/// What happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Create,
    Update,
    Delete,
    Restore,
    /// The owner changed hands (`reason` says why).
    Reassign,
    /// Money (and possibly units) of a purchase given back (`reason` says why).
    Refund,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Create => "create",
            AuditAction::Update => "update",
            AuditAction::Delete => "delete",
            AuditAction::Restore => "restore",
            AuditAction::Reassign => "reassign",
            AuditAction::Refund => "refund",
        }
    }

    pub fn parse(s: &str) -> Option<AuditAction> {
        [
            AuditAction::Create,
            AuditAction::Update,
            AuditAction::Delete,
            AuditAction::Restore,
            AuditAction::Reassign,
            AuditAction::Refund,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// One changed field. Nested objects are reported per leaf, as `address.city`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Change {
    #[schema(example = "lifecycle_stage")]
    pub field: String,
    #[schema(example = json!("lead"))]
    pub from: Value,
    #[schema(example = json!("customer"))]
    pub to: Value,
}

/// An entry of a record's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub action: AuditAction,
    #[schema(example = "customer")]
    pub entity_type: String,
    pub entity_id: Uuid,
    pub actor: Actor,
    pub changes: Vec<Change>,
    /// The `X-Request-Id` of the request that made the change.
    pub request_id: Option<String>,
    /// Why, when the caller said (reassignments, disqualifications).
    pub reason: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

/// Field-by-field differences between two JSON documents.
pub fn diff(before: &Value, after: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    diff_into("", before, after, &mut changes);
    changes
}

fn diff_into(prefix: &str, before: &Value, after: &Value, out: &mut Vec<Change>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let field = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                let (x, y) = (a.get(key).unwrap_or(&Value::Null), b.get(key).unwrap_or(&Value::Null));
                diff_into(&field, x, y, out);
            }
        }
        (Value::Object(a), Value::Null) => diff_into(prefix, before, &Value::Object(empty_like(a)), out),
        (Value::Null, Value::Object(b)) => diff_into(prefix, &Value::Object(empty_like(b)), after, out),
        _ if is_empty(before) && is_empty(after) => {}
        _ if before != after => out.push(Change { field: prefix.to_owned(), from: before.clone(), to: after.clone() }),
        _ => {}
    }
}

/// `null`, `[]` and `{}` all mean "nothing here": going from one to another is no change.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn empty_like(map: &serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    map.keys().map(|k| (k.clone(), Value::Null)).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(changes: &[Change]) -> Vec<&str> {
        changes.iter().map(|c| c.field.as_str()).collect()
    }

    #[test]
    fn reports_leaf_changes_only() {
        let before = json!({"a": 1, "address": {"city": "Kyiv", "country": "UA"}, "tags": ["x"]});
        let after = json!({"a": 1, "address": {"city": "Lviv", "country": "UA"}, "tags": ["x", "y"]});
        let changes = diff(&before, &after);
        assert_eq!(fields(&changes), ["address.city", "tags"]);
        assert_eq!(changes[0].from, json!("Kyiv"));
        assert_eq!(changes[0].to, json!("Lviv"));
    }

    #[test]
    fn creation_and_clearing_of_objects() {
        let changes = diff(&json!({"address": null}), &json!({"address": {"city": "Tallinn"}}));
        assert_eq!(fields(&changes), ["address.city"]);
        let cleared = diff(&json!({"address": {"city": "Tallinn"}}), &json!({}));
        assert_eq!(cleared[0].to, Value::Null);
    }

    #[test]
    fn empty_collections_are_no_change_from_null() {
        let changes = diff(&json!({}), &json!({"tags": [], "custom_fields": {}, "name": "x"}));
        assert_eq!(fields(&changes), ["name"]);
    }

    #[test]
    fn identical_documents_have_no_changes() {
        let doc = json!({"a": [1, 2], "b": {"c": null}});
        assert!(diff(&doc, &doc).is_empty());
    }
}
