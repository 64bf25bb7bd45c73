//! The rewards catalogue: what customers can redeem their points for, at what cost, and how
//! many are left.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::loyalty::MAX_POINTS;
use crate::{RewardId, ValidationErrors};

pub const NAME_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 2000;
pub const STOCK_MAX: i64 = 1_000_000_000;

/// The writable fields of a reward: the body of `POST /v1/rewards`, and the document a
/// `PATCH` merge patch is applied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Coffee voucher", "description": "One hot drink in any store",
                          "cost_points": 500, "stock": 200, "active": true}))]
pub struct RewardInput {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// What one redemption costs.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub cost_points: i64,
    /// How many are left; each redemption takes one. `null`: unlimited.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub stock: Option<i64>,
    /// Inactive rewards stay listed but cannot be redeemed.
    #[serde(default = "active")]
    pub active: bool,
}

fn active() -> bool {
    true
}

/// A reward as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Reward {
    pub id: RewardId,
    #[schema(example = "Coffee voucher")]
    pub name: String,
    pub description: Option<String>,
    #[schema(example = 500)]
    pub cost_points: i64,
    #[schema(example = 200)]
    pub stock: Option<i64>,
    pub active: bool,
    #[schema(example = 1)]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Reward {
    /// The writable fields, as a merge patch applies to them.
    pub fn input(&self) -> RewardInput {
        RewardInput {
            name: self.name.clone(),
            description: self.description.clone(),
            cost_points: self.cost_points,
            stock: self.stock,
            active: self.active,
        }
    }
}

impl RewardInput {
    pub fn validate(self) -> Result<RewardInput, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let name = e.text("name", Some(self.name), NAME_MAX);
        if name.is_none() && e.is_empty() {
            e.add("name", "required", "a reward needs a name");
        }
        let description = e.text("description", self.description, DESCRIPTION_MAX);
        if !(1..=MAX_POINTS).contains(&self.cost_points) {
            e.add("cost_points", "out_of_range", format!("must be between 1 and {MAX_POINTS}"));
        }
        if self.stock.is_some_and(|s| !(0..=STOCK_MAX).contains(&s)) {
            e.add("stock", "out_of_range", format!("must be between 0 and {STOCK_MAX}, or null for unlimited"));
        }
        e.into_result(RewardInput { name: name.unwrap_or_default(), description, ..self })
    }
}

/// The filters `GET /v1/rewards` accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewardFilter {
    pub active: Option<bool>,
    /// `true`: only rewards that can be redeemed now (active, in stock).
    pub available: Option<bool>,
    pub deleted: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::patch::decode;

    #[test]
    fn rewards_are_validated() {
        let ok = decode::<RewardInput>(json!({"name": " Mug ", "cost_points": 10})).map(RewardInput::validate);
        let ok = ok.ok().and_then(Result::ok);
        assert_eq!(ok.map(|r| (r.name, r.active, r.stock)), Some(("Mug".into(), true, None)));
        let bad = decode::<RewardInput>(json!({"name": " ", "cost_points": 0, "stock": -1, "description": "a\u{0}"}))
            .map(RewardInput::validate);
        let codes: Vec<String> = match bad {
            Ok(Err(e)) => e.0.into_iter().map(|x| format!("{}:{}", x.field, x.code)).collect(),
            other => panic!("expected errors, got {other:?}"),
        };
        assert_eq!(
            codes,
            ["name:required", "description:invalid_characters", "cost_points:out_of_range", "stock:out_of_range"]
        );
    }
}
