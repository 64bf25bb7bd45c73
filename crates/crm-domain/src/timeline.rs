//! The customer timeline: everything that happened with one customer, on every channel, newest
//! first, behind one cursor. Each kind of entry is read page by page from its own table; the
//! pages are merged here, so a deep page costs what the first one does.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::deal::StageChange;
use crate::interaction::Interaction;
use crate::loyalty::LedgerEntry;
use crate::purchase::Purchase;
use crate::task::Task;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    /// A call, email, meeting, chat, visit or note (`data` is the interaction).
    Interaction,
    /// A task about the customer was created (`data` is the task as it is now).
    Task,
    /// One of the customer's deals moved to another stage (`data` is the stage change).
    DealStageChange,
    /// The customer record itself changed (`data` is the audit event).
    Change,
    /// The customer bought something (`data` is the purchase as it is now, refunds included).
    Purchase,
    /// Points were earned, redeemed, adjusted, expired or reversed (`data` is the ledger entry).
    Points,
}

impl TimelineKind {
    pub const ALL: [TimelineKind; 6] = [
        TimelineKind::Interaction,
        TimelineKind::Task,
        TimelineKind::DealStageChange,
        TimelineKind::Change,
        TimelineKind::Purchase,
        TimelineKind::Points,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Interaction => "interaction",
            TimelineKind::Task => "task",
            TimelineKind::DealStageChange => "deal_stage_change",
            TimelineKind::Change => "change",
            TimelineKind::Purchase => "purchase",
            TimelineKind::Points => "points",
        }
    }

    pub fn parse(s: &str) -> Option<TimelineKind> {
        TimelineKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One entry of a customer's timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "kind": "interaction",
    "id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1b",
    "occurred_at": "2026-11-20T14:30:00Z",
    "summary": "phone (outbound): Renewal terms",
    "data": {"channel": "phone", "direction": "outbound", "subject": "Renewal terms"}
}))]
pub struct TimelineEntry {
    pub kind: TimelineKind,
    /// The id of the underlying record (interaction, task, stage change, event, purchase or points).
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// One line for people.
    pub summary: String,
    /// The underlying record, as its own endpoint returns it; `kind` says which.
    #[schema(value_type = Object)]
    pub data: TimelineData,
}

/// The record behind a timeline entry. Kept typed until the response is written, so a page
/// serializes each record once and the entries merged away are never serialized.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum TimelineData {
    Interaction(Interaction),
    Task(Task),
    DealStageChange(StageChange),
    Change(AuditEvent),
    Purchase(Box<Purchase>),
    Points(LedgerEntry),
}

impl TimelineEntry {
    /// The entry of `data`: its kind, id and time are the record's.
    pub fn new(data: TimelineData, summary: String) -> TimelineEntry {
        let (kind, id, occurred_at) = match &data {
            TimelineData::Interaction(i) => (TimelineKind::Interaction, i.id.0, i.data.occurred_at),
            TimelineData::Task(t) => (TimelineKind::Task, t.id.0, t.created_at),
            TimelineData::DealStageChange(c) => (TimelineKind::DealStageChange, c.id, c.at),
            TimelineData::Change(e) => (TimelineKind::Change, e.id.0, e.occurred_at),
            TimelineData::Purchase(p) => (TimelineKind::Purchase, p.id.0, p.occurred_at),
            TimelineData::Points(e) => (TimelineKind::Points, e.id.0, e.created_at),
        };
        TimelineEntry { kind, id, occurred_at, summary, data }
    }
}

/// "phone (outbound): Renewal terms"
pub fn interaction_summary(i: &crate::interaction::Interaction) -> String {
    let channel = i.data.channel.as_str();
    let head = match i.data.direction {
        Some(direction) => format!("{channel} ({})", direction.as_str()),
        None => channel.to_owned(),
    };
    match &i.data.subject {
        Some(subject) => format!("{head}: {subject}"),
        None => head,
    }
}

/// "task (open): Send the proposal"
pub fn task_summary(t: &crate::task::Task) -> String {
    format!("task ({}): {}", t.data.status.as_str(), t.data.title)
}

/// "Shop fit-out moved Proposal → Won"; a deal's first entry has no `from`.
pub fn stage_change_summary(deal: &str, from: Option<&str>, to: &str) -> String {
    match from {
        Some(from) => format!("{deal} moved {from} → {to}"),
        None => format!("{deal} opened in {to}"),
    }
}

/// "update: lifecycle_stage, tags" or "reassign: owner_id (Taras covers Lviv)"
pub fn change_summary(event: &crate::audit::AuditEvent) -> String {
    let fields: Vec<&str> = event.changes.iter().map(|c| c.field.as_str()).collect();
    let head = format!("{}: {}", event.action.as_str(), fields.join(", "));
    match &event.reason {
        Some(reason) => format!("{head} ({reason})"),
        None => head,
    }
}

/// Merges pages that are each ordered newest first (by `occurred_at`, then `id`) into one page
/// of at most `limit` entries in the same order.
pub fn merge_newest_first(sources: Vec<Vec<TimelineEntry>>, limit: usize) -> Vec<TimelineEntry> {
    let mut all: Vec<TimelineEntry> = sources.into_iter().flatten().collect();
    all.sort_by_key(|e| std::cmp::Reverse((e.occurred_at, e.id)));
    all.truncate(limit);
    all
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn entry(second: u32, id: u128) -> TimelineEntry {
        let change = StageChange {
            id: Uuid::from_u128(id),
            deal_id: crate::DealId(Uuid::nil()),
            customer_id: crate::CustomerId(Uuid::nil()),
            from_stage_id: None,
            to_stage_id: crate::StageId(Uuid::nil()),
            at: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, second).single().unwrap_or_default(),
            actor: crate::access::Actor::System,
        };
        TimelineEntry::new(TimelineData::DealStageChange(change), String::new())
    }

    #[test]
    fn merges_newest_first_with_ties_broken_by_id() {
        let interactions = vec![entry(9, 1), entry(5, 2)];
        let tasks = vec![entry(7, 3), entry(5, 4)];
        let changes = vec![entry(1, 5)];
        let merged = merge_newest_first(vec![interactions, tasks, changes], 4);
        let order: Vec<u128> = merged.iter().map(|e| e.id.as_u128()).collect();
        assert_eq!(order, [1, 3, 4, 2], "9s, 7s, then the 5s tie by id descending");
    }

    #[test]
    fn stage_moves_read_as_sentences() {
        assert_eq!(stage_change_summary("Fit-out", Some("Proposal"), "Won"), "Fit-out moved Proposal → Won");
        assert_eq!(stage_change_summary("Fit-out", None, "Qualified"), "Fit-out opened in Qualified");
    }

    #[test]
    fn kinds_round_trip() {
        for kind in TimelineKind::ALL {
            assert_eq!(TimelineKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).ok(), Some(serde_json::Value::from(kind.as_str())));
        }
        assert_eq!(TimelineKind::parse("bogus"), None);
    }
}
