-- Purchases with their line items and refunds. A purchase is never deleted: a mistake is
-- refunded, so revenue, points and analytics always agree with the history.
-- external_order_id is the shop's own order number: unique per workspace, so a re-sent
-- order is recognised instead of counted twice.
-- total_minor = sum(line_total_minor) - discount_minor + tax_minor + shipping_minor (checked
-- in crm-domain); refunded_minor never exceeds total_minor.
CREATE TABLE purchases (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    customer_id uuid NOT NULL REFERENCES customers (id),
    external_order_id text,
    channel text NOT NULL,
    status text NOT NULL,
    occurred_at timestamptz NOT NULL,
    currency text NOT NULL,
    subtotal_minor bigint NOT NULL,
    discount_minor bigint NOT NULL,
    tax_minor bigint NOT NULL,
    shipping_minor bigint NOT NULL,
    total_minor bigint NOT NULL CHECK (total_minor >= 0),
    refunded_minor bigint NOT NULL DEFAULT 0 CHECK (refunded_minor BETWEEN 0 AND total_minor),
    coupon_code text,
    points_earned bigint NOT NULL DEFAULT 0,
    points_reversed bigint NOT NULL DEFAULT 0,
    metadata jsonb NOT NULL,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX purchases_external_order ON purchases (workspace_id, external_order_id)
    WHERE external_order_id IS NOT NULL;
CREATE INDEX purchases_occurred ON purchases (workspace_id, occurred_at, id);
CREATE INDEX purchases_created ON purchases (workspace_id, created_at, id);
CREATE INDEX purchases_customer_occurred ON purchases (workspace_id, customer_id, occurred_at, id);

-- Line items, in the order the client sent them. refunded_quantity counts item-level refunds.
CREATE TABLE purchase_items (
    purchase_id uuid NOT NULL REFERENCES purchases (id),
    position integer NOT NULL,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    sku text NOT NULL,
    name text NOT NULL,
    category text,
    quantity integer NOT NULL CHECK (quantity > 0),
    unit_price_minor bigint NOT NULL CHECK (unit_price_minor >= 0),
    line_total_minor bigint NOT NULL,
    refunded_quantity integer NOT NULL DEFAULT 0,
    PRIMARY KEY (purchase_id, position)
);
CREATE INDEX purchase_items_category ON purchase_items (workspace_id, category);

-- Refunds, full or partial; each reverses its share of the purchase's points.
CREATE TABLE purchase_refunds (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    purchase_id uuid NOT NULL REFERENCES purchases (id),
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    items jsonb NOT NULL,
    reason text,
    points_reversed bigint NOT NULL DEFAULT 0,
    actor_type text NOT NULL,
    actor_id uuid,
    created_at timestamptz NOT NULL
);
CREATE INDEX purchase_refunds_purchase ON purchase_refunds (purchase_id, created_at);
