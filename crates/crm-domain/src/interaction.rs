//! Interactions: every contact with a customer on any channel (email, call, meeting, chat, …),
//! logged by people or integrations; the raw material of the customer timeline.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::access::Actor;
use crate::customer::str_enum;
use crate::{CustomerId, DealId, InteractionId, LeadId, UserId, ValidationErrors};

pub const SUBJECT_MAX: usize = 300;
/// 100 KiB of UTF-8: a long email thread fits, a mailbox export does not.
pub const BODY_MAX_BYTES: usize = 100 * 1024;
pub const EXTERNAL_ID_MAX: usize = 255;
pub const METADATA_MAX_BYTES: usize = 16 * 1024;
/// A week: conferences and workshops, not open-ended sessions.
pub const DURATION_MAX_SECONDS: u32 = 7 * 24 * 3600;
/// How far ahead `occurred_at` may be: clock skew and time-zone slips, not scheduling.
pub const FUTURE_TOLERANCE_HOURS: i64 = 24;

/// The channel an interaction happened on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Phone,
    Meeting,
    Chat,
    Social,
    Web,
    Store,
    Note,
}

/// Who started it: the customer (`inbound`), us (`outbound`), or nobody outside (`internal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
    Internal,
}

str_enum!(Channel {
    Email => "email", Phone => "phone", Meeting => "meeting", Chat => "chat", Social => "social",
    Web => "web", Store => "store", Note => "note"
});
str_enum!(Direction { Inbound => "inbound", Outbound => "outbound", Internal => "internal" });

/// The writable fields of an interaction: the body of `POST /v1/interactions`, and the
/// document a `PATCH` merge patch is applied to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "channel": "phone",
    "direction": "outbound",
    "subject": "Renewal call",
    "body": "Agreed to send the new price list by Friday.",
    "occurred_at": "2026-11-20T14:30:00Z",
    "duration_seconds": 540,
    "customer_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1b"
}))]
pub struct InteractionInput {
    pub channel: Channel,
    /// Required except for notes, which are always `internal`.
    #[serde(default)]
    pub direction: Option<Direction>,
    #[serde(default)]
    #[schema(max_length = 300)]
    pub subject: Option<String>,
    /// Plain text, at most 100 KiB (UTF-8).
    #[serde(default)]
    #[schema(max_length = 102400)]
    pub body: Option<String>,
    /// When it happened; at most 24 h in the future, not before 1900.
    pub occurred_at: DateTime<Utc>,
    #[serde(default)]
    #[schema(maximum = 604800)]
    pub duration_seconds: Option<u32>,
    /// At least one of `customer_id`, `deal_id`, `lead_id` is required.
    #[serde(default)]
    pub customer_id: Option<CustomerId>,
    #[serde(default)]
    pub deal_id: Option<DealId>,
    #[serde(default)]
    pub lead_id: Option<LeadId>,
    /// The user who had the interaction; defaults to the signed-in user on create.
    #[serde(default)]
    pub user_id: Option<UserId>,
    /// The integration's own id (e.g. an email `Message-ID`): unique among the workspace's
    /// live interactions, so a re-sent one is answered 409 `interaction_exists`.
    #[serde(default)]
    #[schema(max_length = 255, example = "<CAF=x1@mail.example.com>")]
    pub external_id: Option<String>,
    /// Free-form data from the integration (16 KiB of JSON at most).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
}

/// An interaction as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Interaction {
    pub id: InteractionId,
    #[serde(flatten)]
    pub data: InteractionInput,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl utoipa::PartialSchema for Interaction {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::record_schema::record_schema(
            InteractionInput::schema(),
            InteractionId::schema(),
            Vec::new(),
            "interaction",
            "An interaction with a customer on one channel.",
        )
    }
}

impl ToSchema for Interaction {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        InteractionInput::schemas(schemas);
        schemas.push((InteractionInput::name().into_owned(), <InteractionInput as utoipa::PartialSchema>::schema()));
        // Path parameters refer to the id type by name.
        schemas.push((InteractionId::name().into_owned(), <InteractionId as utoipa::PartialSchema>::schema()));
    }
}

/// The earliest `occurred_at` (and task due date) accepted: older dates are typos.
pub fn earliest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The user a signed-in caller is; `None` for API keys and the system.
pub fn acting_user(actor: Actor) -> Option<UserId> {
    match actor {
        Actor::User(id) => Some(id),
        Actor::ApiKey(_) | Actor::System => None,
    }
}

