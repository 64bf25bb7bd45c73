-- Before this migration a redemption could not be voided: voided ones are deleted (the
-- coupon's redemption_count already left them out, so the limits stay right).
DROP INDEX coupon_redemptions_order;
DELETE FROM coupon_redemptions WHERE voided_at IS NOT NULL;
CREATE UNIQUE INDEX coupon_redemptions_order ON coupon_redemptions (coupon_id, external_order_id)
    WHERE external_order_id IS NOT NULL;
ALTER TABLE coupon_redemptions DROP COLUMN void_reason;
ALTER TABLE coupon_redemptions DROP COLUMN voided_at;
