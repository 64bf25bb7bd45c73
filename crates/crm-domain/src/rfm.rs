//! RFM segmentation: each customer's recency, frequency and monetary value scored 1 to 5 against
//! the workspace's other buying customers, and the named segment those scores fall in.
//!
//! The database computes the scores (quintiles over per-customer aggregates); this module holds
//! what they mean: the score range, the combined F/M score and the segment map.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::CustomerId;
use crate::customer::str_enum;

/// The lowest and highest score of each dimension (5 = best: most recent, most orders, most spent).
pub const MIN_SCORE: u8 = 1;
pub const MAX_SCORE: u8 = 5;

/// A named RFM segment.
///
/// The map resolves the ranges of Putler's segment table ("RFM Analysis For Successful Customer
/// Segmentation", <https://www.putler.com/rfm-analysis/>), which places segments on a grid of the
/// recency score R against the combined frequency/monetary score FM and lets neighbouring
/// ranges overlap. Each of the 25 cells is given to one segment whose published range holds it:
///
/// | FM \ R | 1            | 2           | 3              | 4                  | 5                  |
/// |--------|--------------|-------------|----------------|--------------------|--------------------|
/// | 5      | cannot_lose  | at_risk     | loyal          | champions          | champions          |
/// | 4      | cannot_lose  | at_risk     | loyal          | champions          | champions          |
/// | 3      | at_risk      | at_risk     | need_attention | loyal              | loyal              |
/// | 2      | hibernating  | hibernating | about_to_sleep | potential_loyalist | potential_loyalist |
/// | 1      | lost         | lost        | about_to_sleep | promising          | new                |
///
/// `no_purchases` is not on the grid: it labels a customer without orders in the currency (only
/// `GET /v1/customers/{id}/rfm` returns it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RfmSegment {
    /// Bought recently, buy often and spend the most.
    Champions,
    /// Buy regularly and spend well.
    Loyal,
    /// Recent customers with an average number of orders and spend.
    PotentialLoyalist,
    /// Bought very recently, for the first time or little.
    New,
    /// Recent, but few orders and little spend.
    Promising,
    /// Average recency, frequency and spend.
    NeedAttention,
    /// Average recency, below-average frequency and spend.
    AboutToSleep,
    /// Bought often and spent well, but not lately.
    AtRisk,
    /// Among the most frequent and biggest spenders, but gone the longest.
    CannotLose,
    /// Long ago, seldom, little.
    Hibernating,
    /// The lowest recency, frequency and spend.
    Lost,
    /// No order in the currency up to `as_of`: no scores.
    NoPurchases,
}

str_enum!(RfmSegment {
    Champions => "champions",
    Loyal => "loyal",
    PotentialLoyalist => "potential_loyalist",
    New => "new",
    Promising => "promising",
    NeedAttention => "need_attention",
    AboutToSleep => "about_to_sleep",
    AtRisk => "at_risk",
    CannotLose => "cannot_lose",
    Hibernating => "hibernating",
    Lost => "lost",
    NoPurchases => "no_purchases",
});

impl RfmSegment {
    /// The segments of the grid, best first (the order of the summary).
    pub const GRADED: [RfmSegment; 11] = [
        RfmSegment::Champions,
        RfmSegment::Loyal,
        RfmSegment::PotentialLoyalist,
        RfmSegment::New,
        RfmSegment::Promising,
        RfmSegment::NeedAttention,
        RfmSegment::AboutToSleep,
        RfmSegment::AtRisk,
        RfmSegment::CannotLose,
        RfmSegment::Hibernating,
        RfmSegment::Lost,
    ];

    /// A segment a list can be filtered by: any but `no_purchases`.
    pub fn parse_graded(s: &str) -> Option<RfmSegment> {
        RfmSegment::parse(s).filter(|s| *s != RfmSegment::NoPurchases)
    }

    /// The (R, FM) cells of the grid that carry this segment.
    pub fn cells(self) -> Vec<(u8, u8)> {
        let scores = MIN_SCORE..=MAX_SCORE;
        scores
            .clone()
            .flat_map(|r| scores.clone().map(move |fm| (r, fm)))
            .filter(|&(r, fm)| segment(r, fm) == self)
            .collect()
    }
}

