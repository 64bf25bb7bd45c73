-- The board's grouped query, as crm-store deals::board sends it to SQLite (no owner filter).
-- Binds (crm-bench query --bind): ws, pipeline.
SELECT d.stage_id AS stage_id, d.currency AS currency, COUNT(*) AS deal_count, CAST(SUM(d.amount_minor) AS BIGINT) AS amount_minor, CAST(SUM((d.amount_minor * s.win_probability + 50) / 100) AS BIGINT) AS weighted_minor FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id WHERE d.workspace_id = ? AND d.pipeline_id = ? AND d.status = 'open' AND d.deleted_at IS NULL GROUP BY d.stage_id, d.currency ORDER BY d.currency
