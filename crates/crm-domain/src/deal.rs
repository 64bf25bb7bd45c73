//! Deals: an opportunity with a customer, moving through a pipeline's stages. The stage
//! transition rules and the weighted-forecast maths are pure functions tested here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Actor;
use crate::customer::validate_tags;
use crate::pipeline::StageKind;
use crate::{CustomerId, DealId, PipelineId, StageId, UserId, ValidationErrors};

pub const TITLE_MAX: usize = 200;
pub const LOST_REASON_MAX: usize = 500;
/// 10^15 minor units: a quadrillion cents is more than any deal, and × 100 still fits an i64.
pub const AMOUNT_MAX: i64 = 1_000_000_000_000_000;
const CUSTOM_FIELDS_MAX_BYTES: usize = 16 * 1024;

/// Where a deal stands: follows the kind of its stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DealStatus {
    Open,
    Won,
    Lost,
}

impl DealStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DealStatus::Open => "open",
            DealStatus::Won => "won",
            DealStatus::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<DealStatus> {
        [DealStatus::Open, DealStatus::Won, DealStatus::Lost].into_iter().find(|k| k.as_str() == s)
    }

    pub fn of(kind: StageKind) -> DealStatus {
        match kind {
            StageKind::Open => DealStatus::Open,
            StageKind::Won => DealStatus::Won,
            StageKind::Lost => DealStatus::Lost,
        }
    }
}

/// The writable fields of a deal: the body of `POST /v1/deals`, and the document a `PATCH`
/// merge patch is applied to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "50 seats, annual plan",
    "customer_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1b",
    "amount_minor": 1200000,
    "currency": "EUR",
    "expected_close_date": "2026-12-15",
    "tags": ["upsell"]
}))]
pub struct DealInput {
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// A live customer of the workspace.
    pub customer_id: CustomerId,
    /// The workspace's default pipeline when absent.
    #[serde(default)]
    pub pipeline_id: Option<PipelineId>,
    /// A stage of the pipeline; its first open stage when absent. Changing it in a `PATCH`
    /// is a move, recorded like `POST /v1/deals/{id}/move`.
    #[serde(default)]
    pub stage_id: Option<StageId>,
    /// In minor units (cents), 0 to 10^15.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64, example = 1200000)]
    pub amount_minor: i64,
    /// ISO 4217, e.g. `EUR`; required when `amount_minor` is above 0.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z]{3}$", example = "EUR")]
    pub currency: Option<String>,
    #[serde(default)]
    pub expected_close_date: Option<NaiveDate>,
    /// A user of the workspace.
    #[serde(default)]
    pub owner_id: Option<UserId>,
    /// Required when the stage is a lost stage; cleared otherwise.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub lost_reason: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::customer::tags_schema)]
    pub tags: Vec<String>,
    /// Workspace-specific fields: keys are `[A-Za-z0-9_]`, values any JSON (16 KiB in all).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_fields: Map<String, Value>,
}

/// A deal as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Deal {
    pub id: DealId,
    #[schema(example = "50 seats, annual plan")]
    pub title: String,
    pub customer_id: CustomerId,
    pub pipeline_id: PipelineId,
    pub stage_id: StageId,
    /// Derived from the stage's kind.
    pub status: DealStatus,
    #[schema(example = 1200000)]
    pub amount_minor: i64,
    #[schema(example = "EUR")]
    pub currency: Option<String>,
    pub expected_close_date: Option<NaiveDate>,
    pub owner_id: Option<UserId>,
    pub lost_reason: Option<String>,
    /// When the deal was won or lost; `null` while open.
    pub closed_at: Option<DateTime<Utc>>,
    /// When the deal entered its current stage.
    pub stage_entered_at: DateTime<Utc>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub custom_fields: Map<String, Value>,
    /// Increases with every change; sent as `ETag`.
    #[schema(example = 1)]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set while the deal is deleted (restorable).
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Deal {
    /// The writable fields as they stand: what a merge patch applies to.
    pub fn input(&self) -> DealInput {
        DealInput {
            title: self.title.clone(),
            customer_id: self.customer_id,
            pipeline_id: Some(self.pipeline_id),
            stage_id: Some(self.stage_id),
            amount_minor: self.amount_minor,
            currency: self.currency.clone(),
            expected_close_date: self.expected_close_date,
            owner_id: self.owner_id,
            lost_reason: self.lost_reason.clone(),
            tags: self.tags.clone(),
            custom_fields: self.custom_fields.clone(),
        }
    }
}

