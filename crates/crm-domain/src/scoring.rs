//! Lead scoring: per-workspace rules (`industry eq retail → +10`) and the pure function that
//! scores a lead with them. Rules are checked against the lead's fields when they are written,
//! so a rule that can never fire (unknown field, number compared with a name) is refused.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::customer::str_enum;
use crate::lead::LeadInput;
#[cfg(test)]
use crate::lead::{LeadSource, LeadStatus};
use crate::{ScoringRuleId, ValidationErrors};

pub const POINTS_MAX: i32 = 1000;
/// Rules per workspace: every lead write evaluates all of them.
pub const MAX_RULES: usize = 100;
const VALUE_MAX: usize = 200;
const MAX_IN_VALUES: usize = 100;
const DESCRIPTION_MAX: usize = 500;

/// How a rule compares the lead's field with its `value`. String comparisons ignore case and
/// surrounding spaces; `gt`/`gte`/`lt`/`lte` compare numbers (numeric strings count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    Eq,
    Neq,
    Contains,
    StartsWith,
    In,
    Gt,
    Gte,
    Lt,
    Lte,
    Exists,
    NotExists,
}

str_enum!(Operator { Eq => "eq", Neq => "neq", Contains => "contains", StartsWith => "starts_with", In => "in", Gt => "gt", Gte => "gte", Lt => "lt", Lte => "lte", Exists => "exists", NotExists => "not_exists" });

/// The writable fields of a scoring rule (body of `POST /v1/scoring-rules`, target of `PATCH`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"field": "industry", "operator": "eq", "value": "retail", "points": 10,
                          "description": "Retail is our best segment"}))]
pub struct ScoringRuleInput {
    /// A lead field (`source`, `status`, `industry`, `email`, `phone`, `country`, `city`,
    /// `company_name`, `job_title`, `website`, `utm_source`, `utm_medium`, `utm_campaign`,
    /// `tags`, …) or `form_data.<key>`.
    #[schema(example = "industry", max_length = 120)]
    pub field: String,
    pub operator: Operator,
    /// What the field is compared with: a string, a number or a boolean; a list for `in`;
    /// absent (or `null`) for `exists`/`not_exists`.
    #[serde(default)]
    pub value: Option<Value>,
    /// Added to the score when the rule fires; negative to penalise.
    #[schema(minimum = -1000, maximum = 1000, example = 10)]
    pub points: i32,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// A scoring rule of the workspace.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ScoringRule {
    pub id: ScoringRuleId,
    #[schema(example = "industry")]
    pub field: String,
    pub operator: Operator,
    pub value: Option<Value>,
    #[schema(example = 10)]
    pub points: i32,
    pub description: Option<String>,
    /// Increases with every change; sent as `ETag`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ScoringRule {
    pub fn input(&self) -> ScoringRuleInput {
        ScoringRuleInput {
            field: self.field.clone(),
            operator: self.operator,
            value: self.value.clone(),
            points: self.points,
            description: self.description.clone(),
        }
    }
}

/// A rule that fired for a lead, as stored with the lead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScoreReason {
    pub rule_id: ScoringRuleId,
    #[schema(example = "industry")]
    pub field: String,
    pub operator: Operator,
    pub value: Option<Value>,
    #[schema(example = 10)]
    pub points: i32,
}

/// What kind of value a scorable field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Text,
    Choice(&'static [&'static str]),
    List,
    /// `form_data.<key>`: whatever the form sent.
    Any,
}

const TEXT_FIELDS: [&str; 16] = [
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
    "owner_id",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "notes",
    "lost_reason",
];
const SOURCES: &[&str] = &["web_form", "import", "referral", "campaign", "event", "social", "other"];
const STATUSES: &[&str] = &["new", "contacted", "qualified", "disqualified", "converted"];

