-- RFM and purchase analytics read every order of a workspace in one currency, grouped by
-- customer: this index hands them over in that order without touching the table (an index-only
-- scan), so the per-customer aggregate needs no sort. Measured at 1 M purchases: the aggregate
-- went from ≈ 0.8 s (parallel seq scan + external sort) to ≈ 0.25 s.
CREATE INDEX purchases_analytics ON purchases (workspace_id, currency, customer_id, occurred_at)
    INCLUDE (total_minor, refunded_minor, channel);