/// The body of `POST /v1/deals/{id}/move`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"stage_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1b", "lost_reason": "went with a competitor"}))]
pub struct MoveDeal {
    /// Any stage of the workspace; a stage of another pipeline moves the deal there.
    pub stage_id: StageId,
    /// Required when the stage is a lost stage.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub lost_reason: Option<String>,
}

/// One recorded move of a deal (its creation counts, with `from_stage_id` null).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StageChange {
    pub id: Uuid,
    pub deal_id: DealId,
    pub customer_id: CustomerId,
    pub from_stage_id: Option<StageId>,
    pub to_stage_id: StageId,
    pub at: DateTime<Utc>,
    pub actor: Actor,
}

impl DealInput {
    /// Checks every field and returns the normalised deal, or every problem found.
    pub fn validate(self) -> Result<DealInput, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let title = e.text("title", Some(self.title), TITLE_MAX);
        if title.is_none() && e.is_empty() {
            e.add("title", "required", "a deal needs a title");
        }
        if !(0..=AMOUNT_MAX).contains(&self.amount_minor) {
            e.add("amount_minor", "out_of_range", format!("must be between 0 and {AMOUNT_MAX}"));
        }
        let currency = check_currency(&mut e, "currency", self.currency);
        if self.amount_minor > 0 && currency.is_none() && e.0.iter().all(|err| err.field != "currency") {
            e.add("currency", "required", "an amount needs a currency");
        }
        if self.expected_close_date.is_some_and(|d| !(1900..=9999).contains(&d.year())) {
            e.add("expected_close_date", "out_of_range", "must be a day between the years 1900 and 9999");
        }
        let lost_reason = e.text("lost_reason", self.lost_reason, LOST_REASON_MAX);
        let tags = validate_tags(&mut e, "tags", self.tags);
        validate_custom_fields(&mut e, &self.custom_fields);
        e.into_result(DealInput { title: title.unwrap_or_default(), currency, lost_reason, tags, ..self })
    }

    /// Lower-cased text that `q=` searches.
    pub fn search_text(&self) -> String {
        self.title.to_lowercase()
    }
}

/// Three ASCII letters, upper-cased.
pub fn parse_currency(raw: &str) -> Option<String> {
    (raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_alphabetic())).then(|| raw.to_ascii_uppercase())
}

/// [`parse_currency`] for an input field; `None` when absent or refused (`invalid_value`).
pub(crate) fn check_currency(e: &mut ValidationErrors, field: &str, raw: Option<String>) -> Option<String> {
    let parsed = parse_currency(&raw?);
    if parsed.is_none() {
        e.add(field, "invalid_value", "must be an ISO 4217 code of three letters, e.g. EUR");
    }
    parsed
}

fn validate_custom_fields(e: &mut ValidationErrors, fields: &Map<String, Value>) {
    for key in fields.keys() {
        let ok = !key.is_empty() && key.len() <= 64 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            e.add(format!("custom_fields.{key}"), "invalid_format", "keys are 1-64 characters of [A-Za-z0-9_]");
        }
    }
    if serde_json::to_vec(fields).map_or(0, |v| v.len()) > CUSTOM_FIELDS_MAX_BYTES {
        e.add("custom_fields", "too_long", "custom fields must fit in 16 KiB of JSON");
    }
}

/// The outcome fields of a deal after it enters a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: DealStatus,
    pub closed_at: Option<DateTime<Utc>>,
    pub lost_reason: Option<String>,
}

