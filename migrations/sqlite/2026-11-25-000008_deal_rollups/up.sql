-- Per-workspace sums of the deals the forecast and the board count (open and won, not deleted),
-- kept by every deal write in its own transaction. Key columns hold '' instead of NULL (no owner,
-- no currency, open deal without a close date) so that the primary key is unique on both databases.
-- day: the expected close date of an open deal, the UTC day of closed_at of a won one ('YYYY-MM-DD').
CREATE TABLE deal_rollups (
    workspace_id TEXT NOT NULL,
    pipeline_id TEXT NOT NULL,
    stage_id TEXT NOT NULL,
    status TEXT NOT NULL,
    owner_key TEXT NOT NULL,
    currency_key TEXT NOT NULL,
    day TEXT NOT NULL,
    deal_count INTEGER NOT NULL,
    amount_minor INTEGER NOT NULL,
    weighted_minor INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, pipeline_id, stage_id, status, owner_key, currency_key, day)
);
CREATE INDEX deal_rollups_day ON deal_rollups (workspace_id, status, day);

INSERT INTO deal_rollups (workspace_id, pipeline_id, stage_id, status, owner_key, currency_key, day, deal_count,
    amount_minor, weighted_minor)
SELECT d.workspace_id, d.pipeline_id, d.stage_id, d.status, COALESCE(d.owner_id, ''), COALESCE(d.currency, ''),
    CASE WHEN d.status = 'open' THEN COALESCE(d.expected_close_date, '') ELSE COALESCE(substr(d.closed_at, 1, 10), '') END,
    COUNT(*), SUM(d.amount_minor),
    SUM(CASE WHEN d.status = 'open' THEN (d.amount_minor * s.win_probability + 50) / 100 ELSE 0 END)
FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id
WHERE d.deleted_at IS NULL AND d.status IN ('open', 'won')
GROUP BY 1, 2, 3, 4, 5, 6, 7;
