-- RFM and purchase analytics read every order of a workspace in one currency, grouped by
-- customer: with every column they read in this index, SQLite scans it in that order instead
-- of the table and needs no temporary sort for the per-customer aggregate.
CREATE INDEX purchases_analytics ON purchases (workspace_id, currency, customer_id, occurred_at, total_minor,
    refunded_minor, channel);