/// What a deal's outcome becomes when it enters a stage of `kind` at `at`, coming from
/// `previous` (`None` on creation). Won and lost stamp `closed_at` (kept when the deal was
/// already closed the same way); lost needs a reason; an open stage clears both.
pub fn enter_stage(
    kind: StageKind,
    lost_reason: Option<String>,
    previous: Option<&Outcome>,
    at: DateTime<Utc>,
) -> Result<Outcome, ValidationErrors> {
    let status = DealStatus::of(kind);
    let closed_at = |status| match previous {
        Some(p) if p.status == status => p.closed_at.or(Some(at)),
        _ => Some(at),
    };
    match status {
        DealStatus::Open => Ok(Outcome { status, closed_at: None, lost_reason: None }),
        DealStatus::Won => Ok(Outcome { status, closed_at: closed_at(status), lost_reason: None }),
        DealStatus::Lost => {
            let mut e = ValidationErrors::default();
            let reason = e.text("lost_reason", lost_reason, LOST_REASON_MAX);
            if reason.is_none() && e.is_empty() {
                e.add("lost_reason", "required", "say why the deal was lost");
            }
            e.into_result(Outcome { status, closed_at: closed_at(status), lost_reason: reason })
        }
    }
}

/// A deal's amount weighted by its stage's win probability, in minor units, rounded half up
/// (amounts are never negative): `(amount × probability + 50) / 100`. The store computes the
/// same expression in SQL, per deal, before summing.
pub fn weighted_minor(amount_minor: i64, win_probability: i32) -> i64 {
    (amount_minor * i64::from(win_probability) + 50) / 100
}

/// A list order, ties broken by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DealSort {
    pub field: DealSortField,
    pub descending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealSortField {
    CreatedAt,
    UpdatedAt,
    AmountMinor,
    /// Deals without a date come last in ascending order, first in descending order.
    ExpectedCloseDate,
}

impl Default for DealSort {
    fn default() -> Self {
        DealSort { field: DealSortField::CreatedAt, descending: true }
    }
}

impl DealSort {
    pub const ACCEPTED: [&str; 8] = [
        "created_at",
        "-created_at",
        "updated_at",
        "-updated_at",
        "amount_minor",
        "-amount_minor",
        "expected_close_date",
        "-expected_close_date",
    ];

    pub fn parse(s: &str) -> Option<DealSort> {
        let (descending, name) = match s.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, s),
        };
        let field = match name {
            "created_at" => DealSortField::CreatedAt,
            "updated_at" => DealSortField::UpdatedAt,
            "amount_minor" => DealSortField::AmountMinor,
            "expected_close_date" => DealSortField::ExpectedCloseDate,
            _ => return None,
        };
        Some(DealSort { field, descending })
    }

    pub fn as_str(self) -> &'static str {
        let index = match self.field {
            DealSortField::CreatedAt => 0,
            DealSortField::UpdatedAt => 2,
            DealSortField::AmountMinor => 4,
            DealSortField::ExpectedCloseDate => 6,
        };
        Self::ACCEPTED[index + usize::from(self.descending)]
    }

    /// The cursor that resumes a list under this order after `deal`.
    pub fn cursor_after(self, deal: &Deal) -> DealCursor {
        let (at, amount, date) = match self.field {
            DealSortField::CreatedAt => (Some(deal.created_at), None, None),
            DealSortField::UpdatedAt => (Some(deal.updated_at), None, None),
            DealSortField::AmountMinor => (None, Some(deal.amount_minor), None),
            DealSortField::ExpectedCloseDate => (None, None, deal.expected_close_date),
        };
        DealCursor { sort: self.as_str().to_owned(), at, amount, date, id: deal.id.0 }
    }
}

/// Where a deal list stopped: the sort key of the last row (one of `at`, `amount`, `date`;
/// none for a date sort inside the deals without a date) and its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealCursor {
    #[serde(rename = "s")]
    pub sort: String,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    pub id: Uuid,
}

impl DealCursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// `None` for anything that is not a cursor this service made for `sort`.
    pub fn decode(raw: &str, sort: DealSort) -> Option<DealCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let cursor: DealCursor = serde_json::from_slice(&bytes).ok()?;
        let fits = match sort.field {
            DealSortField::CreatedAt | DealSortField::UpdatedAt => cursor.at.is_some(),
            DealSortField::AmountMinor => cursor.amount.is_some(),
            DealSortField::ExpectedCloseDate => cursor.at.is_none() && cursor.amount.is_none(),
        };
        (cursor.sort == sort.as_str() && fits).then_some(cursor)
    }
}

