//! Leads: prospects not yet customers, with where they came from (source, UTM, web form),
//! how far they are (status), who works them (owner) and how promising they look (score).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::customer::{parsed, parsed_text, str_enum, validate_tags};
use crate::scoring::ScoreReason;
use crate::values::{parse_country, parse_email, parse_phone, parse_website};
use crate::{CustomerId, DealId, LeadId, UserId, ValidationErrors, WebFormId};

const NAME_MAX: usize = 200;
const NOTES_MAX: usize = 10_000;
const REASON_MAX: usize = 500;
const UTM_MAX: usize = 200;
const FORM_DATA_MAX_BYTES: usize = 16 * 1024;
const FORM_DATA_KEY_MAX: usize = 100;

/// Where the lead came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadSource {
    WebForm,
    Import,
    Referral,
    Campaign,
    Event,
    Social,
    #[default]
    Other,
}

/// How far the lead is. `converted` is set only by converting the lead into a customer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    #[default]
    New,
    Contacted,
    Qualified,
    Disqualified,
    Converted,
}

str_enum!(LeadSource { WebForm => "web_form", Import => "import", Referral => "referral", Campaign => "campaign", Event => "event", Social => "social", Other => "other" });
str_enum!(LeadStatus { New => "new", Contacted => "contacted", Qualified => "qualified", Disqualified => "disqualified", Converted => "converted" });

/// The writable fields of a lead: the body of `POST /v1/leads`, and the document a `PATCH`
/// merge patch is applied to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "source": "referral",
    "status": "new",
    "first_name": "Taras",
    "last_name": "Shevchuk",
    "company_name": "Lviv Coffee",
    "job_title": "Owner",
    "email": "taras@lvivcoffee.example",
    "phone": "+380322123456",
    "industry": "retail",
    "country": "UA",
    "city": "Lviv",
    "utm_source": "newsletter",
    "utm_medium": "email",
    "utm_campaign": "autumn",
    "form_data": {"budget": "5000"},
    "tags": ["coffee"]
}))]
pub struct LeadInput {
    #[serde(default)]
    pub source: LeadSource,
    /// `converted` cannot be set here: converting a lead does that.
    #[serde(default)]
    pub status: LeadStatus,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub first_name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub last_name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub company_name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub job_title: Option<String>,
    /// Unique among the live leads of a workspace.
    #[serde(default)]
    #[schema(max_length = 254, example = "taras@lvivcoffee.example")]
    pub email: Option<String>,
    /// E.164; spaces, dashes and parentheses are accepted and removed.
    #[serde(default)]
    #[schema(max_length = 32, example = "+380322123456")]
    pub phone: Option<String>,
    /// An http(s) URL.
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub website: Option<String>,
    #[serde(default)]
    #[schema(max_length = 100)]
    pub industry: Option<String>,
    /// ISO 3166-1 alpha-2; blank (as a web form sends an empty field) means none.
    #[serde(default)]
    #[schema(
        pattern = r"^([A-Za-z]{2}|[\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*)$",
        example = "UA"
    )]
    pub country: Option<String>,
    #[serde(default)]
    #[schema(max_length = 100)]
    pub city: Option<String>,
    /// A user of the workspace.
    #[serde(default)]
    pub owner_id: Option<UserId>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub utm_source: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub utm_medium: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub utm_campaign: Option<String>,
    /// Free-form answers (e.g. of a web form): keys of 1–100 characters, 16 KiB of JSON in all.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub form_data: Map<String, Value>,
    #[serde(default)]
    #[schema(schema_with = crate::customer::tags_schema)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub notes: Option<String>,
    /// Why the lead was disqualified; required when `status` is `disqualified`.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub lost_reason: Option<String>,
}

