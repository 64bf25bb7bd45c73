//! Pipelines: ordered stages a deal moves through, each with a win probability and a kind
//! (open, won, lost). The rules that keep a pipeline usable live here, tested in place.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{PipelineId, StageId, ValidationErrors};

pub const NAME_MAX: usize = 100;
pub const MAX_STAGES: usize = 30;

/// Whether a deal in the stage is still being worked on, or closed as won or lost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    #[default]
    Open,
    Won,
    Lost,
}

impl StageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StageKind::Open => "open",
            StageKind::Won => "won",
            StageKind::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<StageKind> {
        [StageKind::Open, StageKind::Won, StageKind::Lost].into_iter().find(|k| k.as_str() == s)
    }
}

/// One column of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Stage {
    pub id: StageId,
    #[schema(example = "Proposal")]
    pub name: String,
    /// 0-based place in the pipeline.
    #[schema(example = 1)]
    pub position: i32,
    /// Percent, 0 to 100: how likely a deal in this stage is to be won (weights the forecast).
    #[schema(example = 40, minimum = 0, maximum = 100)]
    pub win_probability: i32,
    pub kind: StageKind,
}

/// A pipeline with its stages in order.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Pipeline {
    pub id: PipelineId,
    #[schema(example = "Sales")]
    pub name: String,
    /// New deals go to the default pipeline unless they name another; one per workspace.
    pub is_default: bool,
    pub stages: Vec<Stage>,
    /// Increases with every change, stages included; sent as `ETag`.
    #[schema(example = 1)]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Pipeline {
    /// The stage new deals enter: the first open stage by position.
    pub fn first_open_stage(&self) -> Option<&Stage> {
        self.stages.iter().filter(|s| s.kind == StageKind::Open).min_by_key(|s| s.position)
    }

    pub fn stage(&self, id: StageId) -> Option<&Stage> {
        self.stages.iter().find(|s| s.id == id)
    }
}

/// A stage to add: the body of `POST /v1/pipelines/{id}/stages`, and one entry of a new pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Demo", "win_probability": 30, "kind": "open"}))]
pub struct StageInput {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(minimum = 0, maximum = 100)]
    pub win_probability: i32,
    #[serde(default)]
    pub kind: StageKind,
    /// Where to insert it (0-based); at the end when absent. Ignored inside a new pipeline.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 29)]
    pub position: Option<i32>,
}

/// The editable fields of a stage: what `PATCH /v1/pipelines/{id}/stages/{stage_id}` merges
/// into. The kind is fixed once created: it decides the status of the deals inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Proposal sent", "win_probability": 50}))]
pub struct StageChange {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(minimum = 0, maximum = 100)]
    pub win_probability: i32,
}

/// The body of `POST /v1/pipelines`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Renewals", "stages": [
    {"name": "Due", "win_probability": 50}, {"name": "Renewed", "win_probability": 100, "kind": "won"},
    {"name": "Churned", "win_probability": 0, "kind": "lost"}]}))]
pub struct PipelineInput {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Makes this the workspace's default pipeline (the previous default stops being one).
    #[serde(default)]
    pub is_default: bool,
    /// In order. When absent, the stages of the default "Sales" pipeline.
    #[serde(default)]
    #[schema(max_items = 30)]
    pub stages: Option<Vec<StageInput>>,
}

/// The fields `PATCH /v1/pipelines/{id}` merges into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Enterprise sales", "is_default": true}))]
pub struct PipelineChange {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// `true` makes it the default; a default cannot be unset, only replaced by another.
    pub is_default: bool,
}

/// The body of `PUT /v1/pipelines/{id}/stages/order`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageOrder {
    /// Every stage id of the pipeline, each once, in the new order.
    #[schema(max_items = 30)]
    pub stage_ids: Vec<StageId>,
}

/// The stages every workspace starts with, in its "Sales" pipeline.
pub fn default_stages() -> Vec<StageInput> {
    [
        ("Qualified", 10, StageKind::Open),
        ("Proposal", 40, StageKind::Open),
        ("Negotiation", 70, StageKind::Open),
        ("Won", 100, StageKind::Won),
        ("Lost", 0, StageKind::Lost),
    ]
    .into_iter()
    .map(|(name, win_probability, kind)| StageInput { name: name.to_owned(), win_probability, kind, position: None })
    .collect()
}

pub const DEFAULT_PIPELINE_NAME: &str = "Sales";

fn name(e: &mut ValidationErrors, field: &str, value: String) -> String {
    let name = e.text(field, Some(value), NAME_MAX);
    if name.is_none() && e.0.iter().all(|err| err.field != field) {
        e.add(field, "required", "must not be blank");
    }
    name.unwrap_or_default()
}

fn probability(e: &mut ValidationErrors, field: &str, value: i32) {
    if !(0..=100).contains(&value) {
        e.add(field, "out_of_range", "must be between 0 and 100");
    }
}

impl StageInput {
    /// The trimmed stage, or its problems reported under `prefix` (e.g. `stages[2].`).
    pub fn validate_at(self, prefix: &str, e: &mut ValidationErrors) -> StageInput {
        let name = name(e, &format!("{prefix}name"), self.name);
        probability(e, &format!("{prefix}win_probability"), self.win_probability);
        if self.position.is_some_and(|p| !(0..MAX_STAGES as i32).contains(&p)) {
            e.add(format!("{prefix}position"), "out_of_range", format!("must be between 0 and {}", MAX_STAGES - 1));
        }
        StageInput { name, ..self }
    }

    pub fn validate(self) -> Result<StageInput, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let stage = self.validate_at("", &mut e);
        e.into_result(stage)
    }
}

impl StageChange {
    pub fn validate(self) -> Result<StageChange, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let name = name(&mut e, "name", self.name);
        probability(&mut e, "win_probability", self.win_probability);
        e.into_result(StageChange { name, ..self })
    }
}