/// The filters `GET /v1/deals` accepts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DealFilter {
    pub pipeline_id: Option<PipelineId>,
    pub stage_id: Option<StageId>,
    pub status: Option<DealStatus>,
    pub owner_id: Option<UserId>,
    pub customer_id: Option<CustomerId>,
    pub currency: Option<String>,
    pub expected_close_after: Option<NaiveDate>,
    pub expected_close_before: Option<NaiveDate>,
    pub amount_min: Option<i64>,
    pub amount_max: Option<i64>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// Case-insensitive substring of the title.
    pub q: Option<String>,
    pub deleted: bool,
}

/// How forecast rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForecastGroup {
    /// By calendar month (UTC): `2026-12`.
    Month,
    /// By owner id (`null` for deals without an owner).
    Owner,
}

/// One group of the forecast, in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ForecastRow {
    /// `YYYY-MM` when grouped by month, an owner id (or `null`) when grouped by owner.
    #[schema(example = "2026-12")]
    pub period: Option<String>,
    /// `null` for deals without an amount.
    #[schema(example = "EUR")]
    pub currency: Option<String>,
    /// Open deals expected to close in the range.
    pub open_count: i64,
    pub open_amount_minor: i64,
    /// Each open deal's amount × its stage's win probability / 100, rounded half up, summed.
    pub weighted_amount_minor: i64,
    /// Deals won (closed) in the range.
    pub won_count: i64,
    pub won_amount_minor: i64,
}

/// The answer of `GET /v1/deals/forecast`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Forecast {
    pub group_by: ForecastGroup,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub rows: Vec<ForecastRow>,
}

/// The sums of one stage in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StageAmount {
    pub currency: Option<String>,
    pub amount_minor: i64,
    pub weighted_minor: i64,
}

/// One column of a board.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BoardStage {
    pub stage: crate::pipeline::Stage,
    pub deal_count: i64,
    pub amounts: Vec<StageAmount>,
    /// The stage's first deals, most recently updated first.
    pub deals: Vec<Deal>,
    /// Continues in `GET /v1/deals?stage_id=<stage>&status=open&sort=-updated_at` (add
    /// `owner_id` when the board was filtered by owner); `null` when every deal is shown.
    pub next_cursor: Option<String>,
}