/// Rejects NUL anywhere in a JSON document (PostgreSQL's jsonb cannot store it) and bounds its size.
pub(crate) fn check_metadata(e: &mut ValidationErrors, field: &str, metadata: &Map<String, Value>) {
    fn has_nul(value: &Value) -> bool {
        match value {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().any(has_nul),
            Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    if metadata.iter().any(|(k, v)| k.contains('\0') || has_nul(v)) {
        e.add(field, "invalid_characters", "must not contain NUL characters");
    }
    if serde_json::to_vec(metadata).map_or(0, |v| v.len()) > METADATA_MAX_BYTES {
        e.add(field, "too_long", "must fit in 16 KiB of JSON");
    }
}

impl InteractionInput {
    /// Fills `user_id` with the signed-in user when the client left it out (creates only).
    pub fn with_default_user(mut self, actor: Actor) -> InteractionInput {
        self.user_id = self.user_id.or(acting_user(actor));
        self
    }

    /// Lower-cased text that `q=` searches: the subject.
    pub fn search_text(&self) -> String {
        self.subject.as_deref().unwrap_or_default().to_lowercase()
    }

    /// Checks every field against `now` and returns the normalised interaction, or every problem.
    pub fn validate(self, now: DateTime<Utc>) -> Result<InteractionInput, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let direction = match (self.channel, self.direction) {
            (Channel::Note, None | Some(Direction::Internal)) => Some(Direction::Internal),
            (Channel::Note, Some(_)) => {
                e.add("direction", "invalid_value", "notes are always `internal`");
                None
            }
            (_, None) => {
                e.add("direction", "required", "say whether it was inbound, outbound or internal");
                None
            }
            (_, direction) => direction,
        };
        let subject = e.text("subject", self.subject, SUBJECT_MAX);
        let body = self.body.and_then(|body| {
            if body.len() > BODY_MAX_BYTES {
                e.add("body", "too_long", "must be at most 100 KiB");
            }
            e.check_chars("body", &body);
            Some(body.trim().to_owned()).filter(|b| !b.is_empty())
        });
        if self.occurred_at > now + Duration::hours(FUTURE_TOLERANCE_HOURS) {
            e.add("occurred_at", "in_future", "must not be more than 24 hours in the future");
        }
        if self.occurred_at < earliest() {
            e.add("occurred_at", "out_of_range", "must not be before 1900");
        }
        if self.duration_seconds.is_some_and(|d| d > DURATION_MAX_SECONDS) {
            e.add("duration_seconds", "out_of_range", format!("must be at most {DURATION_MAX_SECONDS}"));
        }
        if self.customer_id.is_none() && self.deal_id.is_none() && self.lead_id.is_none() {
            e.add("customer_id", "required", "link the interaction to a customer, a deal or a lead");
        }
        let external_id = e.text("external_id", self.external_id, EXTERNAL_ID_MAX);
        check_metadata(&mut e, "metadata", &self.metadata);
        e.into_result(InteractionInput {
            channel: self.channel,
            direction,
            subject,
            body,
            occurred_at: self.occurred_at,
            duration_seconds: self.duration_seconds,
            customer_id: self.customer_id,
            deal_id: self.deal_id,
            lead_id: self.lead_id,
            user_id: self.user_id,
            external_id,
            metadata: self.metadata,
        })
    }
}

/// The filters `GET /v1/interactions` accepts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InteractionFilter {
    pub customer_id: Option<CustomerId>,
    pub deal_id: Option<DealId>,
    pub lead_id: Option<LeadId>,
    /// Any of these channels (empty: all).
    pub channels: Vec<Channel>,
    pub direction: Option<Direction>,
    pub user_id: Option<UserId>,
    /// `occurred_at >= occurred_after`.
    pub occurred_after: Option<DateTime<Utc>>,
    /// `occurred_at < occurred_before`.
    pub occurred_before: Option<DateTime<Utc>>,
    /// Case-insensitive substring of the subject.
    pub q: Option<String>,
    pub deleted: bool,
}

/// A list order of interactions: a timestamp, ascending or descending, ties broken by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InteractionSort {
    pub field: InteractionSortField,
    pub descending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InteractionSortField {
    OccurredAt,
    CreatedAt,
}

impl Default for InteractionSort {
    fn default() -> Self {
        InteractionSort { field: InteractionSortField::OccurredAt, descending: true }
    }
}

impl InteractionSort {
    pub const ACCEPTED: [&str; 4] = ["-occurred_at", "occurred_at", "-created_at", "created_at"];

    pub fn parse(s: &str) -> Option<InteractionSort> {
        let (descending, name) = s.strip_prefix('-').map_or((false, s), |name| (true, name));
        let field = match name {
            "occurred_at" => InteractionSortField::OccurredAt,
            "created_at" => InteractionSortField::CreatedAt,
            _ => return None,
        };
        Some(InteractionSort { field, descending })
    }

