//! Customers: people and companies, the records every other part of the CRM hangs off.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa::openapi::schema::{Array, ArrayBuilder, ObjectBuilder, Type};

use crate::segment::SegmentCriteria;
use crate::values::{parse_country, parse_email, parse_phone, parse_website};
use crate::{CustomerId, TEXT_PATTERN, UserId, ValidationErrors};

const NAME_MAX: usize = 200;
const MAX_TAGS: usize = 50;
const TAG_MAX: usize = 64;
const MAX_LIST: usize = 50;
const CUSTOM_FIELDS_MAX_BYTES: usize = 16 * 1024;

/// A person or a company.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomerKind {
    Person,
    Company,
}

/// Where the customer is in the lifecycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleStage {
    #[default]
    Prospect,
    Lead,
    Customer,
    Churned,
}

macro_rules! str_enum {
    ($ty:ty { $($variant:ident => $s:literal),* $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $s),* }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$variant),)* _ => None }
            }
        }
    };
}
pub(crate) use str_enum;

str_enum!(CustomerKind { Person => "person", Company => "company" });
str_enum!(LifecycleStage { Prospect => "prospect", Lead => "lead", Customer => "customer", Churned => "churned" });
str_enum!(ConsentChannel { Email => "email", Sms => "sms", Phone => "phone", Post => "post", Messaging => "messaging", Any => "any" });

/// A postal address. Every part is optional; `country` is ISO 3166-1 alpha-2, and blank (as a
/// web form sends an empty field) means none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"line1": "Khreshchatyk St 22", "city": "Kyiv", "postal_code": "01001", "country": "UA"}))]
pub struct Address {
    #[serde(default)]
    #[schema(max_length = 200)]
    pub line1: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub line2: Option<String>,
    #[serde(default)]
    #[schema(max_length = 100)]
    pub city: Option<String>,
    #[serde(default)]
    #[schema(max_length = 100)]
    pub region: Option<String>,
    #[serde(default)]
    #[schema(max_length = 20)]
    pub postal_code: Option<String>,
    #[serde(default)]
    #[schema(
        pattern = r"^([A-Za-z]{2}|[\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*)$",
        example = "UA"
    )]
    pub country: Option<String>,
}

/// A date worth remembering: birthday, contract anniversary, founding day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportantDate {
    #[schema(example = "birthday", max_length = 100)]
    pub label: String,
    #[schema(example = "1990-04-12")]
    pub date: NaiveDate,
}

/// The channel a consent covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentChannel {
    Email,
    Sms,
    Phone,
    Post,
    Messaging,
    Any,
}

/// A consent given or withdrawn, with where and when it was captured (GDPR art. 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    #[schema(example = "marketing", max_length = 64)]
    pub purpose: String,
    pub channel: ConsentChannel,
    pub granted: bool,
    #[schema(example = "web_form:newsletter", max_length = 200)]
    pub source: String,
    pub captured_at: DateTime<Utc>,
}

/// The writable fields of a customer: the body of `POST /v1/customers`, and the document a
/// `PATCH` merge patch is applied to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "kind": "person",
    "first_name": "Olena",
    "last_name": "Kovalenko",
    "email": "olena@example.com",
    "phone": "+380441234567",
    "address": {"city": "Kyiv", "country": "UA"},
    "lifecycle_stage": "lead",
    "tags": ["vip", "newsletter"],
    "important_dates": [{"label": "birthday", "date": "1990-04-12"}],
    "custom_fields": {"loyalty_card": "A-1024"},
    "consents": [{"purpose": "marketing", "channel": "email", "granted": true,
                  "source": "web_form:newsletter", "captured_at": "2026-11-01T10:00:00Z"}]
}))]
pub struct CustomerInput {
    pub kind: CustomerKind,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub first_name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub last_name: Option<String>,
    /// The company's name (companies), or the employer's name as free text (persons).
    #[serde(default)]
    #[schema(max_length = 200)]
    pub company_name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 254, example = "olena@example.com")]
    pub email: Option<String>,
    /// E.164, e.g. `+380441234567`; spaces, dashes and parentheses are accepted and removed.
    #[serde(default)]
    #[schema(max_length = 32, example = "+380441234567")]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<Address>,
    /// Social accounts by network, e.g. `{"linkedin": "https://linkedin.com/in/olena"}`.
    #[serde(default)]
    pub social: BTreeMap<String, String>,
    #[serde(default)]
    pub lifecycle_stage: LifecycleStage,
    /// A user of the workspace.
    #[serde(default)]
    pub owner_id: Option<UserId>,
    #[serde(default)]
    #[schema(schema_with = tags_schema)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(max_items = 50)]
    pub important_dates: Vec<ImportantDate>,
    /// Workspace-specific fields: keys are `[A-Za-z0-9_]`, values any JSON (16 KiB in all).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_fields: Map<String, Value>,
    #[serde(default)]
    #[schema(max_items = 50)]
    pub consents: Vec<Consent>,
    /// Companies only.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub industry: Option<String>,
    /// Companies only. Set when the company is VAT-registered.
    #[serde(default)]
    #[schema(max_length = 32)]
    pub vat_number: Option<String>,
    /// Companies only.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub registration_number: Option<String>,
    /// Companies only; an http(s) URL.
    #[serde(default)]
    #[schema(max_length = 2048, example = "https://acme.example")]
    pub website: Option<String>,
    /// Companies only.
    #[serde(default)]
    #[schema(maximum = 100_000_000)]
    pub employee_count: Option<u32>,
    /// Persons only: the company customer this person works for.
    #[serde(default)]
    pub company_id: Option<CustomerId>,
}