/// The combined frequency/monetary score: the mean of F and M, rounded down (a customer is
/// only as good as the weaker half says once the two disagree by one).
pub fn fm_score(frequency: u8, monetary: u8) -> u8 {
    (frequency + monetary) / 2
}

/// The segment of recency score `r` and combined score `fm` (both 1..=5; anything outside is
/// clamped into the range).
pub fn segment(r: u8, fm: u8) -> RfmSegment {
    use RfmSegment::*;
    let (r, fm) = (r.clamp(MIN_SCORE, MAX_SCORE), fm.clamp(MIN_SCORE, MAX_SCORE));
    match (r, fm) {
        (1, 4..=5) => CannotLose,
        (1..=2, 3..=5) => AtRisk,
        (1..=2, 2) => Hibernating,
        (1..=2, _) => Lost,
        (3, 4..=5) => Loyal,
        (3, 3) => NeedAttention,
        (3, _) => AboutToSleep,
        (_, 4..=5) => Champions,
        (_, 3) => Loyal,
        (_, 2) => PotentialLoyalist,
        (4, _) => Promising,
        _ => New,
    }
}

/// The three scores of a customer; `None` for a customer without orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scores {
    pub recency: u8,
    pub frequency: u8,
    pub monetary: u8,
}

impl Scores {
    pub fn segment(self) -> RfmSegment {
        segment(self.recency, fm_score(self.frequency, self.monetary))
    }
}

/// One customer's RFM scores and segment, in one currency, as of one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({
    "customer_id": "01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1b",
    "recency_score": 5,
    "frequency_score": 4,
    "monetary_score": 5,
    "fm_score": 4,
    "segment": "champions",
    "last_purchase_at": "2026-11-20T14:03:00Z",
    "days_since_last_purchase": 6,
    "orders": 7,
    "revenue_minor": 184500,
    "currency": "EUR"
}))]
pub struct RfmScore {
    pub customer_id: CustomerId,
    /// 1–5, 5 = bought most recently. `null` without orders.
    #[schema(minimum = 1, maximum = 5)]
    pub recency_score: Option<u8>,
    /// 1–5, 5 = most orders.
    #[schema(minimum = 1, maximum = 5)]
    pub frequency_score: Option<u8>,
    /// 1–5, 5 = most net revenue.
    #[schema(minimum = 1, maximum = 5)]
    pub monetary_score: Option<u8>,
    /// ⌊(frequency_score + monetary_score) / 2⌋, the second axis of the segment grid.
    #[schema(minimum = 1, maximum = 5)]
    pub fm_score: Option<u8>,
    pub segment: RfmSegment,
    /// The latest order up to `as_of`.
    pub last_purchase_at: Option<DateTime<Utc>>,
    /// Whole days from `last_purchase_at` to `as_of`.
    pub days_since_last_purchase: Option<i64>,
    /// Purchases up to `as_of` that are not fully refunded.
    pub orders: i64,
    /// Their totals minus refunds, in minor units of `currency`.
    pub revenue_minor: i64,
    /// `null` when the workspace has no purchases at all.
    #[schema(example = "EUR")]
    pub currency: Option<String>,
}

impl RfmScore {
    /// A scored customer.
    pub fn scored(
        customer_id: CustomerId,
        scores: Scores,
        last_purchase_at: DateTime<Utc>,
        as_of: DateTime<Utc>,
        (orders, revenue_minor): (i64, i64),
        currency: Option<String>,
    ) -> RfmScore {
        RfmScore {
            customer_id,
            recency_score: Some(scores.recency),
            frequency_score: Some(scores.frequency),
            monetary_score: Some(scores.monetary),
            fm_score: Some(fm_score(scores.frequency, scores.monetary)),
            segment: scores.segment(),
            last_purchase_at: Some(last_purchase_at),
            days_since_last_purchase: Some((as_of - last_purchase_at).num_days()),
            orders,
            revenue_minor,
            currency,
        }
    }

    /// A customer without orders in the currency up to `as_of`.
    pub fn without_purchases(customer_id: CustomerId, currency: Option<String>) -> RfmScore {
        RfmScore {
            customer_id,
            recency_score: None,
            frequency_score: None,
            monetary_score: None,
            fm_score: None,
            segment: RfmSegment::NoPurchases,
            last_purchase_at: None,
            days_since_last_purchase: None,
            orders: 0,
            revenue_minor: 0,
            currency,
        }
    }
}

