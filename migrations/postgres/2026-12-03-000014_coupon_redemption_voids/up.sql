-- A redemption can be voided (the order was cancelled before it was paid): it then no longer
-- counts against the coupon's limits, and its external order may redeem the coupon again.
ALTER TABLE coupon_redemptions ADD COLUMN voided_at timestamptz;
ALTER TABLE coupon_redemptions ADD COLUMN void_reason text;
DROP INDEX coupon_redemptions_order;
CREATE UNIQUE INDEX coupon_redemptions_order ON coupon_redemptions (coupon_id, external_order_id)
    WHERE external_order_id IS NOT NULL AND voided_at IS NULL;