fn field_kind(field: &str) -> Option<FieldKind> {
    match field {
        "source" => Some(FieldKind::Choice(SOURCES)),
        "status" => Some(FieldKind::Choice(STATUSES)),
        "tags" => Some(FieldKind::List),
        f if TEXT_FIELDS.contains(&f) => Some(FieldKind::Text),
        f => f.strip_prefix("form_data.").filter(|k| !k.is_empty() && k.chars().count() <= 100).map(|_| FieldKind::Any),
    }
}

impl ScoringRuleInput {
    /// Checks that the rule can fire: a known field, an operator that suits it and a value
    /// of the right type.
    pub fn validate(self) -> Result<ScoringRuleInput, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let field = self.field.trim().to_owned();
        e.check_len("field", &self.field, 120);
        let kind = field_kind(&field);
        if kind.is_none() {
            e.add(
                "field",
                "invalid_value",
                "not a lead field: use a field name such as `industry`, or `form_data.<key>`",
            );
        }
        if !(-POINTS_MAX..=POINTS_MAX).contains(&self.points) {
            e.add("points", "out_of_range", "must be between -1000 and 1000");
        }
        let description = e.text("description", self.description, DESCRIPTION_MAX);
        let value = self.value.filter(|v| !v.is_null());
        if value.as_ref().is_some_and(has_control) {
            e.add("value", "invalid_characters", "must not contain control characters");
        }
        if let Some(kind) = kind {
            check_operand(&mut e, kind, self.operator, value.as_ref());
        }
        e.into_result(ScoringRuleInput { field, operator: self.operator, value, points: self.points, description })
    }
}

fn has_control(value: &Value) -> bool {
    match value {
        Value::String(s) => s.chars().any(char::is_control),
        Value::Array(items) => items.iter().any(has_control),
        Value::Object(map) => map.iter().any(|(k, v)| k.chars().any(char::is_control) || has_control(v)),
        _ => false,
    }
}

fn check_operand(e: &mut ValidationErrors, kind: FieldKind, op: Operator, value: Option<&Value>) {
    use Operator::*;
    let suits = matches!(
        (kind, op),
        (_, Exists | NotExists)
            | (FieldKind::Any, _)
            | (FieldKind::Text, Eq | Neq | Contains | StartsWith | In)
            | (FieldKind::Choice(_), Eq | Neq | In)
            | (FieldKind::List, Contains | In)
    );
    if !suits {
        e.add("operator", "invalid_value", format!("`{}` does not apply to this field", op.as_str()));
        return;
    }
    let scalar_ok = |v: &Value| match (kind, op) {
        (_, Gt | Gte | Lt | Lte) => v.is_number(),
        (FieldKind::Any, Eq | Neq | In) => v.is_string() || v.is_number() || v.is_boolean(),
        (FieldKind::Choice(choices), _) => v.as_str().is_some_and(|s| choices.contains(&s)),
        _ => v.as_str().is_some_and(|s| !s.trim().is_empty()),
    };
    let too_long = |v: &Value| v.as_str().is_some_and(|s| s.chars().count() > VALUE_MAX);
    match (op, value) {
        (Exists | NotExists, None) => {}
        (Exists | NotExists, Some(_)) => e.add("value", "invalid_value", "`exists`/`not_exists` take no value"),
        (_, None) => e.add("value", "required", "this operator compares with a value"),
        (In, Some(Value::Array(items))) => {
            if items.is_empty() || items.len() > MAX_IN_VALUES {
                e.add("value", "invalid_value", "`in` takes a list of 1 to 100 values");
            }
            for (i, item) in items.iter().enumerate() {
                if !scalar_ok(item) {
                    e.add(format!("value[{i}]"), "invalid_type", "not a value this field can hold");
                } else if too_long(item) {
                    e.add(format!("value[{i}]"), "too_long", "must be at most 200 characters");
                }
            }
        }
        (In, Some(_)) => e.add("value", "invalid_type", "`in` takes a list"),
        (_, Some(v)) if !scalar_ok(v) => {
            let expected = match (kind, op) {
                (_, Gt | Gte | Lt | Lte) => "a number".to_owned(),
                (FieldKind::Choice(choices), _) => format!("one of {}", choices.join(", ")),
                (FieldKind::Any, Eq | Neq) => "a string, a number or a boolean".to_owned(),
                _ => "a non-empty string".to_owned(),
            };
            e.add("value", "invalid_type", format!("must be {expected}"));
        }
        (_, Some(v)) if too_long(v) => e.add("value", "too_long", "must be at most 200 characters"),
        _ => {}
    }
}