/// A page of `GET /v1/analytics/rfm`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RfmPage {
    /// The moment the scores are computed for; the cursor keeps it for the next pages.
    pub as_of: DateTime<Utc>,
    #[schema(example = "EUR")]
    pub currency: Option<String>,
    pub data: Vec<RfmScore>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(example = json!(null))]
    pub next_cursor: Option<String>,
}

/// One segment of the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"segment": "champions", "customers": 412, "orders": 3120, "revenue_minor": 48213000}))]
pub struct RfmSegmentSummary {
    pub segment: RfmSegment,
    pub customers: i64,
    pub orders: i64,
    pub revenue_minor: i64,
}

/// The answer of `GET /v1/analytics/rfm/summary`: every segment of the grid, best first
/// (segments without customers show zeros).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RfmSummary {
    pub as_of: DateTime<Utc>,
    #[schema(example = "EUR")]
    pub currency: Option<String>,
    /// Customers with at least one order (the population the quintiles are taken over).
    pub customers: i64,
    pub segments: Vec<RfmSegmentSummary>,
}

/// Sums per-score-cell counts `(scores, customers, orders, revenue)` into the segments.
/// Fails (`None`) when a sum overflows `i64`.
pub fn summarize(cells: &[(Scores, i64, i64, i64)]) -> Option<(i64, Vec<RfmSegmentSummary>)> {
    let mut out: Vec<RfmSegmentSummary> = RfmSegment::GRADED
        .iter()
        .map(|&segment| RfmSegmentSummary { segment, customers: 0, orders: 0, revenue_minor: 0 })
        .collect();
    let mut total = 0_i64;
    for &(scores, customers, orders, revenue) in cells {
        let segment = scores.segment();
        let row = out.iter_mut().find(|s| s.segment == segment)?;
        row.customers = row.customers.checked_add(customers)?;
        row.orders = row.orders.checked_add(orders)?;
        row.revenue_minor = row.revenue_minor.checked_add(revenue)?;
        total = total.checked_add(customers)?;
    }
    Some((total, out))
}

#[cfg(test)]
mod tests {
    use super::RfmSegment::*;
    use super::*;

    /// The grid of the doc comment, row FM = 5 first, columns R = 1..=5.
    const GRID: [[RfmSegment; 5]; 5] = [
        [CannotLose, AtRisk, Loyal, Champions, Champions],
        [CannotLose, AtRisk, Loyal, Champions, Champions],
        [AtRisk, AtRisk, NeedAttention, Loyal, Loyal],
        [Hibernating, Hibernating, AboutToSleep, PotentialLoyalist, PotentialLoyalist],
        [Lost, Lost, AboutToSleep, Promising, New],
    ];

    #[test]
    fn every_cell_matches_the_documented_grid() {
        for (row, fm) in (1..=5).rev().enumerate() {
            for r in 1..=5_u8 {
                assert_eq!(segment(r, fm), GRID[row][usize::from(r - 1)], "R={r} FM={fm}");
            }
        }
    }

    /// Each label's boundary: the cell inside it and its neighbours across each edge.
    #[test]
    fn label_boundaries() {
        let cases = [
            // champions: R ≥ 4 and FM ≥ 4
            ((4, 4), Champions),
            ((3, 4), Loyal),
            ((4, 3), Loyal),
            ((5, 5), Champions),
            // loyal: R = 3 with FM ≥ 4, or R ≥ 4 with FM = 3
            ((3, 5), Loyal),
            ((2, 5), AtRisk),
            ((5, 3), Loyal),
            ((5, 2), PotentialLoyalist),
            // potential loyalist: R ≥ 4, FM = 2
            ((4, 2), PotentialLoyalist),
            ((3, 2), AboutToSleep),
            ((4, 1), Promising),
            // new: R = 5, FM = 1; promising: R = 4, FM = 1
            ((5, 1), New),
            ((3, 1), AboutToSleep),
            // need attention: exactly R = 3, FM = 3
            ((3, 3), NeedAttention),
            ((2, 3), AtRisk),
            // about to sleep: R = 3, FM ≤ 2
            ((3, 1), AboutToSleep),
            ((2, 2), Hibernating),
            // at risk: R ≤ 2 and FM ≥ 3, except R = 1 with FM ≥ 4
            ((1, 3), AtRisk),
            ((2, 4), AtRisk),
            ((1, 4), CannotLose),
            ((1, 5), CannotLose),
            // hibernating: R ≤ 2, FM = 2; lost: R ≤ 2, FM = 1
            ((1, 2), Hibernating),
            ((1, 1), Lost),
            ((2, 1), Lost),
        ];
        for ((r, fm), want) in cases {
            assert_eq!(segment(r, fm), want, "R={r} FM={fm}");
        }
    }

