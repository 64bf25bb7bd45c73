//! Web forms: public lead capture. A form has a public token (embedded in the site's HTML),
//! the origins allowed to post it, a mapping from its field names to lead fields, a honeypot
//! field, and defaults for the leads it creates. Mapping a submission to a lead is pure.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::customer::validate_tags;
use crate::lead::{LeadInput, LeadSource, LeadStatus};
use crate::values::Invalid;
use crate::{UserId, ValidationErrors, WebFormId};

const NAME_MAX: usize = 200;
const MAX_ORIGINS: usize = 20;
const MAX_MAPPINGS: usize = 100;
const FIELD_NAME_MAX: usize = 100;
/// Fields one submission may carry.
pub const MAX_SUBMISSION_FIELDS: usize = 200;
pub const DEFAULT_HONEYPOT: &str = "website_url";

/// Lead fields a submitted value may fill (besides `form_data.<key>`).
pub const MAPPABLE_FIELDS: [&str; 14] = [
    "first_name",
    "last_name",
    "company_name",
    "job_title",
    "email",
    "phone",
    "website",
    "industry",
    "country",
    "city",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "notes",
];

fn default_honeypot() -> String {
    DEFAULT_HONEYPOT.to_owned()
}

fn default_active() -> bool {
    true
}

/// The writable fields of a web form (body of `POST /v1/web-forms`, target of `PATCH`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Contact us",
    "allowed_origins": ["https://shop.example"],
    "field_mapping": {"your_email": "email", "budget": "form_data.budget"},
    "default_tags": ["website"],
    "honeypot_field": "website_url",
    "active": true
}))]
pub struct WebFormInput {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Exact origins (`https://shop.example`, `http://localhost:3000`) whose pages may post
    /// the form from a browser. A submission with another `Origin` is refused; one without
    /// (a server-side integration) is accepted.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub allowed_origins: Vec<String>,
    /// Incoming field name → lead field (`email`, `first_name`, `utm_source`, …) or
    /// `form_data.<key>`. Unmapped fields named like a lead field fill it (`name` and
    /// `full_name` split into first and last name, `company` fills `company_name`); the rest
    /// go to `form_data` under their own name.
    #[serde(default)]
    pub field_mapping: BTreeMap<String, String>,
    /// Owner of the leads the form creates: a user of the workspace.
    #[serde(default)]
    pub default_owner_id: Option<UserId>,
    #[serde(default)]
    #[schema(schema_with = crate::customer::tags_schema)]
    pub default_tags: Vec<String>,
    /// A field hidden from people: a submission that fills it is answered like any other
    /// but stored nowhere. Default `website_url`; an empty string turns the check off.
    #[serde(default = "default_honeypot")]
    #[schema(max_length = 100, default = "website_url")]
    pub honeypot_field: String,
    /// An inactive form answers 404 to submissions.
    #[serde(default = "default_active")]
    #[schema(default = true)]
    pub active: bool,
}

/// A web form of the workspace.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebForm {
    pub id: WebFormId,
    #[schema(example = "Contact us")]
    pub name: String,
    pub allowed_origins: Vec<String>,
    pub field_mapping: BTreeMap<String, String>,
    pub default_owner_id: Option<UserId>,
    pub default_tags: Vec<String>,
    /// Empty when the check is off.
    pub honeypot_field: String,
    pub active: bool,
    /// Public by nature (it is in the page's HTML); rotate it to retire old embeds.
    #[schema(example = "wf_3q2-7wEJ6DeNqPZkz3rVQm4s1uYtXh0b")]
    pub public_token: String,
    /// Where the form posts: `POST` here with JSON or `application/x-www-form-urlencoded`.
    #[schema(example = "/v1/forms/wf_3q2-7wEJ6DeNqPZkz3rVQm4s1uYtXh0b/submissions")]
    pub submission_path: String,
    /// Accepted submissions (honeypot catches excluded).
    pub submission_count: i64,
    /// Increases with every change; sent as `ETag`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl WebForm {
    pub fn input(&self) -> WebFormInput {
        WebFormInput {
            name: self.name.clone(),
            allowed_origins: self.allowed_origins.clone(),
            field_mapping: self.field_mapping.clone(),
            default_owner_id: self.default_owner_id,
            default_tags: self.default_tags.clone(),
            honeypot_field: self.honeypot_field.clone(),
            active: self.active,
        }
    }

    pub fn submission_path(token: &str) -> String {
        format!("/v1/forms/{token}/submissions")
    }

    /// Whether a browser on `origin` may post this form.
    pub fn allows_origin(&self, origin: &str) -> bool {
        parse_origin(origin).is_ok_and(|o| self.allowed_origins.contains(&o))
    }
}

