-- Analytics count a purchase unless it is refunded in full: `status <> 'refunded'`, which this
-- partial index serves with every column the per-customer aggregates read (see the PostgreSQL
-- migration of the same name for the measurements). `status` is in it too: SQLite reads a
-- column from a partial index's condition only when that is `column = constant`, and without
-- it went back to the table for every purchase.
DROP INDEX purchases_analytics;
CREATE INDEX purchases_counted ON purchases (workspace_id, currency, customer_id, occurred_at, total_minor,
    refunded_minor, channel, status) WHERE status <> 'refunded';

-- What category analytics count, kept by every purchase and refund write (crm-store
-- purchases.rs): per purchase not refunded in full and per category of its lines with units
-- left, their net revenue, with the purchase's customer, currency and time.
CREATE TABLE purchase_categories (
    purchase_id TEXT NOT NULL REFERENCES purchases (id),
    category TEXT,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    currency TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    revenue_minor INTEGER NOT NULL
);
CREATE INDEX purchase_categories_purchase ON purchase_categories (purchase_id);
CREATE INDEX purchase_categories_analytics ON purchase_categories (workspace_id, currency, category, customer_id,
    occurred_at, revenue_minor);

INSERT INTO purchase_categories (purchase_id, category, workspace_id, customer_id, currency, occurred_at, revenue_minor)
SELECT p.id, i.category, p.workspace_id, p.customer_id, p.currency, p.occurred_at,
    SUM(i.unit_price_minor * (i.quantity - i.refunded_quantity))
FROM purchases p JOIN purchase_items i ON i.purchase_id = p.id
WHERE p.status <> 'refunded' AND i.refunded_quantity < i.quantity
GROUP BY p.id, i.category;