/// A lead as the API returns it: the writable fields plus what the service keeps.
#[derive(Debug, Clone, Serialize)]
pub struct Lead {
    pub id: LeadId,
    #[serde(flatten)]
    pub data: LeadInput,
    pub score: i32,
    pub score_reasons: Vec<ScoreReason>,
    pub web_form_id: Option<WebFormId>,
    pub converted_customer_id: Option<CustomerId>,
    pub converted_deal_id: Option<DealId>,
    pub converted_at: Option<DateTime<Utc>>,
    pub display_name: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// One flat object (as for customers): the input's properties plus the read-only ones.
impl utoipa::PartialSchema for Lead {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
        };
        use utoipa::openapi::{Ref, RefOr};
        let RefOr::T(Schema::Object(mut object)) = LeadInput::schema() else {
            return LeadInput::schema();
        };
        let typed = |kind: Type, format: Option<KnownFormat>, nullable: bool, description: &str| {
            let kind = if nullable { SchemaType::from_iter([kind, Type::Null]) } else { kind.into() };
            RefOr::T(Schema::Object(
                ObjectBuilder::new()
                    .schema_type(kind)
                    .format(format.map(SchemaFormat::KnownFormat))
                    .description(Some(description))
                    .build(),
            ))
        };
        let uuid = |nullable, description| typed(Type::String, Some(KnownFormat::Uuid), nullable, description);
        let time = |nullable, description| typed(Type::String, Some(KnownFormat::DateTime), nullable, description);
        let read_only = [
            ("id", crate::LeadId::schema()),
            (
                "score",
                typed(Type::Integer, Some(KnownFormat::Int32), false, "Sum of the points of the rules that fired."),
            ),
            (
                "score_reasons",
                ArrayBuilder::new()
                    .items(Ref::from_schema_name("ScoreReason"))
                    .description(Some("The scoring rules that fired, with their points."))
                    .into(),
            ),
            ("web_form_id", uuid(true, "The web form that captured the lead.")),
            ("converted_customer_id", uuid(true, "Set when the lead was converted.")),
            ("converted_deal_id", uuid(true, "Set when the conversion opened a deal.")),
            ("converted_at", time(true, "When the lead was converted.")),
            ("display_name", typed(Type::String, None, false, "Derived: full name, else company, email or phone.")),
            (
                "version",
                typed(Type::Integer, Some(KnownFormat::Int64), false, "Increases with every change; sent as `ETag`."),
            ),
            ("created_at", time(false, "When the lead was created.")),
            ("updated_at", time(false, "When the lead last changed.")),
            ("deleted_at", time(true, "Set while the lead is deleted (restorable).")),
        ];
        object.properties.extend(read_only.map(|(name, schema)| (name.to_owned(), schema)));
        object.required = object.properties.keys().cloned().collect();
        object.additional_properties = None;
        object.description = Some("A lead: a prospect with its source, status, owner and score.".to_owned());
        object.example = None;
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for Lead {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        use utoipa::PartialSchema;
        LeadInput::schemas(schemas);
        schemas.push((LeadInput::name().into_owned(), LeadInput::schema()));
        schemas.push((ScoreReason::name().into_owned(), ScoreReason::schema()));
        schemas.push((LeadId::name().into_owned(), LeadId::schema()));
        ScoreReason::schemas(schemas);
    }
}

