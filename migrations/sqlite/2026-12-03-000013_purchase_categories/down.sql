DROP TABLE purchase_categories;
DROP INDEX purchases_counted;
CREATE INDEX purchases_analytics ON purchases (workspace_id, currency, customer_id, occurred_at, total_minor,
    refunded_minor, channel);
