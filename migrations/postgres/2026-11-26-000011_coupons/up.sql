-- Coupons and their redemptions. code is stored trimmed and upper-cased, unique among the
-- workspace's live coupons. redemption_count is raised by the guarded UPDATE that starts each
-- redemption; that row lock serializes the redemptions of one coupon, so its limits hold
-- under concurrency. version counts edits only, not redemptions.
CREATE TABLE coupons (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    code text NOT NULL,
    name text,
    description text,
    discount_type text NOT NULL CHECK (discount_type IN ('percent', 'amount')),
    percent_off bigint CHECK (percent_off BETWEEN 1 AND 100),
    amount_off_minor bigint CHECK (amount_off_minor > 0),
    currency text,
    min_order_minor bigint CHECK (min_order_minor >= 0),
    valid_from timestamptz,
    valid_until timestamptz,
    max_redemptions bigint CHECK (max_redemptions > 0),
    max_redemptions_per_customer bigint CHECK (max_redemptions_per_customer > 0),
    segment_id uuid REFERENCES segments (id),
    redemption_count bigint NOT NULL DEFAULT 0 CHECK (redemption_count >= 0),
    active boolean NOT NULL,
    search_text text NOT NULL,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz,
    CHECK (valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until)
);
CREATE UNIQUE INDEX coupons_live_code ON coupons (workspace_id, code) WHERE deleted_at IS NULL;
CREATE INDEX coupons_created ON coupons (workspace_id, created_at, id);

-- One row per redemption; never deleted. discount_minor is what the coupon took off.
-- A coupon is redeemed at most once per external order.
CREATE TABLE coupon_redemptions (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    coupon_id uuid NOT NULL REFERENCES coupons (id),
    customer_id uuid NOT NULL REFERENCES customers (id),
    order_amount_minor bigint,
    currency text,
    discount_minor bigint NOT NULL CHECK (discount_minor >= 0),
    purchase_id uuid REFERENCES purchases (id),
    external_order_id text,
    actor_type text NOT NULL,
    actor_id uuid,
    created_at timestamptz NOT NULL
);
CREATE INDEX coupon_redemptions_customer ON coupon_redemptions (coupon_id, customer_id);
CREATE INDEX coupon_redemptions_coupon ON coupon_redemptions (coupon_id, id);
CREATE UNIQUE INDEX coupon_redemptions_order ON coupon_redemptions (coupon_id, external_order_id)
    WHERE external_order_id IS NOT NULL;
