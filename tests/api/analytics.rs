//! Analytics: RFM scores, segments and their summary on a fixed ten-customer history whose
//! quintiles and labels are computed by hand below; purchase analytics per month, channel and
//! category on a second small history; the currency rule; and every 4xx path.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, assert_json, assert_no_content, assert_problem, both_backends, id_of};

/// One line of a seeded purchase.
struct Line {
    category: Option<&'static str>,
    quantity: i64,
    unit_minor: i64,
    refunded_quantity: i64,
}

fn line(category: Option<&'static str>, quantity: i64, unit_minor: i64) -> Line {
    Line { category, quantity, unit_minor, refunded_quantity: 0 }
}

/// A purchase to seed through the API: `at` is RFC 3339. `refunded_minor` is refunded by amount
/// after the lines' `refunded_quantity` are refunded by item (all of it: a full refund).
struct Purchase<'a> {
    customer: &'a str,
    at: &'a str,
    channel: &'a str,
    currency: &'a str,
    lines: Vec<Line>,
    discount_minor: i64,
    shipping_minor: i64,
    refunded_minor: i64,
}

fn purchase<'a>(customer: &'a str, at: &'a str, total_minor: i64) -> Purchase<'a> {
    Purchase {
        customer,
        at,
        channel: "web",
        currency: "EUR",
        lines: vec![line(None, 1, total_minor)],
        discount_minor: 0,
        shipping_minor: 0,
        refunded_minor: 0,
    }
}

/// Creates a purchase with `POST /v1/purchases`, then its refunds with `POST …/refund`.
async fn seed(app: &TestApp, p: Purchase<'_>) {
    let subtotal: i64 = p.lines.iter().map(|l| l.quantity * l.unit_minor).sum();
    let total = subtotal - p.discount_minor + p.shipping_minor;
    let items: Vec<Value> = p
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            json!({"sku": format!("SKU-{i}"), "name": "Item", "category": l.category, "quantity": l.quantity,
                   "unit_price_minor": l.unit_minor})
        })
        .collect();
    let body = json!({
        "customer_id": p.customer, "occurred_at": p.at, "channel": p.channel, "currency": p.currency, "items": items,
        "discount_minor": p.discount_minor, "shipping_minor": p.shipping_minor, "total_minor": total
    });
    let created = assert_json(app.post_json("/v1/purchases", &body).await, 201).await;
    let refund = format!("/v1/purchases/{}/refund", id_of(&created));
    let by_item: Vec<Value> = p
        .lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.refunded_quantity > 0)
        .map(|(i, l)| json!({"sku": format!("SKU-{i}"), "quantity": l.refunded_quantity}))
        .collect();
    if !by_item.is_empty() {
        assert_json(app.post_keyed(&refund, &json!({"items": by_item})).await, 200).await;
    }
    if p.refunded_minor == total {
        assert_json(app.post_keyed(&refund, &json!({})).await, 200).await;
    } else if p.refunded_minor > 0 {
        assert_json(app.post_keyed(&refund, &json!({"amount_minor": p.refunded_minor})).await, 200).await;
    }
}

async fn customer(app: &TestApp, name: &str) -> String {
    id_of(&app.post_customer(&json!({"kind": "person", "first_name": name})).await)
}

const AS_OF: &str = "2026-06-30T00:00:00Z";

