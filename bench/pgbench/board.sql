-- The board's grouped query, as crm-store deals::board sends it (no owner filter), summed from
-- deal_rollups. The service also reads the pipeline and the first 20 deals of each open stage.
-- Variables (pgbench -D): ws, pipeline.
-- A crm-store test keeps the statement so (UPDATE_BENCH_SQL=1 rewrites it).
SELECT r.stage_id AS stage_id, NULLIF(r.currency_key, '') AS currency, CAST(SUM(r.deal_count) AS BIGINT) AS deal_count, CAST(SUM(r.amount_minor) AS BIGINT) AS amount_minor, CAST(SUM(r.weighted_minor) AS BIGINT) AS weighted_minor FROM deal_rollups r WHERE r.workspace_id = :ws AND r.pipeline_id = :pipeline AND r.status = 'open' GROUP BY r.stage_id, r.currency_key HAVING SUM(r.deal_count) <> 0 ORDER BY CASE WHEN r.currency_key = '' THEN 1 ELSE 0 END, r.currency_key;
