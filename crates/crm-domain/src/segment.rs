//! Segments: saved customer filters that describe a target group (selection). The same
//! criteria are accepted by `GET /v1/customers`, so a segment is a list the user already tried.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::Array;

use crate::customer::{CustomerKind, LifecycleStage, tags_schema, validate_tags};
use crate::values::parse_country;
use crate::{SegmentId, UserId, ValidationErrors};

const MAX_VALUES: usize = 50;
const TEXT_MAX: usize = 100;

/// Which customers belong: every criterion given must hold; a list matches any of its values
/// (tags: all of them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "kind": "company",
    "lifecycle_stage": ["lead", "customer"],
    "country": ["UA", "PL"],
    "industry": "retail",
    "vat_registered": true,
    "tags": ["vip"],
    "last_interaction_after": "2026-08-01T00:00:00Z",
    "lead_score_min": 30
}))]
pub struct SegmentCriteria {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<CustomerKind>,
    /// Any of these stages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 50)]
    pub lifecycle_stage: Vec<LifecycleStage>,
    /// Owned by any of these users.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 50)]
    pub owner_id: Vec<UserId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = every_tag_schema)]
    pub tags: Vec<String>,
    /// Any of these ISO 3166-1 alpha-2 countries (of the address).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 50)]
    pub country: Vec<String>,
    /// Exact city of the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 100)]
    pub city: Option<String>,
    /// Exact industry (companies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 100)]
    pub industry: Option<String>,
    /// B2B with a VAT number on file (`true`) or without (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_registered: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_after: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_before: Option<DateTime<Utc>>,
    /// Last interaction on any channel at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_interaction_after: Option<DateTime<Utc>>,
    /// Last interaction before this time, or none at all: the ones going quiet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_interaction_before: Option<DateTime<Utc>>,
    /// The score of the lead the customer was converted from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = -1_000_000, maximum = 1_000_000)]
    pub lead_score_min: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = -1_000_000, maximum = 1_000_000)]
    pub lead_score_max: Option<i32>,
}

/// [`tags_schema`] with what a filter's tags mean (`schema_with` drops the field's doc comment).
fn every_tag_schema() -> Array {
    let mut tags = tags_schema();
    tags.description = Some("Every one of these tags.".to_owned());
    tags
}

impl SegmentCriteria {
    /// Normalises (countries upper-cased, text trimmed, duplicates dropped) and checks bounds.
    /// Field names are prefixed with `prefix` (`filter.` in a segment body, none in a query).
    pub fn validate(self, prefix: &str) -> Result<SegmentCriteria, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let field = |name: &str| format!("{prefix}{name}");
        for (name, len) in [
            ("lifecycle_stage", self.lifecycle_stage.len()),
            ("owner_id", self.owner_id.len()),
            ("country", self.country.len()),
        ] {
            if len > MAX_VALUES {
                e.add(field(name), "too_many", format!("at most {MAX_VALUES} values"));
            }
        }
        let tags = validate_tags(&mut e, &field("tags"), self.tags);
        let mut country = Vec::new();
        for raw in self.country {
            match parse_country(raw.trim()) {
                Ok(code) if !country.contains(&code) => country.push(code),
                Ok(_) => {}
                Err(invalid) => e.add(field("country"), invalid.code, invalid.message),
            }
        }
        let city = e.text(&field("city"), self.city, TEXT_MAX);
        let industry = e.text(&field("industry"), self.industry, TEXT_MAX);
        for (name, low, high) in [
            ("created_before", self.created_after, self.created_before),
            ("last_interaction_before", self.last_interaction_after, self.last_interaction_before),
        ] {
            if let (Some(low), Some(high)) = (low, high)
                && high < low
            {
                e.add(field(name), "out_of_range", "must not be earlier than the matching `_after`");
            }
        }
        for (name, score) in [("lead_score_min", self.lead_score_min), ("lead_score_max", self.lead_score_max)] {
            if score.is_some_and(|s| s.unsigned_abs() > 1_000_000) {
                e.add(field(name), "out_of_range", "must be between -1000000 and 1000000");
            }
        }
        if let (Some(min), Some(max)) = (self.lead_score_min, self.lead_score_max)
            && max < min
        {
            e.add(field("lead_score_max"), "out_of_range", "must not be below lead_score_min");
        }
        e.into_result(SegmentCriteria {
            kind: self.kind,
            lifecycle_stage: dedup(self.lifecycle_stage),
            owner_id: dedup(self.owner_id),
            tags,
            country,
            city,
            industry,
            vat_registered: self.vat_registered,
            created_after: self.created_after,
            created_before: self.created_before,
            last_interaction_after: self.last_interaction_after,
            last_interaction_before: self.last_interaction_before,
            lead_score_min: self.lead_score_min,
            lead_score_max: self.lead_score_max,
        })
    }
}

