-- Coupons and their redemptions. code is stored trimmed and upper-cased, unique among the
-- workspace's live coupons. redemption_count is raised by the guarded UPDATE that starts each
-- redemption; that row lock serializes the redemptions of one coupon, so its limits hold
-- under concurrency. version counts edits only, not redemptions.
CREATE TABLE coupons (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    code TEXT NOT NULL,
    name TEXT,
    description TEXT,
    discount_type TEXT NOT NULL CHECK (discount_type IN ('percent', 'amount')),
    percent_off INTEGER CHECK (percent_off BETWEEN 1 AND 100),
    amount_off_minor INTEGER CHECK (amount_off_minor > 0),
    currency TEXT,
    min_order_minor INTEGER CHECK (min_order_minor >= 0),
    valid_from TEXT,
    valid_until TEXT,
    max_redemptions INTEGER CHECK (max_redemptions > 0),
    max_redemptions_per_customer INTEGER CHECK (max_redemptions_per_customer > 0),
    segment_id TEXT REFERENCES segments (id),
    redemption_count INTEGER NOT NULL DEFAULT 0 CHECK (redemption_count >= 0),
    active INTEGER NOT NULL,
    search_text TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT,
    CHECK (valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until)
);
CREATE UNIQUE INDEX coupons_live_code ON coupons (workspace_id, code) WHERE deleted_at IS NULL;
CREATE INDEX coupons_created ON coupons (workspace_id, created_at, id);

-- One row per redemption; never deleted. discount_minor is what the coupon took off.
-- A coupon is redeemed at most once per external order.
CREATE TABLE coupon_redemptions (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    coupon_id TEXT NOT NULL REFERENCES coupons (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    order_amount_minor INTEGER,
    currency TEXT,
    discount_minor INTEGER NOT NULL CHECK (discount_minor >= 0),
    purchase_id TEXT REFERENCES purchases (id),
    external_order_id TEXT,
    actor_type TEXT NOT NULL,
    actor_id TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX coupon_redemptions_customer ON coupon_redemptions (coupon_id, customer_id);
CREATE INDEX coupon_redemptions_coupon ON coupon_redemptions (coupon_id, id);
CREATE UNIQUE INDEX coupon_redemptions_order ON coupon_redemptions (coupon_id, external_order_id)
    WHERE external_order_id IS NOT NULL;