/// A customer as the API returns it: the writable fields plus what the service keeps.
#[derive(Debug, Clone, Serialize)]
pub struct Customer {
    pub id: CustomerId,
    #[serde(flatten)]
    pub data: CustomerInput,
    pub display_name: String,
    pub vat_registered: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// One flat object: the input's properties (all present in responses) and the read-only ones.
/// A derived `allOf` would inherit the input's `additionalProperties: false` and reject them.
impl utoipa::PartialSchema for Customer {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
        let RefOr::T(Schema::Object(mut object)) = CustomerInput::schema() else {
            return CustomerInput::schema();
        };
        let timestamp = |nullable: bool, description: &str| {
            let kind = if nullable { SchemaType::from_iter([Type::String, Type::Null]) } else { Type::String.into() };
            ObjectBuilder::new()
                .schema_type(kind)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                .description(Some(description))
        };
        let read_only = [
            ("id", crate::CustomerId::schema()),
            (
                "display_name",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("Derived: the person's full name, or the company name, or the email."))
                    .examples([serde_json::json!("Olena Kovalenko")])
                    .into(),
            ),
            (
                "vat_registered",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .description(Some("Derived: whether a VAT number is on file."))
                    .into(),
            ),
            (
                "version",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                    .description(Some("Increases with every change; sent as `ETag`."))
                    .examples([serde_json::json!(1)])
                    .into(),
            ),
            ("created_at", timestamp(false, "When the customer was created.").into()),
            ("updated_at", timestamp(false, "When the customer last changed.").into()),
            ("deleted_at", timestamp(true, "Set while the customer is deleted (restorable).").into()),
        ];
        object.properties.extend(read_only.map(|(name, schema)| (name.to_owned(), schema)));
        object.required = object.properties.keys().cloned().collect();
        object.additional_properties = None;
        object.description = Some("A customer: a person or a company.".to_owned());
        object.example = None;
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for Customer {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        CustomerInput::schemas(schemas);
        schemas.push((CustomerInput::name().into_owned(), <CustomerInput as utoipa::PartialSchema>::schema()));
    }
}

impl Customer {
    pub fn new(
        id: CustomerId,
        data: CustomerInput,
        version: i64,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
        deleted_at: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            id,
            display_name: data.display_name(),
            vat_registered: data.vat_number.is_some(),
            data,
            version,
            created_at,
            updated_at,
            deleted_at,
        }
    }
}

