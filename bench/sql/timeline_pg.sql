-- The timeline fixture: customer 1 of workspace :'ws' gets 10 000 events, interleaved in time
-- (event k at 2026-01-01 + 2500 k s + (7919 k) % 10⁶ µs, by k % 10): 4 000 interactions
-- (0–3), 3 000 tasks (4–6) and 3 000 deal stage changes (7–9) on its deals 1..10 (each deal
-- created, then moved 299 times round the open stages). Deals 1..10 end open in the last move's
-- stage. The same rows as bench/src/deals.rs `timeline_sql`.
SET synchronous_commit = off;

CREATE TEMP TABLE bench_open AS
SELECT s.id, row_number() OVER (ORDER BY s.position) - 1 AS k
FROM pipeline_stages s JOIN pipelines p ON p.id = s.pipeline_id
WHERE p.workspace_id = :'ws' AND p.is_default AND s.kind = 'open';

CREATE TEMP TABLE bench_events AS
SELECT k, k % 10 AS slot, timestamptz '2026-01-01 00:00:00+00' + k * interval '2500 seconds'
           + ((7919 * k) % 1000000) * interval '1 microsecond' AS ts
FROM generate_series(0::bigint, 9999::bigint) AS k;

INSERT INTO interactions (id, workspace_id, channel, direction, subject, occurred_at, duration_seconds, customer_id,
    metadata, search_text, version, created_at, updated_at)
SELECT (lpad(to_hex(i), 8, '0') || '-0000-7000-b000-' || lpad(to_hex(i), 12, '0'))::uuid, :'ws',
    (ARRAY['email', 'phone', 'meeting', 'chat', 'note'])[i % 5 + 1],
    CASE WHEN i % 5 = 4 THEN 'internal' WHEN i % 2 = 0 THEN 'inbound' ELSE 'outbound' END,
    'Interaction ' || i, ts, CASE WHEN i % 5 = 1 THEN 60 + i % 600 END,
    '00000001-0000-7000-8000-000000000001', '{}', 'interaction ' || i, 1, ts, ts
FROM (SELECT (k / 10) * 4 + slot + 1 AS i, ts FROM bench_events WHERE slot < 4) AS e;

INSERT INTO tasks (id, workspace_id, title, due_at, due_sort, status, priority, progress, customer_id, completed_at,
    search_text, version, created_at, updated_at)
SELECT (lpad(to_hex(i), 8, '0') || '-0000-7000-b100-' || lpad(to_hex(i), 12, '0'))::uuid, :'ws', 'Task ' || i,
    CASE WHEN i % 2 = 0 THEN ts + interval '7 days' END,
    CASE WHEN i % 2 = 0 THEN ts + interval '7 days' ELSE timestamptz '9999-12-31 23:59:59+00' END,
    (ARRAY['open', 'done', 'in_progress'])[i % 3 + 1], 'normal', (ARRAY[0, 100, 50])[i % 3 + 1],
    '00000001-0000-7000-8000-000000000001', CASE WHEN i % 3 = 1 THEN ts + interval '1 day' END,
    'task ' || i, 1, ts, CASE WHEN i % 3 = 1 THEN ts + interval '1 day' ELSE ts END
FROM (SELECT (k / 10) * 3 + slot - 4 + 1 AS i, ts FROM bench_events WHERE slot BETWEEN 4 AND 6) AS e;

DELETE FROM deal_stage_changes WHERE workspace_id = :'ws'
    AND deal_id IN (SELECT (lpad(to_hex(n), 8, '0') || '-0000-7000-9000-' || lpad(to_hex(n), 12, '0'))::uuid
                    FROM generate_series(1, 10) AS n);

-- Move j (0..2999) is move m = j / 10 of deal j % 10 + 1: m = 0 creates it in open stage 0,
-- then each move goes from open stage (m − 1) % 3 to m % 3.
INSERT INTO deal_stage_changes (id, workspace_id, deal_id, customer_id, from_stage_id, to_stage_id, at, actor_type,
    actor_id)
SELECT (lpad(to_hex(j + 1), 8, '0') || '-0000-7000-a100-' || lpad(to_hex(j + 1), 12, '0'))::uuid, :'ws',
    (lpad(to_hex(j % 10 + 1), 8, '0') || '-0000-7000-9000-' || lpad(to_hex(j % 10 + 1), 12, '0'))::uuid,
    '00000001-0000-7000-8000-000000000001',
    (SELECT id FROM bench_open WHERE m > 0 AND k = (m - 1) % 3), (SELECT id FROM bench_open WHERE k = m % 3),
    ts, 'system', NULL
FROM (SELECT (k / 10) * 3 + slot - 7 AS j, ((k / 10) * 3 + slot - 7) / 10 AS m, ts
      FROM bench_events WHERE slot >= 7) AS e;

UPDATE deals d SET stage_id = c.last_stage, status = 'open', closed_at = NULL, lost_reason = NULL,
    created_at = c.first_at, stage_entered_at = c.last_at, updated_at = c.last_at
FROM (SELECT deal_id, min(at) AS first_at, max(at) AS last_at,
             (array_agg(to_stage_id ORDER BY at DESC))[1] AS last_stage
      FROM deal_stage_changes WHERE workspace_id = :'ws' AND customer_id = '00000001-0000-7000-8000-000000000001'
      GROUP BY deal_id) AS c
WHERE d.workspace_id = :'ws' AND d.id = c.deal_id;