impl LeadInput {
    pub fn display_name(&self) -> String {
        let full =
            [self.first_name.as_deref(), self.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
        [Some(full), self.company_name.clone(), self.email.clone(), self.phone.clone()]
            .into_iter()
            .flatten()
            .find(|s| !s.is_empty())
            .unwrap_or_default()
    }

    /// Lower-cased text that `q=` searches: names, company, email, phone.
    pub fn search_text(&self) -> String {
        [&self.first_name, &self.last_name, &self.company_name, &self.email, &self.phone]
            .into_iter()
            .flatten()
            .map(|s| s.to_lowercase())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Checks every field and returns the normalised lead, or every problem found.
    /// `previous` is the stored status on an update (`None` on create): `converted` is reached
    /// only by conversion and, once reached, kept.
    pub fn validate(self, previous: Option<LeadStatus>) -> Result<LeadInput, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let first_name = e.text("first_name", self.first_name, NAME_MAX);
        let last_name = e.text("last_name", self.last_name, NAME_MAX);
        let company_name = e.text("company_name", self.company_name, NAME_MAX);
        let job_title = e.text("job_title", self.job_title, NAME_MAX);
        let email = parsed_text(&mut e, "email", self.email, parse_email);
        let phone = parsed_text(&mut e, "phone", self.phone, parse_phone);
        let website = parsed_text(&mut e, "website", self.website, parse_website);
        let industry = e.text("industry", self.industry, 100);
        let country = parsed(&mut e, "country", self.country, parse_country);
        let city = e.text("city", self.city, 100);
        let utm_source = e.text("utm_source", self.utm_source, UTM_MAX);
        let utm_medium = e.text("utm_medium", self.utm_medium, UTM_MAX);
        let utm_campaign = e.text("utm_campaign", self.utm_campaign, UTM_MAX);
        validate_form_data(&mut e, &self.form_data);
        let tags = validate_tags(&mut e, "tags", self.tags);
        let notes = e.text("notes", self.notes, NOTES_MAX);
        let lost_reason = e.text("lost_reason", self.lost_reason, REASON_MAX);

        let was_converted = previous == Some(LeadStatus::Converted);
        if self.status == LeadStatus::Converted && !was_converted {
            e.add("status", "read_only", "a lead becomes `converted` only by converting it");
        }
        if was_converted && self.status != LeadStatus::Converted {
            e.add("status", "converted", "a converted lead keeps its status");
        }
        if self.status == LeadStatus::Disqualified && lost_reason.is_none() {
            e.add("lost_reason", "required", "say why the lead is disqualified");
        }
        if [&first_name, &last_name, &company_name, &email, &phone].iter().all(|v| v.is_none()) {
            e.add("first_name", "required", "a lead needs a name, a company, an email or a phone");
        }

        e.into_result(LeadInput {
            source: self.source,
            status: self.status,
            first_name,
            last_name,
            company_name,
            job_title,
            email,
            phone,
            website,
            industry,
            country,
            city,
            owner_id: self.owner_id,
            utm_source,
            utm_medium,
            utm_campaign,
            form_data: self.form_data,
            tags,
            notes,
            lost_reason,
        })
    }
}

fn validate_form_data(e: &mut ValidationErrors, data: &Map<String, Value>) {
    for key in data.keys() {
        let bad = key.is_empty() || key.chars().count() > FORM_DATA_KEY_MAX || key.chars().any(char::is_control);
        if bad {
            e.add(format!("form_data.{key}"), "invalid_format", "keys are 1-100 characters without control characters");
        }
    }
    // PostgreSQL's jsonb cannot hold U+0000.
    if data.iter().any(|(_, v)| has_nul(v)) {
        e.add("form_data", "invalid_characters", "must not contain NUL characters");
    }
    if serde_json::to_vec(data).map_or(0, |v| v.len()) > FORM_DATA_MAX_BYTES {
        e.add("form_data", "too_long", "form data must fit in 16 KiB of JSON");
    }
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

impl Lead {
    /// Builds a response from stored parts; `display_name` is derived here.
    pub fn new(id: LeadId, data: LeadInput, meta: LeadMeta) -> Self {
        Lead {
            id,
            display_name: data.display_name(),
            data,
            score: meta.score,
            score_reasons: meta.score_reasons,
            web_form_id: meta.web_form_id,
            converted_customer_id: meta.converted_customer_id,
            converted_deal_id: meta.converted_deal_id,
            converted_at: meta.converted_at,
            version: meta.version,
            created_at: meta.created_at,
            updated_at: meta.updated_at,
            deleted_at: meta.deleted_at,
        }
    }
}

/// What the service keeps about a lead beside its writable fields.
#[derive(Debug, Clone)]
pub struct LeadMeta {
    pub score: i32,
    pub score_reasons: Vec<ScoreReason>,
    pub web_form_id: Option<WebFormId>,
    pub converted_customer_id: Option<CustomerId>,
    pub converted_deal_id: Option<DealId>,
    pub converted_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The filters `GET /v1/leads` accepts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeadFilter {
    pub status: Option<LeadStatus>,
    pub source: Option<LeadSource>,
    pub owner_id: Option<UserId>,
    pub web_form_id: Option<WebFormId>,
    pub email: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub score_min: Option<i32>,
    pub score_max: Option<i32>,
    /// Every tag listed must be present.
    pub tags: Vec<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub q: Option<String>,
    pub deleted: bool,
}

/// A list order, ties broken by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeadSort {
    pub field: LeadSortField,
    pub descending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadSortField {
    CreatedAt,
    UpdatedAt,
    Score,
}

impl Default for LeadSort {
    fn default() -> Self {
        LeadSort { field: LeadSortField::CreatedAt, descending: true }
    }
}

impl LeadSort {
    pub const ACCEPTED: [&str; 6] = ["created_at", "-created_at", "updated_at", "-updated_at", "score", "-score"];

    pub fn parse(s: &str) -> Option<LeadSort> {
        let (descending, name) = match s.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, s),
        };
        let field = match name {
            "created_at" => LeadSortField::CreatedAt,
            "updated_at" => LeadSortField::UpdatedAt,
            "score" => LeadSortField::Score,
            _ => return None,
        };
        Some(LeadSort { field, descending })
    }

    pub fn as_str(self) -> &'static str {
        let index = match self.field {
            LeadSortField::CreatedAt => 0,
            LeadSortField::UpdatedAt => 2,
            LeadSortField::Score => 4,
        };
        Self::ACCEPTED[index + usize::from(self.descending)]
    }