impl PipelineChange {
    pub fn validate(self) -> Result<PipelineChange, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let name = name(&mut e, "name", self.name);
        e.into_result(PipelineChange { name, ..self })
    }
}

impl PipelineInput {
    /// The trimmed pipeline with its stages (the default set when none were sent).
    pub fn validate(self) -> Result<(PipelineChange, Vec<StageInput>), ValidationErrors> {
        let mut e = ValidationErrors::default();
        let name = name(&mut e, "name", self.name);
        let stages: Vec<StageInput> = self
            .stages
            .unwrap_or_else(default_stages)
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.validate_at(&format!("stages[{i}]."), &mut e))
            .collect();
        if let Err(problem) = check_stage_kinds(stages.iter().map(|s| s.kind)) {
            e.add("stages", problem.0, problem.1);
        }
        e.into_result((PipelineChange { name, is_default: self.is_default }, stages))
    }
}

/// A pipeline needs 1 to 30 stages, at least one of them open, and at most one won and one
/// lost stage (a deal's outcome must be unambiguous).
pub fn check_stage_kinds(kinds: impl Iterator<Item = StageKind>) -> Result<(), (&'static str, String)> {
    let kinds: Vec<StageKind> = kinds.collect();
    let count = |kind| kinds.iter().filter(|k| **k == kind).count();
    if kinds.len() > MAX_STAGES {
        return Err(("too_many", format!("at most {MAX_STAGES} stages")));
    }
    if count(StageKind::Open) == 0 {
        return Err(("open_stage_required", "a pipeline needs at least one open stage".to_owned()));
    }
    if count(StageKind::Won) > 1 || count(StageKind::Lost) > 1 {
        return Err(("duplicate_kind", "a pipeline has at most one won and one lost stage".to_owned()));
    }
    Ok(())
}

/// Whether `requested` names exactly the stages of `current`, each once.
pub fn is_permutation(current: &[StageId], requested: &[StageId]) -> bool {
    let wanted: BTreeSet<_> = requested.iter().collect();
    wanted.len() == requested.len() && requested.len() == current.len() && current.iter().all(|id| wanted.contains(id))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::patch::decode;

    fn codes(e: ValidationErrors) -> Vec<(String, String)> {
        e.0.into_iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn absent_stages_are_the_default_set() {
        let input: PipelineInput = decode(json!({"name": " Renewals "})).unwrap_or_else(|e| panic!("{e}"));
        let (change, stages) = input.validate().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(change.name, "Renewals");
        let summary: Vec<_> = stages.iter().map(|s| (s.name.as_str(), s.win_probability, s.kind)).collect();
        assert_eq!(
            summary,
            [
                ("Qualified", 10, StageKind::Open),
                ("Proposal", 40, StageKind::Open),
                ("Negotiation", 70, StageKind::Open),
                ("Won", 100, StageKind::Won),
                ("Lost", 0, StageKind::Lost)
            ]
        );
    }

    #[test]
    fn stage_problems_name_the_stage() {
        let input: PipelineInput = decode(json!({"name": "", "stages": [
            {"name": "a", "win_probability": 101}, {"name": " ", "win_probability": 5}
        ]}))
        .unwrap_or_else(|e| panic!("{e}"));
        let got = input.validate().err().map(codes);
        let expected =
            [("name", "required"), ("stages[0].win_probability", "out_of_range"), ("stages[1].name", "required")]
                .map(|(f, c)| (f.to_owned(), c.to_owned()));
        assert_eq!(got, Some(expected.to_vec()));
    }

    #[test]
    fn kinds_need_an_open_stage_and_one_outcome_each() {
        use StageKind::*;
        assert!(check_stage_kinds([Open, Won, Lost].into_iter()).is_ok());
        assert!(check_stage_kinds([Open].into_iter()).is_ok());
        assert_eq!(check_stage_kinds([Won, Lost].into_iter()).map_err(|e| e.0), Err("open_stage_required"));
        assert_eq!(check_stage_kinds([Open, Won, Won].into_iter()).map_err(|e| e.0), Err("duplicate_kind"));
        assert_eq!(check_stage_kinds([Open, Lost, Lost].into_iter()).map_err(|e| e.0), Err("duplicate_kind"));
        assert_eq!(check_stage_kinds(std::iter::repeat_n(Open, 31)).map_err(|e| e.0), Err("too_many"));
    }

    #[test]
    fn reorder_must_name_every_stage_once() {
        let ids: Vec<StageId> = (0..3).map(|_| StageId::generate()).collect();
        assert!(is_permutation(&ids, &[ids[2], ids[0], ids[1]]));
        assert!(!is_permutation(&ids, &[ids[2], ids[0]]));
        assert!(!is_permutation(&ids, &[ids[2], ids[0], ids[0]]));
        assert!(!is_permutation(&ids, &[ids[2], ids[0], ids[1], StageId::generate()]));
    }

    #[test]
    fn first_open_stage_goes_by_position() {
        let stage = |position, kind| Stage {
            id: StageId::generate(),
            name: format!("s{position}"),
            position,
            win_probability: 10,
            kind,
        };
        let pipeline = Pipeline {
            id: PipelineId::generate(),
            name: "p".into(),
            is_default: true,
            stages: vec![stage(2, StageKind::Open), stage(0, StageKind::Won), stage(1, StageKind::Open)],
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        assert_eq!(pipeline.first_open_stage().map(|s| s.position), Some(1));
    }

    #[test]
    fn stage_kind_round_trips() {
        for kind in [StageKind::Open, StageKind::Won, StageKind::Lost] {
            assert_eq!(StageKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(StageKind::parse("closed"), None);
    }
}
