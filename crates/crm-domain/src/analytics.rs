//! Purchase analytics: revenue, orders, average order value and repeat-purchase rate per month,
//! category or channel, from sums the database computes.
//!
//! Definitions (the API documents them the same way):
//! - an **order** is a purchase that is not fully refunded; its **net revenue** is
//!   `total_minor − refunded_minor`;
//! - **category revenue** is the net of the category's line items: `line_total_minor` less the
//!   refunded quantity's share of it; the purchase's own discount, tax and shipping are not
//!   spread over lines, so category rows do not add up to the totals. A purchase with lines in
//!   several categories is one order in each of them;
//! - the **repeat-purchase rate** of a group is the share of its customers who placed at least
//!   two of the group's orders within the window.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How purchase analytics are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseGroup {
    /// Calendar month of `occurred_at` (UTC): `2026-11`.
    Month,
    /// Line-item category (`null` for lines without one).
    Category,
    /// The purchase's channel.
    Channel,
}

/// The raw sums of one group, as the database returns them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupSums {
    pub revenue_minor: i64,
    pub orders: i64,
    pub customers: i64,
    /// Customers with at least two of the group's orders.
    pub repeat_customers: i64,
}

/// One group (or the totals) of purchase analytics.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "key": "2026-11",
    "revenue_minor": 1250000,
    "orders": 180,
    "average_order_minor": 6944,
    "customers": 150,
    "repeat_customers": 24,
    "repeat_purchase_rate": 0.16
}))]
pub struct PurchaseStatsRow {
    /// `YYYY-MM`, the category or the channel; `null` for lines without a category (and for the
    /// totals).
    pub key: Option<String>,
    /// Net revenue in minor units of the currency.
    pub revenue_minor: i64,
    pub orders: i64,
    /// `revenue_minor / orders`, rounded half away from zero; 0 without orders.
    pub average_order_minor: i64,
    /// Distinct customers with an order in the group.
    pub customers: i64,
    /// Of those, customers with at least two orders in the group.
    pub repeat_customers: i64,
    /// `repeat_customers / customers`, 0 to 1, rounded to 4 decimals; 0 without customers.
    pub repeat_purchase_rate: f64,
}

impl PurchaseStatsRow {
    pub fn new(key: Option<String>, sums: GroupSums) -> PurchaseStatsRow {
        PurchaseStatsRow {
            key,
            revenue_minor: sums.revenue_minor,
            orders: sums.orders,
            average_order_minor: average_minor(sums.revenue_minor, sums.orders),
            customers: sums.customers,
            repeat_customers: sums.repeat_customers,
            repeat_purchase_rate: rate(sums.repeat_customers, sums.customers),
        }
    }
}

/// The answer of `GET /v1/analytics/purchases`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PurchaseStats {
    pub group_by: PurchaseGroup,
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[schema(example = "EUR")]
    pub currency: Option<String>,
    /// Groups in key order (`null` last); groups without orders are left out.
    pub rows: Vec<PurchaseStatsRow>,
    /// The whole window, counted per purchase (each order and customer once).
    pub totals: PurchaseStatsRow,
}

/// `revenue / orders` rounded half away from zero, in integers (0 when there are no orders).
pub fn average_minor(revenue: i64, orders: i64) -> i64 {
    if orders <= 0 {
        return 0;
    }
    let (revenue, orders) = (i128::from(revenue), i128::from(orders));
    let half = if revenue < 0 { -orders } else { orders };
    // |result| ≤ |revenue|, so it fits back into i64.
    i64::try_from((2 * revenue + half) / (2 * orders)).unwrap_or(i64::MAX)
}

/// `part / whole` in 0..=1 rounded to 4 decimals (0 when `whole` is 0).
pub fn rate(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        return 0.0;
    }
    let basis_points = (i128::from(part) * 20_000 + i128::from(whole)) / (2 * i128::from(whole));
    // Basis points of a share are at most 10 000: exact in f64.
    basis_points as f64 / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_rounds_half_away_from_zero() {
        assert_eq!(average_minor(10, 4), 3); // 2.5
        assert_eq!(average_minor(9, 4), 2); // 2.25
        assert_eq!(average_minor(11, 4), 3); // 2.75
        assert_eq!(average_minor(-10, 4), -3);
        assert_eq!(average_minor(100, 0), 0);
        assert_eq!(average_minor(i64::MAX, 1), i64::MAX);
        assert_eq!(average_minor(i64::MAX, i64::MAX), 1);
    }

    #[test]
    fn rate_is_rounded_to_four_decimals() {
        assert_eq!(rate(1, 3), 0.3333);
        assert_eq!(rate(2, 3), 0.6667);
        assert_eq!(rate(0, 5), 0.0);
        assert_eq!(rate(5, 5), 1.0);
        assert_eq!(rate(1, 0), 0.0);
        assert_eq!(rate(i64::MAX, i64::MAX), 1.0);
    }

    #[test]
    fn a_row_derives_average_and_rate() {
        let row = PurchaseStatsRow::new(
            Some("web".into()),
            GroupSums { revenue_minor: 1000, orders: 3, customers: 2, repeat_customers: 1 },
        );
        assert_eq!(row.average_order_minor, 333);
        assert_eq!(row.repeat_purchase_rate, 0.5);
    }
}