impl CustomerInput {
    pub fn display_name(&self) -> String {
        let full =
            [self.first_name.as_deref(), self.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
        let candidates = match self.kind {
            CustomerKind::Person => [Some(full), self.email.clone(), self.phone.clone()],
            CustomerKind::Company => [self.company_name.clone(), self.email.clone(), Some(full)],
        };
        candidates.into_iter().flatten().find(|s| !s.is_empty()).unwrap_or_default()
    }

    /// Lower-cased text that `q=` searches: names, email, phone, company.
    pub fn search_text(&self) -> String {
        [&self.first_name, &self.last_name, &self.company_name, &self.email, &self.phone]
            .into_iter()
            .flatten()
            .map(|s| s.to_lowercase())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Checks every field and returns the normalised customer, or every problem found.
    pub fn validate(self) -> Result<CustomerInput, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let first_name = e.text("first_name", self.first_name, NAME_MAX);
        let last_name = e.text("last_name", self.last_name, NAME_MAX);
        let company_name = e.text("company_name", self.company_name, NAME_MAX);
        let email = parsed_text(&mut e, "email", self.email, parse_email);
        let phone = parsed_text(&mut e, "phone", self.phone, parse_phone);
        let address = self.address.and_then(|a| validate_address(&mut e, a));
        let social = validate_social(&mut e, self.social);
        let tags = validate_tags(&mut e, "tags", self.tags);
        let important_dates = validate_dates(&mut e, self.important_dates);
        validate_custom_fields(&mut e, &self.custom_fields);
        let consents = validate_consents(&mut e, self.consents);
        let industry = e.text("industry", self.industry, 100);
        let vat_number = e.text("vat_number", self.vat_number, 32);
        let registration_number = e.text("registration_number", self.registration_number, 64);
        let website = parsed_text(&mut e, "website", self.website, parse_website);
        if self.employee_count.is_some_and(|n| n > 100_000_000) {
            e.add("employee_count", "out_of_range", "must be at most 100000000");
        }

        match self.kind {
            CustomerKind::Person => {
                let company_only = [
                    ("industry", industry.is_some()),
                    ("vat_number", vat_number.is_some()),
                    ("registration_number", registration_number.is_some()),
                    ("website", website.is_some()),
                    ("employee_count", self.employee_count.is_some()),
                ];
                for (field, set) in company_only {
                    if set {
                        e.add(field, "company_only", "only companies have this field");
                    }
                }
                if first_name.is_none() && last_name.is_none() && email.is_none() && phone.is_none() {
                    e.add("first_name", "required", "a person needs a name, an email or a phone");
                }
            }
            CustomerKind::Company => {
                if self.company_id.is_some() {
                    e.add("company_id", "person_only", "only persons link to a company");
                }
                if company_name.is_none() {
                    e.add("company_name", "required", "a company needs a name");
                }
            }
        }

        e.into_result(CustomerInput {
            kind: self.kind,
            first_name,
            last_name,
            company_name,
            email,
            phone,
            address,
            social,
            lifecycle_stage: self.lifecycle_stage,
            owner_id: self.owner_id,
            tags,
            important_dates,
            custom_fields: self.custom_fields,
            consents,
            industry,
            vat_number,
            registration_number,
            website,
            employee_count: self.employee_count,
            company_id: self.company_id,
        })
    }
}

/// [`parsed`] for a field under the free-text rule (email, phone, website): its control
/// characters are refused first, as the blank test's `trim` would drop a vertical tab unseen.
pub(crate) fn parsed_text(
    e: &mut ValidationErrors,
    field: &str,
    value: Option<String>,
    parse: fn(&str) -> Result<String, crate::values::Invalid>,
) -> Option<String> {
    if value.as_deref().is_some_and(|v| !e.check_chars(field, v)) {
        return None;
    }
    parsed(e, field, value, parse)
}

pub(crate) fn parsed(
    e: &mut ValidationErrors,
    field: &str,
    value: Option<String>,
    parse: fn(&str) -> Result<String, crate::values::Invalid>,
) -> Option<String> {
    let value = value.filter(|v| !v.trim().is_empty())?;
    match parse(&value) {
        Ok(v) => Some(v),
        Err(invalid) => {
            e.add(field, invalid.code, invalid.message);
            None
        }
    }
}

fn validate_address(e: &mut ValidationErrors, a: Address) -> Option<Address> {
    let address = Address {
        line1: e.text("address.line1", a.line1, 200),
        line2: e.text("address.line2", a.line2, 200),
        city: e.text("address.city", a.city, 100),
        region: e.text("address.region", a.region, 100),
        postal_code: e.text("address.postal_code", a.postal_code, 20),
        country: parsed(e, "address.country", a.country, parse_country),
    };
    (address != Address::default()).then_some(address)
}

fn is_key(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn validate_social(e: &mut ValidationErrors, social: BTreeMap<String, String>) -> BTreeMap<String, String> {
    if social.len() > 20 {
        e.add("social", "too_many", "at most 20 social accounts");
    }
    let mut out = BTreeMap::new();
    for (network, handle) in social {
        let field = format!("social.{network}");
        if !is_key(&network, 32) {
            e.add(&field, "invalid_format", "network names are 1-32 characters of [A-Za-z0-9_]");
        }
        if let Some(handle) = e.text(&field, Some(handle), 500) {
            out.insert(network.to_lowercase(), handle);
        }
    }
    out
}

/// What [`validate_tags`] takes, for the spec: at most 50 tags of at most 64 characters of free text.
pub fn tags_schema() -> Array {
    let tag = ObjectBuilder::new().schema_type(Type::String).max_length(Some(TAG_MAX)).pattern(Some(TEXT_PATTERN));
    ArrayBuilder::new().items(tag).max_items(Some(MAX_TAGS)).build()
}

/// Trims the tags of list `name` and drops repeats; a blank, long or control-character tag is an error.
pub(crate) fn validate_tags(e: &mut ValidationErrors, name: &str, tags: Vec<String>) -> Vec<String> {
    if tags.len() > MAX_TAGS {
        e.add(name, "too_many", format!("at most {MAX_TAGS} tags"));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, tag) in tags.into_iter().enumerate() {
        let field = format!("{name}[{i}]");
        match e.text(&field, Some(tag), TAG_MAX) {
            Some(tag) if seen.insert(tag.clone()) => out.push(tag),
            Some(_) => {}
            None => e.add(field, "required", "tags must not be blank"),
        }
    }
    out
}

fn validate_dates(e: &mut ValidationErrors, dates: Vec<ImportantDate>) -> Vec<ImportantDate> {
    if dates.len() > MAX_LIST {
        e.add("important_dates", "too_many", format!("at most {MAX_LIST} dates"));
    }
    let mut out = Vec::new();
    for (i, d) in dates.into_iter().enumerate() {
        let field = format!("important_dates[{i}].label");
        match e.text(&field, Some(d.label), 100) {
            Some(label) => out.push(ImportantDate { label, date: d.date }),
            None => e.add(field, "required", "a date needs a label"),
        }
    }
    out
}

fn validate_custom_fields(e: &mut ValidationErrors, fields: &Map<String, Value>) {
    for key in fields.keys() {
        if !is_key(key, 64) {
            e.add(format!("custom_fields.{key}"), "invalid_format", "keys are 1-64 characters of [A-Za-z0-9_]");
        }
    }
    if serde_json::to_vec(fields).map_or(0, |v| v.len()) > CUSTOM_FIELDS_MAX_BYTES {
        e.add("custom_fields", "too_long", "custom fields must fit in 16 KiB of JSON");
    }
}

fn validate_consents(e: &mut ValidationErrors, consents: Vec<Consent>) -> Vec<Consent> {
    if consents.len() > MAX_LIST {
        e.add("consents", "too_many", format!("at most {MAX_LIST} consents"));
    }
    let mut out = Vec::new();
    for (i, c) in consents.into_iter().enumerate() {
        let purpose = e.text(&format!("consents[{i}].purpose"), Some(c.purpose), 64);
        let source = e.text(&format!("consents[{i}].source"), Some(c.source), 200);
        match (purpose, source) {
            (Some(purpose), Some(source)) => out.push(Consent { purpose, source, ..c }),
            (purpose, source) => {
                if purpose.is_none() {
                    e.add(format!("consents[{i}].purpose"), "required", "a consent needs a purpose");
                }
                if source.is_none() {
                    e.add(format!("consents[{i}].source"), "required", "a consent needs a source");
                }
            }
        }
    }
    out
}

/// The filters `GET /v1/customers` accepts: a segment's criteria plus list-only ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerFilter {
    pub criteria: SegmentCriteria,
    pub company_id: Option<CustomerId>,
    pub email: Option<String>,
    pub updated_after: Option<DateTime<Utc>>,
    pub updated_before: Option<DateTime<Utc>>,
    /// Case-insensitive substring of names, email, phone and company.
    pub q: Option<String>,
    /// List the deleted (restorable) customers instead of the live ones.
    pub deleted: bool,
}

/// A list order: a timestamp column, ascending or descending, ties broken by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerSort {
    pub field: SortField,
    pub descending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    CreatedAt,
    UpdatedAt,
}