/// The body of `202` answering a submission. The id names the submission, never a lead.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubmissionAccepted {
    pub id: uuid::Uuid,
    #[schema(example = "accepted")]
    pub status: &'static str,
}

/// A web origin: `http(s)://host[:port]`, lower-cased, default port dropped.
pub fn parse_origin(raw: &str) -> Result<String, Invalid> {
    let invalid =
        || Invalid { code: "invalid_format", message: "must be an origin such as https://shop.example".to_owned() };
    let origin = raw.trim().to_ascii_lowercase();
    let (scheme, rest) = origin.split_once("://").ok_or_else(invalid)?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
    };
    let host_ok = host.len() <= 253 && host.split('.').all(label_ok);
    let port = match port {
        None => None,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().ok().filter(|n| *n > 0).ok_or_else(invalid)?)
        }
        Some(_) => return Err(invalid()),
    };
    if !matches!(scheme, "http" | "https") || !host_ok {
        return Err(invalid());
    }
    Ok(match (scheme, port) {
        ("https", Some(443)) | ("http", Some(80)) | (_, None) => format!("{scheme}://{host}"),
        (_, Some(port)) => format!("{scheme}://{host}:{port}"),
    })
}

fn field_name_ok(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= FIELD_NAME_MAX && !name.chars().any(char::is_control)
}

/// Whether `target` is something a submitted value may fill.
fn target_ok(target: &str) -> bool {
    MAPPABLE_FIELDS.contains(&target) || target.strip_prefix("form_data.").is_some_and(field_name_ok)
}

impl WebFormInput {
    /// Checks every field and returns the normalised form, or every problem found.
    pub fn validate(self) -> Result<WebFormInput, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let name = e.text("name", Some(self.name), NAME_MAX);
        if name.is_none() && e.is_empty() {
            e.add("name", "required", "a form needs a name");
        }
        if self.allowed_origins.len() > MAX_ORIGINS {
            e.add("allowed_origins", "too_many", format!("at most {MAX_ORIGINS} origins"));
        }
        let mut allowed_origins = Vec::new();
        for (i, raw) in self.allowed_origins.iter().enumerate() {
            match parse_origin(raw) {
                Ok(origin) if !allowed_origins.contains(&origin) => allowed_origins.push(origin),
                Ok(_) => {}
                Err(invalid) => e.add(format!("allowed_origins[{i}]"), invalid.code, invalid.message),
            }
        }
        if self.field_mapping.len() > MAX_MAPPINGS {
            e.add("field_mapping", "too_many", format!("at most {MAX_MAPPINGS} mappings"));
        }
        let mut field_mapping = BTreeMap::new();
        for (incoming, target) in self.field_mapping {
            let field = format!("field_mapping.{incoming}");
            if !field_name_ok(&incoming) {
                e.add(&field, "invalid_format", "field names are 1-100 characters without control characters");
            }
            let target = target.trim().to_owned();
            if target_ok(&target) {
                field_mapping.insert(incoming, target);
            } else {
                let fields = MAPPABLE_FIELDS.join(", ");
                e.add(&field, "invalid_value", format!("map to one of {fields}, or form_data.<key>"));
            }
        }
        let default_tags = validate_tags(&mut e, "default_tags", self.default_tags);
        let honeypot_field = self.honeypot_field.trim().to_owned();
        let clean = !self.honeypot_field.chars().any(char::is_control);
        if !clean || !honeypot_field.is_empty() && !field_name_ok(&honeypot_field) {
            e.add("honeypot_field", "invalid_format", "at most 100 characters without control characters");
        }
        if field_mapping.contains_key(&honeypot_field) {
            e.add("honeypot_field", "invalid_value", "the honeypot field cannot also be mapped");
        }
        e.into_result(WebFormInput {
            name: name.unwrap_or_default(),
            allowed_origins,
            field_mapping,
            default_owner_id: self.default_owner_id,
            default_tags,
            honeypot_field,
            active: self.active,
        })
    }

    /// Turns the fields of a submission into a lead, or `Ok(None)` when the honeypot is
    /// filled. Field errors name the field as submitted, so the page can show them.
    pub fn map_submission(&self, fields: Map<String, Value>) -> Result<Option<LeadInput>, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let honeypot = Some(self.honeypot_field.as_str()).filter(|h| !h.is_empty());
        if honeypot.is_some_and(|h| fields.get(h).is_some_and(filled)) {
            return Ok(None);
        }
        if fields.len() > MAX_SUBMISSION_FIELDS {
            e.add("", "too_many", format!("at most {MAX_SUBMISSION_FIELDS} fields"));
        }
        let mut lead = LeadInput {
            source: LeadSource::WebForm,
            status: LeadStatus::New,
            owner_id: self.default_owner_id,
            tags: self.default_tags.clone(),
            ..LeadInput::default()
        };
        // Lead field → the submitted name it came from, to name it in errors.
        let mut submitted_as: HashMap<String, String> = HashMap::new();
        for (name, value) in fields {
            if honeypot == Some(name.as_str()) || value.is_null() {
                continue;
            }
            if !field_name_ok(&name) {
                e.add(&name, "invalid_format", "field names are 1-100 characters without control characters");
                continue;
            }
            if !is_flat(&value) {
                e.add(&name, "invalid_type", "values are strings, numbers, booleans or lists of them");
                continue;
            }
            let target = self.field_mapping.get(&name).cloned().unwrap_or_else(|| default_target(&name));
            if let Some(key) = target.strip_prefix("form_data.") {
                lead.form_data.insert(key.to_owned(), value);
                continue;
            }
            let Some(text) = scalar_text(&value) else {
                e.add(&name, "invalid_type", "a single value is expected");
                continue;
            };
            if target == "full_name" {
                let (first, last) = split_name(&text);
                lead.first_name = first;
                lead.last_name = last;
                submitted_as.insert("first_name".into(), name.clone());
                submitted_as.insert("last_name".into(), name);
            } else {
                set_text(&mut lead, &target, text);
                submitted_as.insert(target, name);
            }
        }
        if !e.is_empty() {
            return Err(e);
        }
        lead.validate(None).map(Some).map_err(|errors| {
            ValidationErrors(
                errors
                    .0
                    .into_iter()
                    .map(|mut error| {
                        let base = error.field.split(['.', '[']).next().unwrap_or_default().to_owned();
                        if let Some(name) = submitted_as.get(&base) {
                            error.field = format!("{name}{}", &error.field[base.len()..]);
                        }
                        error
                    })
                    .collect(),
            )
        })
    }
}

