-- Loads :n purchases (and their line items) into workspace :'ws', spread over customers
-- 1..:buyers of the customer loader, with one INSERT … SELECT each over generate_series. The
-- same rows as bench/src/purchases.rs `load_sql`. With h = n·2654435761 mod 1000003:
--   purchase n has id printf('%08x-0000-7000-b300-%012x', n, n) and external_order_id 'B' || n;
--   customer: 70 % uniform (1 + 7919 n mod :buyers), 30 % skewed towards low numbers
--   (1 + ⌊h² / 1000003⌋ · :buyers / 1000003), so frequencies spread over every quintile;
--   channel web, store, phone by (h / 7) % 3; currency USD when h % 5 = 0, else EUR;
--   occurred_at 2024-11-27 + (104729 n) mod 63 072 000 s (two years), created_at the same;
--   1 + h % 3 lines; line i: category one of 10 by (h + 3 i) % 10, quantity 1 + (h + i) % 3,
--   unit price 500 + (37 h (i + 1)) % 20 000; discount 10 % of the subtotal when h % 7 = 0;
--   shipping 495 when h % 4 = 0; no tax;
--   h % 50 = 0: fully refunded; h % 50 = 1: line 1 refunded (refunded_quantity = quantity), its
--   money capped at the total; the status follows the money as the service sets it (no
--   purchase_refunds rows: nothing here reads them). purchase_categories is filled as the
--   migration that created it backfills it.
SET synchronous_commit = off;

CREATE TEMP TABLE bench_purchases AS
SELECT n, h, k, sub, discount, shipping, c, ts, total,
    CASE WHEN h % 50 = 0 THEN total
         WHEN h % 50 = 1 THEN LEAST((1 + (h + 1) % 3) * (500 + (37 * h * 2) % 20000), total)
         ELSE 0 END AS refunded
FROM generate_series(1::bigint, :n::bigint) AS n,
    LATERAL (SELECT (n * 2654435761) % 1000003 AS h) AS r,
    LATERAL (SELECT 1 + h % 3 AS k) AS kk,
    LATERAL (SELECT SUM((1 + (h + i) % 3) * (500 + (37 * h * (i + 1)) % 20000)) AS sub
             FROM generate_series(1::bigint, k) AS i) AS s,
    LATERAL (SELECT CASE WHEN h % 7 = 0 THEN sub / 10 ELSE 0 END AS discount,
                    CASE WHEN h % 4 = 0 THEN 495 ELSE 0 END AS shipping) AS d,
    LATERAL (SELECT sub - discount + shipping AS total,
                    CASE WHEN h % 10 < 7 THEN 1 + (7919 * n) % :buyers
                         ELSE 1 + (h * h / 1000003) * :buyers / 1000003 END AS c,
                    timestamptz '2024-11-27 00:00:00+00' + ((104729 * n) % 63072000) * interval '1 second' AS ts) AS t;

INSERT INTO purchases (id, workspace_id, customer_id, external_order_id, channel, status, occurred_at, currency,
    subtotal_minor, discount_minor, tax_minor, shipping_minor, total_minor, refunded_minor, metadata, version,
    created_at, updated_at)
SELECT (lpad(to_hex(n), 8, '0') || '-0000-7000-b300-' || lpad(to_hex(n), 12, '0'))::uuid, :'ws',
    (lpad(to_hex(c), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(c), 12, '0'))::uuid, 'B' || n,
    (ARRAY['web', 'store', 'phone'])[(h / 7) % 3 + 1],
    CASE WHEN refunded = 0 THEN 'completed' WHEN refunded < total THEN 'partially_refunded' ELSE 'refunded' END, ts,
    CASE WHEN h % 5 = 0 THEN 'USD' ELSE 'EUR' END, sub, discount, 0, shipping, total, refunded, '{}', 1, ts, ts
FROM bench_purchases;

INSERT INTO purchase_items (purchase_id, position, workspace_id, sku, name, category, quantity, unit_price_minor,
    line_total_minor, refunded_quantity)
SELECT (lpad(to_hex(n), 8, '0') || '-0000-7000-b300-' || lpad(to_hex(n), 12, '0'))::uuid, i, :'ws',
    'SKU-' || ((h + 3 * i) % 10) || '-' || i, 'Item ' || i,
    (ARRAY['books', 'electronics', 'garden', 'toys', 'food', 'beauty', 'sports', 'home', 'fashion', 'music'])
        [(h + 3 * i) % 10 + 1],
    q, p, q * p, CASE WHEN h % 50 = 1 AND i = 1 THEN q ELSE 0 END
FROM bench_purchases, generate_series(1::bigint, k) AS i,
    LATERAL (SELECT 1 + (h + i) % 3 AS q, 500 + (37 * h * (i + 1)) % 20000 AS p) AS l;

INSERT INTO purchase_categories (purchase_id, category, workspace_id, customer_id, currency, occurred_at, revenue_minor)
SELECT p.id, i.category, p.workspace_id, p.customer_id, p.currency, p.occurred_at,
    SUM(i.unit_price_minor * (i.quantity - i.refunded_quantity))
FROM purchases p JOIN purchase_items i ON i.purchase_id = p.id
WHERE p.workspace_id = :'ws' AND p.status <> 'refunded' AND i.refunded_quantity < i.quantity
GROUP BY p.id, i.category;