impl Default for CustomerSort {
    fn default() -> Self {
        CustomerSort { field: SortField::CreatedAt, descending: true }
    }
}

impl CustomerSort {
    pub const ACCEPTED: [&str; 4] = ["created_at", "-created_at", "updated_at", "-updated_at"];

    pub fn parse(s: &str) -> Option<CustomerSort> {
        let (descending, name) = match s.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, s),
        };
        let field = match name {
            "created_at" => SortField::CreatedAt,
            "updated_at" => SortField::UpdatedAt,
            _ => return None,
        };
        Some(CustomerSort { field, descending })
    }

    pub fn as_str(self) -> &'static str {
        match (self.field, self.descending) {
            (SortField::CreatedAt, false) => "created_at",
            (SortField::CreatedAt, true) => "-created_at",
            (SortField::UpdatedAt, false) => "updated_at",
            (SortField::UpdatedAt, true) => "-updated_at",
        }
    }

    /// The sort key of a customer under this order.
    pub fn key_of(self, customer: &Customer) -> DateTime<Utc> {
        match self.field {
            SortField::CreatedAt => customer.created_at,
            SortField::UpdatedAt => customer.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::patch::decode;

    fn input(value: Value) -> CustomerInput {
        decode(value).unwrap_or_else(|e| panic!("decodes: {e}"))
    }

    fn error_codes(value: Value) -> Vec<(String, String)> {
        match input(value).validate() {
            Ok(c) => panic!("expected errors, got {c:?}"),
            Err(e) => e.0.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    }

    #[test]
    fn a_person_is_normalised() {
        let c = input(json!({
            "kind": "person", "first_name": " Olena ", "email": "Olena@Example.com",
            "phone": "+380 44 123 45 67", "address": {"country": "UA", "city": " Kyiv "},
            "tags": ["vip", "vip", " b2c "], "social": {"LinkedIn": "olena"}
        }))
        .validate()
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.first_name.as_deref(), Some("Olena"));
        assert_eq!(c.email.as_deref(), Some("olena@example.com"));
        assert_eq!(c.phone.as_deref(), Some("+380441234567"));
        let address = c.address.clone().unwrap_or_default();
        assert_eq!((address.city.as_deref(), address.country.as_deref()), (Some("Kyiv"), Some("UA")));
        assert_eq!(c.tags, ["vip", "b2c"]);
        assert_eq!(c.social.get("linkedin").map(String::as_str), Some("olena"));
        assert_eq!(c.display_name(), "Olena");
        assert_eq!(c.lifecycle_stage, LifecycleStage::Prospect);
    }

    #[test]
    fn an_empty_address_is_no_address() {
        let c = input(json!({"kind": "person", "last_name": "K", "address": {"city": "  "}})).validate();
        assert_eq!(c.map(|c| c.address), Ok(None));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let codes = error_codes(json!({
            "kind": "person", "email": "nope", "phone": "12345", "address": {"country": "XX"},
            "vat_number": "UA123", "tags": ["", "x".repeat(65)]
        }));
        let fields: Vec<&str> = codes.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["email", "phone", "address.country", "tags[0]", "tags[1]", "vat_number", "first_name"]);
    }

    #[test]
    fn a_company_needs_a_name_and_cannot_link_to_a_company() {
        let codes = error_codes(json!({"kind": "company", "company_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1b"}));
        assert_eq!(codes, [("company_id".into(), "person_only".into()), ("company_name".into(), "required".into())]);
    }

    #[test]
    fn custom_fields_keys_and_size_are_bounded() {
        let codes = error_codes(json!({"kind": "company", "company_name": "Acme", "custom_fields": {"bad key": 1}}));
        assert_eq!(codes, [("custom_fields.bad key".into(), "invalid_format".into())]);
        let big = "x".repeat(17 * 1024);
        let codes = error_codes(json!({"kind": "company", "company_name": "Acme", "custom_fields": {"k": big}}));
        assert_eq!(codes, [("custom_fields".into(), "too_long".into())]);
    }

    #[test]
    fn company_display_name_and_vat() {
        let c = input(json!({"kind": "company", "company_name": "Acme OÜ", "vat_number": "EE100"}));
        let customer = Customer::new(CustomerId::generate(), c, 1, Utc::now(), Utc::now(), None);
        assert_eq!(customer.display_name, "Acme OÜ");
        assert!(customer.vat_registered);
    }

    #[test]
    fn unknown_enum_values_are_rejected_by_decoding() {
        let err = decode::<CustomerInput>(json!({"kind": "robot"})).err();
        assert_eq!(err.map(|e| e.0[0].code.clone()).as_deref(), Some("invalid_value"));
    }

    #[test]
    fn sorts_parse_and_print_back() {
        for s in CustomerSort::ACCEPTED {
            assert_eq!(CustomerSort::parse(s).map(CustomerSort::as_str), Some(s));
        }
        assert_eq!(CustomerSort::parse("-email"), None);
        assert_eq!(CustomerSort::default().as_str(), "-created_at");
    }

    #[test]
    fn search_text_is_lower_case() {
        let c = input(json!({"kind": "person", "first_name": "Olena", "email": "O@X.COM"}));
        assert_eq!(c.search_text(), "olena o@x.com");
    }
}