/// The ten customers of the RFM history, and the hand-computed result for each.
///
/// With n = 10 scored customers a score is 1 + ⌊(rank − 1) / 2⌋: ranks 1–2 → 1, …, 9–10 → 5.
///
/// | customer | last purchase | orders (F rank) | net revenue | R | F | M | FM | segment            |
/// |----------|---------------|-----------------|-------------|---|---|---|----|--------------------|
/// | c1       | 2026-05-01    | 6 (10)          | 10 000      | 5 | 5 | 5 | 5  | champions          |
/// | c2       | 2026-06-01    | 1 (1)           | 1 000       | 5 | 1 | 1 | 1  | new                |
/// | c3       | 2026-01-01    | 3 (5)           | 4 000       | 4 | 3 | 2 | 2  | potential_loyalist |
/// | c4       | 2026-02-01    | 1 (1)           | 3 000       | 4 | 1 | 2 | 1  | promising          |
/// | c5       | 2025-11-01    | 3 (5)           | 6 000       | 3 | 3 | 3 | 3  | need_attention     |
/// | c6       | 2025-12-01    | 1 (1)           | 2 000       | 3 | 1 | 1 | 1  | about_to_sleep     |
/// | c7       | 2025-09-01    | 4 (7)           | 7 000       | 2 | 4 | 4 | 4  | at_risk            |
/// | c8       | 2025-10-01    | 2 (4)           | 5 000       | 2 | 2 | 3 | 2  | hibernating        |
/// | c9       | 2025-07-01    | 5 (9)           | 9 000       | 1 | 5 | 5 | 5  | cannot_lose        |
/// | c10      | 2025-08-01    | 4 (7)           | 8 000       | 1 | 4 | 4 | 4  | cannot_lose        |
///
/// Ties: c2, c4 and c6 have one order each and share rank 1, so all three score F = 1 (c6 would
/// be F = 2 if ties were split by id). Left out: c2's fully refunded purchase, c4's purchase
/// after `as_of`, c5's USD purchase (a second currency), a deleted customer's purchases.
struct Rfm {
    c: Vec<String>,
    deleted: String,
    never_bought: String,
}

/// (customer, last purchase day, R, F, M, orders, net revenue, segment)
type Expected = (usize, &'static str, u8, u8, u8, i64, i64, &'static str);

const EXPECTED: [Expected; 10] = [
    (1, "2026-05-01", 5, 5, 5, 6, 10_000, "champions"),
    (2, "2026-06-01", 5, 1, 1, 1, 1_000, "new"),
    (3, "2026-01-01", 4, 3, 2, 3, 4_000, "potential_loyalist"),
    (4, "2026-02-01", 4, 1, 2, 1, 3_000, "promising"),
    (5, "2025-11-01", 3, 3, 3, 3, 6_000, "need_attention"),
    (6, "2025-12-01", 3, 1, 1, 1, 2_000, "about_to_sleep"),
    (7, "2025-09-01", 2, 4, 4, 4, 7_000, "at_risk"),
    (8, "2025-10-01", 2, 2, 3, 2, 5_000, "hibernating"),
    (9, "2025-07-01", 1, 5, 5, 5, 9_000, "cannot_lose"),
    (10, "2025-08-01", 1, 4, 4, 4, 8_000, "cannot_lose"),
];

async fn rfm_history(app: &TestApp) -> Rfm {
    let mut c = vec![String::new()];
    for i in 1..=10 {
        c.push(customer(app, &format!("C{i}")).await);
    }
    for &(i, last, _, _, _, orders, revenue, _) in &EXPECTED {
        // `orders` purchases a week apart ending on `last`; the last takes the remainder.
        let each = revenue / orders;
        let last_day = chrono::NaiveDate::parse_from_str(last, "%Y-%m-%d").unwrap();
        for k in 0..orders {
            let day = last_day - chrono::Duration::days(7 * (orders - 1 - k));
            let at = format!("{day}T12:00:00.000000Z");
            let amount = if k == orders - 1 { revenue - each * (orders - 1) } else { each };
            if i == 3 && k == orders - 1 {
                // c3's last purchase is 500 more, and those 500 are refunded.
                let mut p = purchase(&c[i], &at, amount + 500);
                p.refunded_minor = 500;
                seed(app, p).await;
            } else {
                seed(app, purchase(&c[i], &at, amount)).await;
            }
        }
    }
    // Left out: fully refunded (c2), after as_of (c4), another currency (c5), a deleted customer.
    let mut refunded = purchase(&c[2], "2026-06-15T12:00:00.000000Z", 50_000);
    refunded.refunded_minor = 50_000;
    seed(app, refunded).await;
    seed(app, purchase(&c[4], "2026-07-15T12:00:00.000000Z", 90_000)).await;
    let mut usd = purchase(&c[5], "2026-06-20T12:00:00.000000Z", 70_000);
    usd.currency = "USD";
    seed(app, usd).await;
    let deleted = customer(app, "Gone").await;
    seed(app, purchase(&deleted, "2026-06-29T12:00:00.000000Z", 1_000_000)).await;
    assert_no_content(app.delete(&format!("/v1/customers/{deleted}")).await).await;
    let never_bought = customer(app, "Window shopper").await;
    Rfm { c, deleted, never_bought }
}