    pub fn as_str(self) -> &'static str {
        match (self.field, self.descending) {
            (InteractionSortField::OccurredAt, true) => "-occurred_at",
            (InteractionSortField::OccurredAt, false) => "occurred_at",
            (InteractionSortField::CreatedAt, true) => "-created_at",
            (InteractionSortField::CreatedAt, false) => "created_at",
        }
    }

    pub fn key_of(self, interaction: &Interaction) -> DateTime<Utc> {
        match self.field {
            InteractionSortField::OccurredAt => interaction.data.occurred_at,
            InteractionSortField::CreatedAt => interaction.created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::patch::decode;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).single().unwrap_or_default()
    }

    fn input(value: Value) -> InteractionInput {
        decode(value).unwrap_or_else(|e| panic!("decodes: {e}"))
    }

    fn codes(value: Value) -> Vec<(String, String)> {
        match input(value).validate(now()) {
            Ok(i) => panic!("expected errors, got {i:?}"),
            Err(e) => e.0.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    }

    const CUSTOMER: &str = "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1b";

    #[test]
    fn a_call_is_normalised() {
        let call = input(json!({"channel": "phone", "direction": "inbound", "subject": "  Hi ", "body": " text\r\n ",
                                "occurred_at": "2026-11-25T10:00:00Z", "customer_id": CUSTOMER, "external_id": "  "}))
        .validate(now())
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(call.subject.as_deref(), Some("Hi"));
        assert_eq!(call.body.as_deref(), Some("text"));
        assert_eq!(call.external_id, None);
        assert_eq!(call.search_text(), "hi");
    }

    #[test]
    fn notes_are_internal_and_others_need_a_direction() {
        let note = input(json!({"channel": "note", "occurred_at": "2026-11-25T10:00:00Z", "lead_id": CUSTOMER}));
        assert_eq!(note.validate(now()).map(|n| n.direction), Ok(Some(Direction::Internal)));
        let outbound_note = json!({"channel": "note", "direction": "outbound", "occurred_at": "2026-11-25T10:00:00Z",
                                   "deal_id": CUSTOMER});
        assert_eq!(codes(outbound_note), [("direction".into(), "invalid_value".into())]);
        let email = json!({"channel": "email", "occurred_at": "2026-11-25T10:00:00Z", "customer_id": CUSTOMER});
        assert_eq!(codes(email), [("direction".into(), "required".into())]);
    }

    #[test]
    fn a_link_is_required_and_time_is_bounded() {
        let codes = codes(json!({"channel": "chat", "direction": "inbound", "occurred_at": "2026-11-26T12:00:01Z",
                                 "duration_seconds": DURATION_MAX_SECONDS + 1}));
        assert_eq!(
            codes,
            [
                ("occurred_at".into(), "in_future".into()),
                ("duration_seconds".into(), "out_of_range".into()),
                ("customer_id".into(), "required".into())
            ]
        );
        let almost = input(json!({"channel": "web", "direction": "inbound", "occurred_at": "2026-11-26T12:00:00Z",
                                  "customer_id": CUSTOMER}));
        assert!(almost.validate(now()).is_ok(), "24 hours ahead is tolerated");
        let ancient = json!({"channel": "web", "direction": "inbound", "occurred_at": "1899-12-31T23:59:59Z",
                             "customer_id": CUSTOMER});
        assert_eq!(super::tests::codes(ancient), [("occurred_at".into(), "out_of_range".into())]);
    }

    #[test]
    fn text_limits_and_nul_bytes() {
        let body = "x".repeat(BODY_MAX_BYTES + 1);
        let codes = codes(json!({"channel": "email", "direction": "outbound", "occurred_at": "2026-11-25T10:00:00Z",
                                 "customer_id": CUSTOMER, "subject": "a\u{0}b", "body": body,
                                 "metadata": {"k": ["ok", {"deep": "n\u{0}ul"}]}}));
        assert_eq!(
            codes,
            [
                ("subject".into(), "invalid_characters".into()),
                ("body".into(), "too_long".into()),
                ("metadata".into(), "invalid_characters".into())
            ]
        );
        let big = json!({"channel": "email", "direction": "outbound", "occurred_at": "2026-11-25T10:00:00Z",
                         "customer_id": CUSTOMER, "metadata": {"k": "x".repeat(METADATA_MAX_BYTES)}});
        assert_eq!(super::tests::codes(big), [("metadata".into(), "too_long".into())]);
    }

    #[test]
    fn unknown_channels_and_fields_fail_decoding() {
        let bad = decode::<InteractionInput>(json!({"channel": "fax", "occurred_at": "2026-11-25T10:00:00Z"}));
        assert_eq!(bad.err().map(|e| e.0[0].code.clone()).as_deref(), Some("invalid_value"));
        let extra = decode::<InteractionInput>(
            json!({"channel": "note", "occurred_at": "2026-11-25T10:00:00Z", "id": CUSTOMER}),
        );
        assert_eq!(extra.err().map(|e| e.0[0].code.clone()).as_deref(), Some("unknown_field"));
    }

    #[test]
    fn the_signed_in_user_is_the_default() {
        let user = UserId(uuid::Uuid::nil());
        let note = input(json!({"channel": "note", "occurred_at": "2026-11-25T10:00:00Z", "lead_id": CUSTOMER}));
        assert_eq!(note.clone().with_default_user(Actor::User(user)).user_id, Some(user));
        let key = Actor::ApiKey(crate::ApiKeyId(uuid::Uuid::nil()));
        assert_eq!(note.with_default_user(key).user_id, None);
    }

    #[test]
    fn sorts_round_trip() {
        for s in InteractionSort::ACCEPTED {
            assert_eq!(InteractionSort::parse(s).map(InteractionSort::as_str), Some(s));
        }
        assert_eq!(InteractionSort::default().as_str(), "-occurred_at");
        assert_eq!(InteractionSort::parse("subject"), None);
    }
}