/// Whether a honeypot value was filled in (a bot fills every input it finds).
fn filled(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.trim().is_empty(),
        Value::Array(items) => items.iter().any(filled),
        _ => true,
    }
}

fn is_scalar(value: &Value) -> bool {
    value.is_string() || value.is_number() || value.is_boolean()
}

fn is_flat(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().all(is_scalar),
        other => is_scalar(other),
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Where an unmapped field goes: the lead field of the same name, a common alias, or form data.
fn default_target(name: &str) -> String {
    match name {
        n if MAPPABLE_FIELDS.contains(&n) => n.to_owned(),
        "name" | "full_name" => "full_name".to_owned(),
        "company" => "company_name".to_owned(),
        n => format!("form_data.{n}"),
    }
}

/// "Olena Kovalenko-Shevchuk" → ("Olena", "Kovalenko-Shevchuk"); one word is a first name.
fn split_name(full: &str) -> (Option<String>, Option<String>) {
    let full = full.trim();
    match full.split_once(char::is_whitespace) {
        Some((first, last)) => (Some(first.to_owned()), Some(last.trim().to_owned())),
        None => (Some(full.to_owned()).filter(|s| !s.is_empty()), None),
    }
}

fn set_text(lead: &mut LeadInput, target: &str, text: String) {
    let slot = match target {
        "first_name" => &mut lead.first_name,
        "last_name" => &mut lead.last_name,
        "company_name" => &mut lead.company_name,
        "job_title" => &mut lead.job_title,
        "email" => &mut lead.email,
        "phone" => &mut lead.phone,
        "website" => &mut lead.website,
        "industry" => &mut lead.industry,
        "country" => &mut lead.country,
        "city" => &mut lead.city,
        "utm_source" => &mut lead.utm_source,
        "utm_medium" => &mut lead.utm_medium,
        "utm_campaign" => &mut lead.utm_campaign,
        _ => &mut lead.notes,
    };
    *slot = Some(text);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::patch::decode;

    fn form(value: Value) -> WebFormInput {
        decode::<WebFormInput>(value).unwrap_or_else(|e| panic!("{e}")).validate().unwrap_or_else(|e| panic!("{e}"))
    }

    fn fields(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn error_fields(result: Result<impl std::fmt::Debug, ValidationErrors>) -> Vec<(String, String)> {
        match result {
            Ok(v) => panic!("expected errors, got {v:?}"),
            Err(e) => e.0.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    }

    #[test]
    fn origins_are_exact_and_normalised() {
        assert_eq!(parse_origin("HTTPS://Shop.Example").as_deref(), Ok("https://shop.example"));
        assert_eq!(parse_origin("https://shop.example:443").as_deref(), Ok("https://shop.example"));
        assert_eq!(parse_origin("http://localhost:3000").as_deref(), Ok("http://localhost:3000"));
        for bad in [
            "shop.example",
            "https://shop.example/",
            "https://shop.example/path",
            "ftp://shop.example",
            "https://*.example",
            "https://",
            "https://a..b",
            "https://a:0",
            "https://a:99999",
            "https://a:+80",
            "null",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn a_form_is_validated_with_defaults() {
        let f = form(json!({"name": " Contact ", "allowed_origins": ["https://A.example", "https://a.example"]}));
        assert_eq!(f.name, "Contact");
        assert_eq!(f.allowed_origins, ["https://a.example"]);
        assert_eq!(f.honeypot_field, DEFAULT_HONEYPOT);
        assert!(f.active);
        let input: WebFormInput = decode(json!({"name": " ", "allowed_origins": ["x"],
            "field_mapping": {"a": "score", "b": "form_data.", "c": "form_data.ok", "website_url": "email"}}))
        .unwrap_or_else(|e| panic!("{e}"));
        let fields: Vec<String> = error_fields(input.validate()).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["name", "allowed_origins[0]", "field_mapping.a", "field_mapping.b", "honeypot_field"]);
    }

    #[test]
    fn submissions_map_to_a_web_form_lead() {
        let f = form(json!({"name": "F", "field_mapping": {"your_email": "email", "co": "company_name"},
                            "default_tags": ["web"]}));
        let lead = f
            .map_submission(fields(json!({"your_email": "A@B.COM", "name": "Olena  Kovalenko", "co": "Acme",
                                          "utm_source": "ads", "budget": 5000, "interests": ["a", "b"],
                                          "website_url": "", "empty": null})))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("not spam"));
        assert_eq!(lead.email.as_deref(), Some("a@b.com"));
        assert_eq!((lead.first_name.as_deref(), lead.last_name.as_deref()), (Some("Olena"), Some("Kovalenko")));
        assert_eq!(lead.company_name.as_deref(), Some("Acme"));
        assert_eq!(lead.utm_source.as_deref(), Some("ads"));
        assert_eq!(lead.source, LeadSource::WebForm);
        assert_eq!(lead.tags, ["web"]);
        assert_eq!(Value::Object(lead.form_data), json!({"budget": 5000, "interests": ["a", "b"]}));
    }

    #[test]
    fn the_honeypot_drops_the_submission() {
        let f = form(json!({"name": "F"}));
        assert_eq!(f.map_submission(fields(json!({"email": "a@b.com", "website_url": "http://spam"}))), Ok(None));
        let off = form(json!({"name": "F", "honeypot_field": ""}));
        let lead = off.map_submission(fields(json!({"email": "a@b.com", "website_url": "x"})));
        assert!(matches!(lead, Ok(Some(l)) if l.form_data.get("website_url") == Some(&json!("x"))));
    }

    #[test]
    fn errors_name_the_submitted_field() {
        let f = form(json!({"name": "F", "field_mapping": {"your_email": "email"}}));
        let errors = error_fields(f.map_submission(fields(json!({"your_email": "nope", "first_name": "A"}))));
        assert_eq!(errors, [("your_email".into(), "invalid_format".into())]);
        let errors = error_fields(f.map_submission(fields(json!({"email": {"x": 1}, "phone": ["+1", "+2"]}))));
        assert_eq!(errors, [("email".into(), "invalid_type".into()), ("phone".into(), "invalid_type".into())]);
        let errors = error_fields(f.map_submission(fields(json!({"budget": 1}))));
        assert_eq!(errors, [("first_name".into(), "required".into())]);
    }

    #[test]
    fn origin_checks_use_the_normalised_form() {
        let f = form(json!({"name": "F", "allowed_origins": ["https://shop.example"]}));
        let web_form = WebForm {
            id: WebFormId::generate(),
            public_token: "t".into(),
            submission_path: WebForm::submission_path("t"),
            submission_count: 0,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            deleted_at: None,
            name: f.name,
            allowed_origins: f.allowed_origins,
            field_mapping: f.field_mapping,
            default_owner_id: None,
            default_tags: vec![],
            honeypot_field: String::new(),
            active: true,
        };
        assert!(web_form.allows_origin("https://SHOP.example"));
        assert!(!web_form.allows_origin("https://evil.example"));
        assert!(!web_form.allows_origin("null"));
    }
}