fn check_score(row: &Value, expected: &Expected, c: &[String]) {
    let &(i, last, r, f, m, orders, revenue, segment) = expected;
    let ctx = format!("c{i}: {row}");
    assert_eq!(row["customer_id"], c[i], "{ctx}");
    assert_eq!(row["recency_score"], r, "{ctx}");
    assert_eq!(row["frequency_score"], f, "{ctx}");
    assert_eq!(row["monetary_score"], m, "{ctx}");
    assert_eq!(row["fm_score"], (f + m) / 2, "{ctx}");
    assert_eq!(row["segment"], segment, "{ctx}");
    assert_eq!(row["orders"], orders, "{ctx}");
    assert_eq!(row["revenue_minor"], revenue, "{ctx}");
    assert_eq!(row["currency"], "EUR", "{ctx}");
    assert_eq!(row["last_purchase_at"], format!("{last}T12:00:00Z"), "{ctx}");
}

async fn get_ok(app: &TestApp, path: &str) -> Value {
    assert_json(app.get(path).await, 200).await
}

async fn rfm_scores_quintiles_and_segments(app: TestApp) {
    let h = rfm_history(&app).await;
    let page = get_ok(&app, &format!("/v1/analytics/rfm?currency=EUR&as_of={AS_OF}&limit=200")).await;
    assert_eq!(page["as_of"], AS_OF);
    assert_eq!(page["currency"], "EUR");
    assert_eq!(page["next_cursor"], Value::Null);
    let rows = page["data"].as_array().unwrap();
    assert_eq!(rows.len(), 10, "{page}");
    // By customer id: ids are time-ordered, so in creation order c1 … c10.
    for (row, expected) in rows.iter().zip(EXPECTED.iter()) {
        check_score(row, expected, &h.c);
    }
    // c2: 2026-06-01T12:00 to 2026-06-30T00:00 is 28.5 days.
    assert_eq!(rows[1]["days_since_last_purchase"], 28);

    // One customer against everybody: the same figures.
    for expected in &EXPECTED {
        let one = get_ok(&app, &format!("/v1/customers/{}/rfm?currency=EUR&as_of={AS_OF}", h.c[expected.0])).await;
        check_score(&one, expected, &h.c);
    }
    // No purchases: 200 with null scores.
    let none = get_ok(&app, &format!("/v1/customers/{}/rfm?currency=EUR&as_of={AS_OF}", h.never_bought)).await;
    assert_eq!(none["segment"], "no_purchases");
    assert_eq!(none["recency_score"], Value::Null);
    assert_eq!(none["orders"], 0);
    assert_eq!(none["currency"], "EUR");
    // Deleted and unknown customers are 404.
    assert_problem(app.get(&format!("/v1/customers/{}/rfm?currency=EUR", h.deleted)).await, 404, "not_found").await;
    let unknown = Uuid::now_v7();
    assert_problem(app.get(&format!("/v1/customers/{unknown}/rfm?currency=EUR")).await, 404, "not_found").await;

    // In USD only c5 has an order: one customer is rank 1 of 1, the lowest cell.
    let usd = get_ok(&app, &format!("/v1/analytics/rfm?currency=usd&as_of={AS_OF}")).await;
    assert_eq!(usd["currency"], "USD");
    assert_eq!(usd["data"].as_array().unwrap().len(), 1);
    assert_eq!(usd["data"][0]["customer_id"], h.c[5]);
    assert_eq!(usd["data"][0]["segment"], "lost");
    assert_eq!(usd["data"][0]["revenue_minor"], 70_000);
    // An earlier as_of sees less: on 2025-10-15 only c7 … c10 had bought.
    let early = get_ok(&app, "/v1/analytics/rfm?currency=EUR&as_of=2025-10-15T00:00:00Z").await;
    let early_ids: Vec<&str> =
        early["data"].as_array().unwrap().iter().map(|r| r["customer_id"].as_str().unwrap()).collect();
    assert_eq!(early_ids, [&h.c[7], &h.c[8], &h.c[9], &h.c[10]]);
}
both_backends!(rfm_scores_quintiles_and_segments);