    /// The cursor that resumes a list after `lead` in this order.
    pub fn cursor_after(self, lead: &Lead) -> LeadCursor {
        let (at, score) = match self.field {
            LeadSortField::CreatedAt => (Some(lead.created_at), None),
            LeadSortField::UpdatedAt => (Some(lead.updated_at), None),
            LeadSortField::Score => (None, Some(lead.score)),
        };
        LeadCursor { sort: self.as_str().to_owned(), at, score, id: lead.id.0 }
    }
}

/// Where a page of leads stopped: the sort key (a time or a score) of its last row and its id.
/// Like [`crate::page::Cursor`], bound to the order it was made for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadCursor {
    #[serde(rename = "s")]
    pub sort: String,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub score: Option<i32>,
    pub id: uuid::Uuid,
}

impl LeadCursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// `None` for anything that is not a cursor this service made for `sort`.
    pub fn decode(raw: &str, sort: LeadSort) -> Option<LeadCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let cursor: LeadCursor = serde_json::from_slice(&bytes).ok()?;
        let keyed = match sort.field {
            LeadSortField::Score => cursor.score.is_some(),
            _ => cursor.at.is_some(),
        };
        (cursor.sort == sort.as_str() && keyed).then_some(cursor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::patch::decode;

    fn input(value: Value) -> LeadInput {
        decode(value).unwrap_or_else(|e| panic!("decodes: {e}"))
    }

    fn codes(result: Result<LeadInput, ValidationErrors>) -> Vec<(String, String)> {
        match result {
            Ok(lead) => panic!("expected errors, got {lead:?}"),
            Err(e) => e.0.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    }

    #[test]
    fn a_blank_country_is_none_as_the_schema_says() {
        // The pattern spells out Unicode's White_Space, which `trim` strips: not ECMA's `\s`
        // (which has U+FEFF) nor Python's (which has U+001C to U+001F).
        for blank in ["", " ", "\t\n", "\u{85}", "\u{a0}\u{3000}"] {
            let lead = input(json!({"first_name": "Taras", "country": blank})).validate(None);
            assert_eq!(lead.map(|l| l.country).ok(), Some(None), "{blank:?}");
        }
        for refused in ["U", " UA", "UAH", "XX", "\u{feff}", "\u{1c}"] {
            let lead = input(json!({"first_name": "Taras", "country": refused})).validate(None);
            assert!(lead.is_err(), "{refused:?} is outside the schema's pattern or no country");
        }
    }

    #[test]
    fn a_lead_is_normalised_with_defaults() {
        let lead = input(json!({"first_name": " Taras ", "email": "T@Example.COM", "country": "ua",
                                "phone": "+380 32 212 34 56", "tags": ["a", "a"], "utm_source": " news "}))
        .validate(None)
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lead.first_name.as_deref(), Some("Taras"));
        assert_eq!(lead.email.as_deref(), Some("t@example.com"));
        assert_eq!(lead.country.as_deref(), Some("UA"));
        assert_eq!(lead.phone.as_deref(), Some("+380322123456"));
        assert_eq!(lead.tags, ["a"]);
        assert_eq!(lead.utm_source.as_deref(), Some("news"));
        assert_eq!((lead.source, lead.status), (LeadSource::Other, LeadStatus::New));
        assert_eq!(lead.display_name(), "Taras");
    }

    #[test]
    fn converted_is_reached_only_by_conversion_and_kept() {
        let converted = input(json!({"first_name": "A", "status": "converted"}));
        assert_eq!(codes(converted.clone().validate(None)), [("status".into(), "read_only".into())]);
        assert_eq!(codes(converted.clone().validate(Some(LeadStatus::New))), [("status".into(), "read_only".into())]);
        assert!(converted.validate(Some(LeadStatus::Converted)).is_ok());
        let back = input(json!({"first_name": "A", "status": "new"}));
        assert_eq!(codes(back.validate(Some(LeadStatus::Converted))), [("status".into(), "converted".into())]);
    }

    #[test]
    fn disqualifying_needs_a_reason() {
        let lead = input(json!({"first_name": "A", "status": "disqualified"}));
        assert_eq!(codes(lead.validate(None)), [("lost_reason".into(), "required".into())]);
        let blank = input(json!({"first_name": "A", "status": "disqualified", "lost_reason": "  "}));
        assert_eq!(codes(blank.validate(None)), [("lost_reason".into(), "required".into())]);
        let ok = input(json!({"first_name": "A", "status": "disqualified", "lost_reason": "no budget"}));
        assert_eq!(ok.validate(None).map(|l| l.lost_reason), Ok(Some("no budget".into())));
    }

    #[test]
    fn every_problem_is_reported() {
        let lead = input(json!({"email": "nope", "website": "ftp://x", "country": "XX",
                                "form_data": {"": 1}, "tags": [""]}));
        let fields: Vec<String> = codes(lead.validate(None)).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["email", "website", "country", "form_data.", "tags[0]", "first_name"]);
        let big = input(json!({"first_name": "A", "form_data": {"k": "x".repeat(17 * 1024)}}));
        assert_eq!(codes(big.validate(None)), [("form_data".into(), "too_long".into())]);
    }

    #[test]
    fn unknown_sources_and_fields_are_rejected_by_decoding() {
        assert!(decode::<LeadInput>(json!({"source": "tv"})).is_err());
        assert!(decode::<LeadInput>(json!({"score": 5})).is_err());
    }

    #[test]
    fn sorts_and_cursors_round_trip() {
        for s in LeadSort::ACCEPTED {
            assert_eq!(LeadSort::parse(s).map(LeadSort::as_str), Some(s));
        }
        assert_eq!(LeadSort::parse("email"), None);
        let by_score = LeadSort { field: LeadSortField::Score, descending: true };
        let cursor = LeadCursor { sort: "-score".into(), at: None, score: Some(-5), id: uuid::Uuid::nil() };
        assert_eq!(LeadCursor::decode(&cursor.encode(), by_score), Some(cursor.clone()));
        assert_eq!(LeadCursor::decode(&cursor.encode(), LeadSort::default()), None);
        assert_eq!(LeadCursor::decode("garbage", by_score), None);
    }

    #[test]
    fn display_name_falls_back() {
        assert_eq!(input(json!({"company_name": "Acme"})).display_name(), "Acme");
        assert_eq!(input(json!({"email": "a@b.co"})).display_name(), "a@b.co");
        assert_eq!(input(json!({"first_name": "A", "last_name": "B"})).display_name(), "A B");
    }
}
