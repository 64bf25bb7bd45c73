DROP TABLE coupon_redemptions;
DROP TABLE coupons;