async fn rfm_pages_filters_and_summary(app: TestApp) {
    let h = rfm_history(&app).await;
    // Pages of 3 keep the first page's as_of through the cursor.
    let mut seen = Vec::new();
    let mut path = format!("/v1/analytics/rfm?currency=EUR&as_of={AS_OF}&limit=3");
    loop {
        let page = get_ok(&app, &path).await;
        assert_eq!(page["as_of"], AS_OF);
        seen.extend(page["data"].as_array().unwrap().iter().map(|r| r["segment"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/analytics/rfm?currency=EUR&limit=3&cursor={cursor}"),
            None => break,
        }
    }
    let expected: Vec<&str> = EXPECTED.iter().map(|e| e.7).collect();
    assert_eq!(seen, expected);
    // A cursor with another as_of is refused.
    let first = get_ok(&app, &format!("/v1/analytics/rfm?currency=EUR&as_of={AS_OF}&limit=3")).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let other = format!("/v1/analytics/rfm?currency=EUR&cursor={cursor}&as_of=2026-01-01T00:00:00Z");
    assert_problem(app.get(&other).await, 400, "invalid_parameter").await;

    // Segment filter, a comma list.
    let filtered = get_ok(&app, &format!("/v1/analytics/rfm?currency=EUR&as_of={AS_OF}&segment=cannot_lose,new")).await;
    let ids: Vec<&str> =
        filtered["data"].as_array().unwrap().iter().map(|r| r["customer_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [h.c[2].as_str(), h.c[9].as_str(), h.c[10].as_str()]);
    let empty = get_ok(&app, &format!("/v1/analytics/rfm?currency=EUR&as_of={AS_OF}&segment=loyal")).await;
    assert_eq!(empty["data"], json!([]));

    // The summary: every segment, best first, with zeros where nobody is.
    let summary = get_ok(&app, &format!("/v1/analytics/rfm/summary?currency=EUR&as_of={AS_OF}")).await;
    assert_eq!(summary["customers"], 10);
    assert_eq!(summary["currency"], "EUR");
    let segments: Vec<(String, i64, i64, i64)> = summary["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["segment"].as_str().unwrap().to_owned(),
                s["customers"].as_i64().unwrap(),
                s["orders"].as_i64().unwrap(),
                s["revenue_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    let want = [
        ("champions", 1, 6, 10_000),
        ("loyal", 0, 0, 0),
        ("potential_loyalist", 1, 3, 4_000),
        ("new", 1, 1, 1_000),
        ("promising", 1, 1, 3_000),
        ("need_attention", 1, 3, 6_000),
        ("about_to_sleep", 1, 1, 2_000),
        ("at_risk", 1, 4, 7_000),
        ("cannot_lose", 2, 9, 17_000),
        ("hibernating", 1, 2, 5_000),
        ("lost", 0, 0, 0),
    ]
    .map(|(s, c, o, r)| (s.to_owned(), c, o, r));
    assert_eq!(segments, want);
}
both_backends!(rfm_pages_filters_and_summary);

/// The purchase-analytics history, window 2026-01-01 … 2026-02-28 in EUR:
///
/// | purchase | customer | at                  | channel | lines (category qty × unit)          | total | refunded |
/// |----------|----------|---------------------|---------|--------------------------------------|-------|----------|
/// | p1       | a        | 2026-01-05          | web     | books 2 × 1000, toys 1 × 500         | 2 500 | 0        |
/// | p2       | a        | 2026-01-20          | web     | books 1 × 1500                       | 1 500 | 0        |
/// | p3       | b        | 2026-01-10          | store   | toys 1 × 3000                        | 3 000 | 1 000    |
/// | p4       | b        | 2026-02-03          | web     | books 1 × 800, – 1 × 200; −100 +300  | 1 200 | 0        |
/// | p5       | c        | 2026-02-14          | store   | toys 2 × 1000, 1 unit refunded       | 2 000 | 1 000    |
/// | p6       | c        | 2026-02-20          | phone   | books 1 × 700                        | 700   | 700      |
/// | p10      | b        | 2026-02-28 23:59:59 | phone   | music 1 × 400                        | 400   | 0        |
///
/// Outside: p7 (2025-12-31), p8 (2026-03-01 00:00), p9 (deleted customer d), p6 (fully
/// refunded: not an order). Orders p1 p2 p3 p4 p5 p10: revenue 2500 + 1500 + 2000 + 1200 + 1000
/// + 400 = 8 600, 6 orders, average 1 433, customers a (2), b (3), c (1): 2 of 3 repeat.
async fn purchase_history(app: &TestApp) {
    let (a, b, c, d) =
        (customer(app, "A").await, customer(app, "B").await, customer(app, "C").await, customer(app, "D").await);
    let books = Some("books");
    let toys = Some("toys");
    seed(app, p(&a, "2026-01-05T10:00:00.000000Z", "web", vec![line(books, 2, 1000), line(toys, 1, 500)])).await;
    seed(app, p(&a, "2026-01-20T10:00:00.000000Z", "web", vec![line(books, 1, 1500)])).await;
    let mut p3 = p(&b, "2026-01-10T10:00:00.000000Z", "store", vec![line(toys, 1, 3000)]);
    p3.refunded_minor = 1000;
    seed(app, p3).await;
    let mut p4 = p(&b, "2026-02-03T10:00:00.000000Z", "web", vec![line(books, 1, 800), line(None, 1, 200)]);
    p4.discount_minor = 100;
    p4.shipping_minor = 300;
    seed(app, p4).await;
    let p5 = p(&c, "2026-02-14T10:00:00.000000Z", "store", vec![Line { refunded_quantity: 1, ..line(toys, 2, 1000) }]);
    seed(app, p5).await;
    let mut p6 = p(&c, "2026-02-20T10:00:00.000000Z", "phone", vec![line(books, 1, 700)]);
    p6.refunded_minor = 700;
    seed(app, p6).await;
    seed(app, p(&a, "2025-12-31T23:59:59.999999Z", "web", vec![line(books, 1, 999)])).await;
    seed(app, p(&a, "2026-03-01T00:00:00.000000Z", "web", vec![line(books, 1, 999)])).await;
    seed(app, p(&d, "2026-01-15T10:00:00.000000Z", "web", vec![line(books, 1, 5000)])).await;
    seed(app, p(&b, "2026-02-28T23:59:59.000000Z", "phone", vec![line(Some("music"), 1, 400)])).await;
    assert_no_content(app.delete(&format!("/v1/customers/{d}")).await).await;
}

fn p<'a>(customer: &'a str, at: &'a str, channel: &'a str, lines: Vec<Line>) -> Purchase<'a> {
    Purchase { channel, lines, ..purchase(customer, at, 0) }
}

/// (key, revenue, orders, average, customers, repeat customers, rate)
type Row = (Value, i64, i64, i64, i64, i64, f64);

fn rows_of(stats: &Value) -> Vec<Row> {
    stats["rows"].as_array().unwrap().iter().map(row_of).collect()
}

fn row_of(r: &Value) -> Row {
    (
        r["key"].clone(),
        r["revenue_minor"].as_i64().unwrap(),
        r["orders"].as_i64().unwrap(),
        r["average_order_minor"].as_i64().unwrap(),
        r["customers"].as_i64().unwrap(),
        r["repeat_customers"].as_i64().unwrap(),
        r["repeat_purchase_rate"].as_f64().unwrap(),
    )
}

async fn purchase_analytics_by_month_channel_and_category(app: TestApp) {
    purchase_history(&app).await;
    let stats = |group: &str| format!("/v1/analytics/purchases?group_by={group}&from=2026-01-01&to=2026-02-28");
    let totals: Row = (Value::Null, 8600, 6, 1433, 3, 2, 0.6667);

    let month = get_ok(&app, &stats("month")).await;
    assert_eq!(month["group_by"], "month");
    assert_eq!(month["currency"], "EUR", "one currency: chosen without asking");
    assert_eq!(month["from"], "2026-01-01");
    assert_eq!(
        rows_of(&month),
        vec![(json!("2026-01"), 6000, 3, 2000, 2, 1, 0.5), (json!("2026-02"), 2600, 3, 867, 2, 1, 0.5)]
    );
    assert_eq!(row_of(&month["totals"]), totals);

    let channel = get_ok(&app, &stats("channel")).await;
    assert_eq!(
        rows_of(&channel),
        vec![
            (json!("phone"), 400, 1, 400, 1, 0, 0.0),
            (json!("store"), 3000, 2, 1500, 2, 0, 0.0),
            (json!("web"), 5200, 3, 1733, 2, 1, 0.5),
        ]
    );
    assert_eq!(row_of(&channel["totals"]), totals);

    // Lines: p5's toys net 2000 − 2000 · 1/2; p3's order-level refund stays with the order.
    let category = get_ok(&app, &stats("category")).await;
    assert_eq!(
        rows_of(&category),
        vec![
            (json!("books"), 4300, 3, 1433, 2, 1, 0.5),
            (json!("music"), 400, 1, 400, 1, 0, 0.0),
            (json!("toys"), 4500, 3, 1500, 3, 0, 0.0),
            (Value::Null, 200, 1, 200, 1, 0, 0.0),
        ]
    );
    assert_eq!(row_of(&category["totals"]), totals);

    // One day: 2026-02-28 holds only p10, to its last second.
    let day = get_ok(&app, "/v1/analytics/purchases?group_by=channel&from=2026-02-28&to=2026-02-28").await;
    assert_eq!(rows_of(&day), vec![(json!("phone"), 400, 1, 400, 1, 0, 0.0)]);
    // Another currency: nothing.
    let usd = get_ok(&app, &format!("{}&currency=USD", stats("month"))).await;
    assert_eq!(usd["rows"], json!([]));
    assert_eq!(row_of(&usd["totals"]), (Value::Null, 0, 0, 0, 0, 0, 0.0));
}
both_backends!(purchase_analytics_by_month_channel_and_category);

async fn empty_workspace_answers_empty(app: TestApp) {
    let c = customer(&app, "Nobody").await;
    let rfm = get_ok(&app, "/v1/analytics/rfm").await;
    assert_eq!(rfm["data"], json!([]));
    assert_eq!(rfm["currency"], Value::Null);
    let summary = get_ok(&app, "/v1/analytics/rfm/summary").await;
    assert_eq!(summary["customers"], 0);
    assert_eq!(summary["segments"].as_array().unwrap().len(), 11);
    let one = get_ok(&app, &format!("/v1/customers/{c}/rfm")).await;
    assert_eq!(one["segment"], "no_purchases");
    let stats = get_ok(&app, "/v1/analytics/purchases?group_by=month&from=2026-01-01&to=2026-12-31").await;
    assert_eq!(stats["rows"], json!([]));
    assert_eq!(stats["totals"]["orders"], 0);
}
both_backends!(empty_workspace_answers_empty);

async fn analytics_refuse_bad_input(app: TestApp) {
    let c = customer(&app, "Buyer").await;
    seed(&app, purchase(&c, "2026-01-05T10:00:00.000000Z", 1000)).await;
    let mut usd = purchase(&c, "2026-01-06T10:00:00.000000Z", 1000);
    usd.currency = "USD";
    seed(&app, usd).await;

    // Several currencies and none chosen: 422 listing them.
    let window = "from=2026-01-01&to=2026-01-31";
    for path in [
        "/v1/analytics/rfm".to_owned(),
        "/v1/analytics/rfm/summary".to_owned(),
        format!("/v1/customers/{c}/rfm"),
        format!("/v1/analytics/purchases?group_by=month&{window}"),
    ] {
        let problem = assert_problem(app.get(&path).await, 422, "currency_required").await;
        assert!(problem["detail"].as_str().unwrap().contains("EUR, USD"), "{problem}");
    }
    let bad_parameter = [
        format!("/v1/analytics/purchases?group_by=week&{window}"),
        format!("/v1/analytics/purchases?{window}"),
        "/v1/analytics/purchases?group_by=month&from=2026-13-01&to=2026-12-31".to_owned(),
        "/v1/analytics/purchases?group_by=month&from=yesterday&to=2026-12-31".to_owned(),
        "/v1/analytics/purchases?group_by=month&from=2026-02-01&to=2026-01-31".to_owned(),
        "/v1/analytics/purchases?group_by=month&from=2000-01-01&to=2026-01-31".to_owned(),
        "/v1/analytics/purchases?group_by=month&from=2026-01-01&to=9999-12-31".to_owned(),
        format!("/v1/analytics/purchases?group_by=month&{window}&currency=EURO"),
        format!("/v1/analytics/purchases?group_by=month&{window}&currency=E1R"),
        format!("/v1/analytics/purchases?group_by=month&{window}&sort=key"),
        "/v1/analytics/rfm?currency=EUR&limit=0".to_owned(),
        "/v1/analytics/rfm?currency=EUR&limit=201".to_owned(),
        "/v1/analytics/rfm?currency=EUR&segment=vip".to_owned(),
        "/v1/analytics/rfm?currency=EUR&segment=no_purchases".to_owned(),
        "/v1/analytics/rfm?currency=EUR&as_of=2026-01-01".to_owned(),
        "/v1/analytics/rfm?currency=EUR&q=x".to_owned(),
        "/v1/analytics/rfm/summary?currency=EUR&limit=5".to_owned(),
        "/v1/analytics/rfm/summary?currency=%00%00%00".to_owned(),
        format!("/v1/customers/{c}/rfm?currency=EUR&segment=new"),
        "/v1/customers/not-a-uuid/rfm?currency=EUR".to_owned(),
    ];
    for path in bad_parameter {
        assert_problem(app.get(&path).await, 400, "invalid_parameter").await;
    }
    assert_problem(app.get("/v1/analytics/rfm?currency=EUR&cursor=garbage").await, 400, "invalid_cursor").await;

    // analytics:read is required: a key with other scopes is refused everywhere.
    let key = app.create_api_key(&["customers:read", "purchases:read"]).await;
    let other = app.with_key(&key);
    for path in [
        "/v1/analytics/rfm?currency=EUR".to_owned(),
        "/v1/analytics/rfm/summary?currency=EUR".to_owned(),
        format!("/v1/customers/{c}/rfm?currency=EUR"),
        format!("/v1/analytics/purchases?group_by=month&{window}&currency=EUR"),
    ] {
        assert_problem(other.get(&path).await, 403, "forbidden").await;
    }
    let reader = app.create_api_key(&["analytics:read"]).await;
    assert_json(app.with_key(&reader).get("/v1/analytics/rfm/summary?currency=EUR").await, 200).await;
    assert_problem(app.anonymous().get("/v1/analytics/rfm?currency=EUR").await, 401, "unauthorized").await;

    // Another workspace sees none of this one's purchases or customers.
    let stranger = app.second_workspace().await;
    let theirs = assert_json(app.with_key(&stranger).get("/v1/analytics/rfm").await, 200).await;
    assert_eq!(theirs["data"], json!([]));
    assert_problem(app.with_key(&stranger).get(&format!("/v1/customers/{c}/rfm")).await, 404, "not_found").await;
}
both_backends!(analytics_refuse_bad_input);

/// Amounts each within range (at most 10^15 minor units a purchase) whose sums are not: every
/// analytic answers 422 `too_large` rather than a wrong figure or a 500.
async fn sums_beyond_64_bits_are_refused(app: TestApp) {
    let c = customer(&app, "Whale").await;
    let max = 1_000_000_000_000_000_i64;
    let order = |i: usize| {
        json!({"customer_id": c, "channel": "web", "currency": "EUR", "occurred_at": "2026-01-05T10:00:00Z",
               "external_order_id": format!("W-{i}"),
               "items": [{"sku": "GOLD", "name": "Gold", "quantity": 1, "unit_price_minor": max}], "total_minor": max})
    };
    // 9 500 × 10^15 > 2^63 − 1 ≈ 9.22 × 10^18.
    for batch in 0..19 {
        let purchases: Vec<Value> = (batch * 500..(batch + 1) * 500).map(order).collect();
        let answer =
            assert_json(app.post_json("/v1/purchases/batch", &json!({"purchases": purchases})).await, 200).await;
        assert!(answer["results"].as_array().unwrap().iter().all(|r| r["status"] == 201), "batch {batch}");
    }
    seed(&app, purchase(&c, "2026-01-20T10:00:00.000000Z", 1000)).await;

    let window = "from=2026-01-01&to=2026-01-31";
    for path in [
        format!("/v1/analytics/purchases?group_by=month&{window}"),
        format!("/v1/analytics/purchases?group_by=channel&{window}"),
        format!("/v1/analytics/purchases?group_by=category&{window}"),
        format!("/v1/analytics/rfm?as_of={AS_OF}"),
        format!("/v1/analytics/rfm/summary?as_of={AS_OF}"),
        format!("/v1/customers/{c}/rfm?as_of={AS_OF}"),
    ] {
        let problem = assert_problem(app.get(&path).await, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["code"], "too_large", "{path}: {problem}");
    }
    // A window without the whale's orders still adds up.
    let day = get_ok(&app, "/v1/analytics/purchases?group_by=month&from=2026-01-20&to=2026-01-20").await;
    assert_eq!(day["totals"]["revenue_minor"], 1000);
}
both_backends!(sums_beyond_64_bits_are_refused);