/// The lead's value of `field`; `None` when it is absent, `null`, blank or an empty list.
fn lookup<'a>(doc: &'a Value, field: &str) -> Option<&'a Value> {
    let value = match field.strip_prefix("form_data.") {
        Some(key) => doc.get("form_data")?.get(key)?,
        None => doc.get(field)?,
    };
    let empty = match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    (!empty).then_some(value)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_lowercase()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    }
}

/// Equal as numbers when either side is a number and both read as one ("42" = 42), else
/// equal as case-insensitive text.
fn equal(actual: &Value, expected: &Value) -> bool {
    if (actual.is_number() || expected.is_number())
        && let (Some(a), Some(b)) = (number(actual), number(expected))
    {
        return a == b;
    }
    matches!((text(actual), text(expected)), (Some(a), Some(b)) if a == b)
}

fn scalar_matches(op: Operator, actual: &Value, expected: &Value) -> bool {
    let texts = || text(actual).zip(text(expected));
    let numbers = || number(actual).zip(number(expected));
    match op {
        Operator::Eq => equal(actual, expected),
        Operator::Contains => texts().is_some_and(|(a, b)| a.contains(&b)),
        Operator::StartsWith => texts().is_some_and(|(a, b)| a.starts_with(&b)),
        Operator::In => expected.as_array().is_some_and(|items| items.iter().any(|item| equal(actual, item))),
        Operator::Gt => numbers().is_some_and(|(a, b)| a > b),
        Operator::Gte => numbers().is_some_and(|(a, b)| a >= b),
        Operator::Lt => numbers().is_some_and(|(a, b)| a < b),
        Operator::Lte => numbers().is_some_and(|(a, b)| a <= b),
        Operator::Neq | Operator::Exists | Operator::NotExists => false,
    }
}

/// Whether a rule fires for a field value. Points are given for known facts only: a missing
/// field fires `not_exists` and nothing else (not even `neq`). A list (tags, a multi-select
/// answer) matches when any element does; `contains` on a list means "has this element".
fn fires(op: Operator, actual: Option<&Value>, expected: Option<&Value>) -> bool {
    let Some(actual) = actual else { return op == Operator::NotExists };
    let expected = expected.unwrap_or(&Value::Null);
    match (op, actual) {
        (Operator::Exists, _) => true,
        (Operator::NotExists, _) => false,
        (Operator::Neq, Value::Array(items)) => !items.iter().any(|item| equal(item, expected)),
        (Operator::Neq, _) => !equal(actual, expected),
        (Operator::Contains, Value::Array(items)) => items.iter().any(|item| equal(item, expected)),
        (_, Value::Array(items)) => items.iter().any(|item| scalar_matches(op, item, expected)),
        _ => scalar_matches(op, actual, expected),
    }
}

/// Scores a lead: the sum of the points of every rule that fires, and those rules in order.
pub fn score(lead: &LeadInput, rules: &[ScoringRule]) -> (i32, Vec<ScoreReason>) {
    let doc = serde_json::to_value(lead).unwrap_or_default();
    let mut total: i32 = 0;
    let mut reasons = Vec::new();
    for rule in rules {
        if fires(rule.operator, lookup(&doc, &rule.field), rule.value.as_ref()) {
            total = total.saturating_add(rule.points);
            reasons.push(ScoreReason {
                rule_id: rule.id,
                field: rule.field.clone(),
                operator: rule.operator,
                value: rule.value.clone(),
                points: rule.points,
            });
        }
    }
    (total, reasons)
}