/// Keeps the first of equal values, in order.
fn dedup<T: PartialEq>(values: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(values.len());
    for value in values {
        if !out.contains(&value) {
            out.push(value);
        }
    }
    out
}

/// The writable fields of a segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Retail companies going quiet",
    "description": "B2B retail customers without contact since August",
    "filter": {"kind": "company", "industry": "retail", "lifecycle_stage": ["customer"],
               "last_interaction_before": "2026-08-01T00:00:00Z"}
}))]
pub struct SegmentInput {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    #[serde(default)]
    pub filter: SegmentCriteria,
}

impl SegmentInput {
    pub fn validate(self) -> Result<SegmentInput, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let name = e.text("name", Some(self.name), 200);
        if name.is_none() && e.is_empty() {
            e.add("name", "required", "a segment needs a name");
        }
        let description = e.text("description", self.description, 2000);
        let filter = match self.filter.validate("filter.") {
            Ok(filter) => filter,
            Err(errors) => {
                e.0.extend(errors.0);
                SegmentCriteria::default()
            }
        };
        e.into_result(SegmentInput { name: name.unwrap_or_default(), description, filter })
    }
}

/// A saved segment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Segment {
    pub id: SegmentId,
    #[schema(example = "Retail companies going quiet")]
    pub name: String,
    pub description: Option<String>,
    pub filter: SegmentCriteria,
    #[schema(example = 1)]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Segment {
    /// The writable fields, as a merge patch applies to them.
    pub fn input(&self) -> SegmentInput {
        SegmentInput { name: self.name.clone(), description: self.description.clone(), filter: self.filter.clone() }
    }
}

/// The answer of `GET /v1/segments/{id}/count`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SegmentCount {
    pub segment_id: SegmentId,
    #[schema(example = 1280)]
    pub count: i64,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::patch::decode;

    fn criteria(value: serde_json::Value) -> Result<SegmentCriteria, Vec<(String, String)>> {
        let parsed: SegmentCriteria = decode(value).unwrap_or_else(|e| panic!("decodes: {e}"));
        parsed.validate("filter.").map_err(|e| e.0.into_iter().map(|e| (e.field, e.code)).collect())
    }

    #[test]
    fn normalises_countries_tags_and_duplicates() {
        let c = criteria(json!({"country": ["ua", " PL", "UA"], "tags": [" vip ", "vip"],
                                "lifecycle_stage": ["lead", "lead"], "city": " Kyiv "}))
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(c.country, ["UA", "PL"]);
        assert_eq!(c.tags, ["vip"]);
        assert_eq!(c.lifecycle_stage, [LifecycleStage::Lead]);
        assert_eq!(c.city.as_deref(), Some("Kyiv"));
    }

    #[test]
    fn rejects_bad_values_with_prefixed_fields() {
        let errors = criteria(json!({"country": ["XX"], "tags": [" "], "lead_score_min": 5, "lead_score_max": 1,
                                     "created_after": "2026-02-01T00:00:00Z", "created_before": "2026-01-01T00:00:00Z",
                                     "city": "a\u{0}b"}))
        .err()
        .unwrap_or_default();
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            ["filter.tags[0]", "filter.country", "filter.city", "filter.created_before", "filter.lead_score_max"]
        );
    }

    #[test]
    fn unknown_criteria_do_not_decode() {
        let value = json!({"colour": "red"});
        assert!(decode::<SegmentCriteria>(value).is_err());
    }

    #[test]
    fn a_segment_needs_a_name() {
        let input = SegmentInput { name: "  ".into(), description: None, filter: SegmentCriteria::default() };
        let errors = input.validate().err().map(|e| e.0).unwrap_or_default();
        assert_eq!(errors.first().map(|e| e.code.as_str()), Some("required"));
    }
}
