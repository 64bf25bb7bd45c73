DROP TABLE purchase_refunds;
DROP TABLE purchase_items;
DROP TABLE purchases;