/// The `source`/`status` strings a rule may compare with, kept in step with the enums.
#[cfg(test)]
fn choices_match_enums() -> bool {
    SOURCES.iter().all(|s| LeadSource::parse(s).is_some()) && STATUSES.iter().all(|s| LeadStatus::parse(s).is_some())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::patch::decode;

    fn rule(field: &str, operator: Operator, value: Value, points: i32) -> ScoringRule {
        ScoringRule {
            id: ScoringRuleId::generate(),
            field: field.into(),
            operator,
            value: Some(value).filter(|v| !v.is_null()),
            points,
            description: None,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn lead(value: Value) -> LeadInput {
        decode(value).unwrap_or_else(|e| panic!("{e}"))
    }

    fn points(lead_json: Value, rules: &[ScoringRule]) -> i32 {
        score(&lead(lead_json), rules).0
    }

    fn rule_errors(value: Value) -> Vec<(String, String)> {
        let input: ScoringRuleInput = decode(value).unwrap_or_else(|e| panic!("{e}"));
        match input.validate() {
            Ok(r) => panic!("expected errors for {r:?}"),
            Err(e) => e.0.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    }

    #[test]
    fn the_issue_examples_add_up() {
        let rules = [
            rule("industry", Operator::Eq, json!("retail"), 10),
            rule("phone", Operator::Exists, Value::Null, 5),
            rule("source", Operator::Eq, json!("referral"), 20),
        ];
        let (total, reasons) =
            score(&lead(json!({"industry": "Retail ", "phone": "+380441234567", "source": "referral"})), &rules);
        assert_eq!(total, 35);
        assert_eq!(reasons.iter().map(|r| r.points).collect::<Vec<_>>(), [10, 5, 20]);
        assert_eq!(reasons[0].rule_id, rules[0].id);
        assert_eq!(points(json!({"industry": "wholesale"}), &rules), 0);
    }

    #[test]
    fn string_comparisons_ignore_case_and_spaces() {
        let rules = [
            rule("company_name", Operator::Contains, json!("COFFEE"), 1),
            rule("email", Operator::StartsWith, json!("Sales@"), 2),
            rule("city", Operator::In, json!(["Kyiv", "LVIV"]), 4),
        ];
        assert_eq!(points(json!({"company_name": "Lviv coffee", "email": "sales@x.com", "city": " lviv"}), &rules), 7);
    }

    #[test]
    fn missing_fields_fire_only_not_exists() {
        let rules = [
            rule("industry", Operator::Neq, json!("retail"), 1),
            rule("industry", Operator::NotExists, Value::Null, 2),
            rule("form_data.budget", Operator::Lt, json!(100), 4),
            rule("tags", Operator::Exists, Value::Null, 8),
        ];
        assert_eq!(points(json!({"first_name": "A", "industry": "  ", "tags": []}), &rules), 2);
        assert_eq!(points(json!({"industry": "farming", "tags": ["x"]}), &rules), 9);
    }

    #[test]
    fn numbers_and_numeric_strings_compare_as_numbers() {
        let rules = [
            rule("form_data.budget", Operator::Gte, json!(1000), 10),
            rule("form_data.seats", Operator::Eq, json!(5), 1),
            rule("form_data.plan", Operator::Eq, json!("5"), 100),
        ];
        assert_eq!(points(json!({"form_data": {"budget": "1500", "seats": "5.0"}}), &rules), 11);
        assert_eq!(points(json!({"form_data": {"budget": 999.5, "seats": 5, "plan": 5}}), &rules), 101);
        assert_eq!(points(json!({"form_data": {"budget": "lots", "seats": "five", "plan": {"x": 1}}}), &rules), 0);
        let flag = [rule("form_data.newsletter", Operator::Eq, json!(true), 3)];
        assert_eq!(points(json!({"form_data": {"newsletter": "TRUE"}}), &flag), 3);
        assert_eq!(points(json!({"form_data": {"newsletter": false}}), &flag), 0);
    }

    #[test]
    fn lists_match_by_element() {
        let rules = [
            rule("tags", Operator::Contains, json!("VIP"), 1),
            rule("tags", Operator::In, json!(["b2b", "gold"]), 2),
            rule("form_data.interests", Operator::Neq, json!("spam"), 4),
        ];
        assert_eq!(points(json!({"tags": ["vip-gold", "b2b"], "form_data": {"interests": ["a", "b"]}}), &rules), 6);
        assert_eq!(points(json!({"tags": ["vip"], "form_data": {"interests": ["spam"]}}), &rules), 1);
    }

    #[test]
    fn negative_points_and_saturation() {
        let rules = vec![rule("first_name", Operator::Exists, Value::Null, -1000); 3];
        assert_eq!(points(json!({"first_name": "A"}), &rules), -3000);
        let many = vec![rule("first_name", Operator::Exists, Value::Null, 1000); 10];
        assert_eq!(points(json!({"first_name": "A"}), &many), 10_000);
    }

    #[test]
    fn rules_that_cannot_fire_are_refused() {
        let field = |f: &str| rule_errors(json!({"field": f, "operator": "exists", "points": 1}));
        assert_eq!(field("shoe_size"), [("field".into(), "invalid_value".into())]);
        assert_eq!(field("form_data."), [("field".into(), "invalid_value".into())]);
        assert_eq!(field("score"), [("field".into(), "invalid_value".into())]);
        let errors = rule_errors(json!({"field": "industry", "operator": "gt", "value": 3, "points": 1}));
        assert_eq!(errors, [("operator".into(), "invalid_value".into())]);
        let errors = rule_errors(json!({"field": "form_data.budget", "operator": "gt", "value": "3", "points": 1}));
        assert_eq!(errors, [("value".into(), "invalid_type".into())]);
        let errors = rule_errors(json!({"field": "source", "operator": "eq", "value": "referal", "points": 1}));
        assert_eq!(errors, [("value".into(), "invalid_type".into())]);
        let errors = rule_errors(json!({"field": "industry", "operator": "eq", "points": 1}));
        assert_eq!(errors, [("value".into(), "required".into())]);
        let errors = rule_errors(json!({"field": "phone", "operator": "exists", "value": "x", "points": 1}));
        assert_eq!(errors, [("value".into(), "invalid_value".into())]);
        let errors = rule_errors(json!({"field": "city", "operator": "in", "value": [], "points": 1}));
        assert_eq!(errors, [("value".into(), "invalid_value".into())]);
        let errors = rule_errors(json!({"field": "city", "operator": "in", "value": ["a", 1], "points": 1}));
        assert_eq!(errors, [("value[1]".into(), "invalid_type".into())]);
        let errors = rule_errors(json!({"field": "tags", "operator": "eq", "value": "x", "points": 1}));
        assert_eq!(errors, [("operator".into(), "invalid_value".into())]);
        let errors = rule_errors(json!({"field": "city", "operator": "in", "value": ["a\u{0}"], "points": 1}));
        assert_eq!(errors, [("value".into(), "invalid_characters".into())]);
        let errors = rule_errors(json!({"field": "city", "operator": "eq", "value": "x", "points": 1001}));
        assert_eq!(errors, [("points".into(), "out_of_range".into())]);
    }

    #[test]
    fn valid_rules_are_normalised() {
        let input: ScoringRuleInput =
            decode(json!({"field": " form_data.budget ", "operator": "exists", "value": null, "points": -5}))
                .unwrap_or_else(|e| panic!("{e}"));
        let rule = input.validate().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((rule.field.as_str(), rule.value, rule.points), ("form_data.budget", None, -5));
        assert!(choices_match_enums());
    }
}