/// The answer of `GET /v1/pipelines/{id}/board`: the open stages in order.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Board {
    pub pipeline_id: PipelineId,
    pub stages: Vec<BoardStage>,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::patch::decode;

    fn input(value: Value) -> DealInput {
        decode(value).unwrap_or_else(|e| panic!("decodes: {e}"))
    }

    fn codes(e: ValidationErrors) -> Vec<(String, String)> {
        e.0.into_iter().map(|e| (e.field, e.code)).collect()
    }

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 12, 0, 0).single().unwrap_or_default()
    }

    const CUSTOMER: &str = "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1b";

    #[test]
    fn a_deal_is_normalised() {
        let deal = input(json!({"title": " Big one ", "customer_id": CUSTOMER, "amount_minor": 500,
                                "currency": "eur", "tags": ["a", "a", " b "]}))
        .validate()
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(deal.title, "Big one");
        assert_eq!(deal.currency.as_deref(), Some("EUR"));
        assert_eq!(deal.tags, ["a", "b"]);
        assert_eq!(deal.search_text(), "big one");
    }

    #[test]
    fn amounts_are_bounded_and_need_a_currency() {
        let got = input(json!({"title": "x", "customer_id": CUSTOMER, "amount_minor": 5})).validate().err().map(codes);
        assert_eq!(got, Some(vec![("currency".into(), "required".into())]));
        let got = input(json!({"title": "x", "customer_id": CUSTOMER, "amount_minor": -1, "currency": "EURO"}))
            .validate()
            .err()
            .map(codes);
        assert_eq!(
            got,
            Some(vec![("amount_minor".into(), "out_of_range".into()), ("currency".into(), "invalid_value".into())])
        );
        let max = json!({"title": "x", "customer_id": CUSTOMER, "amount_minor": AMOUNT_MAX, "currency": "USD"});
        assert!(input(max).validate().is_ok());
        let over = json!({"title": "x", "customer_id": CUSTOMER, "amount_minor": AMOUNT_MAX + 1, "currency": "USD"});
        assert!(input(over).validate().is_err());
        let zero = json!({"title": "x", "customer_id": CUSTOMER});
        assert_eq!(input(zero).validate().map(|d| (d.amount_minor, d.currency)), Ok((0, None)));
    }

    #[test]
    fn title_is_required() {
        let got = input(json!({"title": "  ", "customer_id": CUSTOMER})).validate().err().map(codes);
        assert_eq!(got, Some(vec![("title".into(), "required".into())]));
    }

    #[test]
    fn won_stamps_closed_at_and_keeps_it() {
        let won = enter_stage(StageKind::Won, None, None, at(1)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(won, Outcome { status: DealStatus::Won, closed_at: Some(at(1)), lost_reason: None });
        let again = enter_stage(StageKind::Won, None, Some(&won), at(2)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.closed_at, Some(at(1)), "moving between won stages keeps the first close");
    }

    #[test]
    fn lost_needs_a_reason() {
        let open = Outcome { status: DealStatus::Open, closed_at: None, lost_reason: None };
        let got = enter_stage(StageKind::Lost, None, Some(&open), at(3)).err().map(codes);
        assert_eq!(got, Some(vec![("lost_reason".into(), "required".into())]));
        let blank = enter_stage(StageKind::Lost, Some(" ".into()), Some(&open), at(3)).err().map(codes);
        assert_eq!(blank, Some(vec![("lost_reason".into(), "required".into())]));
        let lost = enter_stage(StageKind::Lost, Some(" price ".into()), Some(&open), at(3));
        assert_eq!(
            lost,
            Ok(Outcome { status: DealStatus::Lost, closed_at: Some(at(3)), lost_reason: Some("price".into()) })
        );
    }

    #[test]
    fn reopening_clears_closed_at_and_reason() {
        let lost = Outcome { status: DealStatus::Lost, closed_at: Some(at(3)), lost_reason: Some("price".into()) };
        let reopened = enter_stage(StageKind::Open, Some("ignored".into()), Some(&lost), at(4));
        assert_eq!(reopened, Ok(Outcome { status: DealStatus::Open, closed_at: None, lost_reason: None }));
        let won = enter_stage(StageKind::Won, None, Some(&lost), at(5)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((won.closed_at, won.lost_reason), (Some(at(5)), None), "lost → won closes anew");
    }

    #[test]
    fn weighting_rounds_half_up() {
        assert_eq!(weighted_minor(1000, 40), 400);
        assert_eq!(weighted_minor(333, 10), 33); // 33.3
        assert_eq!(weighted_minor(335, 10), 34); // 33.5
        assert_eq!(weighted_minor(1, 49), 0); // 0.49
        assert_eq!(weighted_minor(1, 50), 1); // 0.5
        assert_eq!(weighted_minor(0, 100), 0);
        assert_eq!(weighted_minor(AMOUNT_MAX, 100), AMOUNT_MAX);
    }

    #[test]
    fn sorts_and_cursors_round_trip() {
        for s in DealSort::ACCEPTED {
            assert_eq!(DealSort::parse(s).map(DealSort::as_str), Some(s));
        }
        assert_eq!(DealSort::parse("title"), None);
        assert_eq!(DealSort::default().as_str(), "-created_at");
        let sort = DealSort { field: DealSortField::AmountMinor, descending: true };
        let cursor = DealCursor { sort: sort.as_str().into(), at: None, amount: Some(7), date: None, id: Uuid::nil() };
        assert_eq!(DealCursor::decode(&cursor.encode(), sort), Some(cursor.clone()));
        assert_eq!(DealCursor::decode(&cursor.encode(), DealSort::default()), None);
        assert_eq!(DealCursor::decode("garbage", sort), None);
    }

    #[test]
    fn status_follows_the_stage_kind() {
        assert_eq!(DealStatus::of(StageKind::Lost), DealStatus::Lost);
        for s in [DealStatus::Open, DealStatus::Won, DealStatus::Lost] {
            assert_eq!(DealStatus::parse(s.as_str()), Some(s));
        }
    }
}
