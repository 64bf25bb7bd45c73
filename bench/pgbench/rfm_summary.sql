-- rfm_summary: the statement crm-store sends (crates/crm-store/src/analytics.rs), in the same read-only
-- transaction with JIT off. A crm-store test keeps it so (UPDATE_BENCH_SQL=1 rewrites it).
BEGIN TRANSACTION READ ONLY;
SET LOCAL jit = off;
WITH agg AS ( SELECT p.customer_id AS customer_id, MAX(p.occurred_at) AS last_at, COUNT(*) AS orders, CAST(SUM(p.total_minor - p.refunded_minor) AS BIGINT) AS revenue FROM purchases p WHERE p.workspace_id = :ws AND p.currency = :currency AND p.occurred_at <= :as_of AND p.status <> 'refunded' GROUP BY p.customer_id), scored AS ( SELECT customer_id, last_at, orders, revenue, 1 + 5 * (RANK() OVER (ORDER BY last_at) - 1) / COUNT(*) OVER () AS r, 1 + 5 * (RANK() OVER (ORDER BY orders) - 1) / COUNT(*) OVER () AS f, 1 + 5 * (RANK() OVER (ORDER BY revenue) - 1) / COUNT(*) OVER () AS m FROM agg WHERE NOT EXISTS (SELECT 1 FROM customers dc WHERE dc.workspace_id = :ws AND dc.id = agg.customer_id AND dc.deleted_at IS NOT NULL)) SELECT CAST(r AS BIGINT) AS r, CAST(f AS BIGINT) AS f, CAST(m AS BIGINT) AS m, COUNT(*) AS customers, CAST(SUM(orders) AS BIGINT) AS orders, CAST(SUM(revenue) AS BIGINT) AS revenue FROM scored GROUP BY r, f, m;
COMMIT;