    #[test]
    fn every_graded_segment_has_cells_and_cells_partition_the_grid() {
        let mut total = 0;
        for s in RfmSegment::GRADED {
            let cells = s.cells();
            assert!(!cells.is_empty(), "{s:?}");
            total += cells.len();
        }
        assert_eq!(total, 25);
        assert!(NoPurchases.cells().is_empty());
    }

    #[test]
    fn fm_is_the_mean_rounded_down() {
        assert_eq!(fm_score(5, 5), 5);
        assert_eq!(fm_score(5, 4), 4);
        assert_eq!(fm_score(4, 5), 4);
        assert_eq!(fm_score(1, 2), 1);
        assert_eq!(fm_score(1, 3), 2);
        assert_eq!(fm_score(1, 1), 1);
        // So F = 5, M = 4 at R = 4 is a champion, F = 5, M = 2 (FM 3) is loyal.
        assert_eq!(Scores { recency: 4, frequency: 5, monetary: 4 }.segment(), Champions);
        assert_eq!(Scores { recency: 4, frequency: 5, monetary: 2 }.segment(), Loyal);
    }

    #[test]
    fn out_of_range_scores_are_clamped() {
        assert_eq!(segment(0, 0), Lost);
        assert_eq!(segment(9, 9), Champions);
    }

    #[test]
    fn names_round_trip_and_no_purchases_is_not_a_filter() {
        for s in RfmSegment::GRADED {
            assert_eq!(RfmSegment::parse_graded(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).ok(), Some(serde_json::json!(s.as_str())));
        }
        assert_eq!(RfmSegment::parse("no_purchases"), Some(NoPurchases));
        assert_eq!(RfmSegment::parse_graded("no_purchases"), None);
        assert_eq!(RfmSegment::parse_graded("Champions"), None);
    }

    #[test]
    fn summary_adds_cells_into_segments_and_refuses_overflow() {
        let s = |recency, frequency, monetary| Scores { recency, frequency, monetary };
        let cells = [(s(5, 5, 5), 2, 10, 1000), (s(4, 4, 5), 1, 3, 50), (s(1, 1, 1), 4, 4, 40)];
        let Some((total, rows)) = summarize(&cells) else { panic!("no overflow here") };
        assert_eq!(total, 7);
        assert_eq!(rows.len(), 11);
        assert_eq!(rows[0], RfmSegmentSummary { segment: Champions, customers: 3, orders: 13, revenue_minor: 1050 });
        assert_eq!(rows[10], RfmSegmentSummary { segment: Lost, customers: 4, orders: 4, revenue_minor: 40 });
        assert_eq!(summarize(&[(s(5, 5, 5), 1, 1, i64::MAX), (s(5, 5, 5), 1, 1, 1)]), None);
    }

    #[test]
    fn a_scored_customer_carries_days_and_fm() {
        let at = DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z").map(|t| t.to_utc()).ok();
        let as_of = DateTime::parse_from_rfc3339("2026-11-26T09:00:00Z").map(|t| t.to_utc()).ok();
        let (Some(at), Some(as_of)) = (at, as_of) else { panic!("timestamps") };
        let id = CustomerId(uuid::Uuid::nil());
        let score = RfmScore::scored(id, Scores { recency: 5, frequency: 3, monetary: 4 }, at, as_of, (7, 100), None);
        assert_eq!(score.days_since_last_purchase, Some(5));
        assert_eq!(score.fm_score, Some(3));
        assert_eq!(score.segment, Loyal);
        assert_eq!(RfmScore::without_purchases(id, None).segment, NoPurchases);
    }
}
