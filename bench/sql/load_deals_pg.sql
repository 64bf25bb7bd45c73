-- Loads :n deals into workspace :'ws' (after the customers) with one INSERT … SELECT over
-- generate_series, plus one deal_stage_changes row per deal. The same rows as
-- bench/src/deals.rs `load_sql`: every deal was created straight into its current stage of the
-- default pipeline (so stage_entered_at = created_at, closed_at = created_at when won or lost);
-- deal n has id printf('%08x-0000-7000-9000-%012x', n, n) and, with h = n·2654435761 mod 1000003:
--   status/stage: h % 20 < 12 open (open stage 1 + (h / 20) % 3), < 17 won, else lost ('price');
--   deals 1..10 are open and belong to customer 1 (the timeline fixture), deal n > 10 to
--   customer 2 + (n − 11) % (:customers − 1);
--   amount_minor 10 000 + (37 h) % 5 000 000; currency EUR, EUR, USD, GBP, CHF by n % 5;
--   expected_close_date 2026-01-01 + (13 h) % 730 days (24 months);
--   created_at 2025-01-01 + (7919 n) % 59 000 000 s + (104729 n) % 10⁶ µs;
--   owner: the workspace's users by (created_at, id), n % count — the bootstrap admin and
--   :owners − 1 bench users inserted here (ids printf('%08x-0000-7000-8800-%012x', k, k)).
SET synchronous_commit = off;

INSERT INTO users (id, workspace_id, email, name, role, password_hash, active, version, created_at, updated_at)
SELECT (lpad(to_hex(k), 8, '0') || '-0000-7000-8800-' || lpad(to_hex(k), 12, '0'))::uuid, :'ws',
    'owner' || k || '@bench.example.com', 'Owner ' || k, 'sales', '!bench: no password', true, 1,
    timestamptz '2025-01-01 00:00:00+00', timestamptz '2025-01-01 00:00:00+00'
FROM generate_series(1, :owners - 1) AS k;

CREATE TEMP TABLE bench_stages AS
SELECT s.id, s.pipeline_id, s.kind, row_number() OVER (PARTITION BY s.kind ORDER BY s.position) AS k
FROM pipeline_stages s JOIN pipelines p ON p.id = s.pipeline_id
WHERE p.workspace_id = :'ws' AND p.is_default;

CREATE TEMP TABLE bench_owners AS
SELECT id, row_number() OVER (ORDER BY created_at, id) - 1 AS k FROM users WHERE workspace_id = :'ws';

INSERT INTO deals (id, workspace_id, title, customer_id, pipeline_id, stage_id, status, amount_minor, currency,
    expected_close_date, owner_id, lost_reason, closed_at, stage_entered_at, tags, custom_fields, search_text,
    version, created_at, updated_at)
SELECT (lpad(to_hex(n), 8, '0') || '-0000-7000-9000-' || lpad(to_hex(n), 12, '0'))::uuid, :'ws', 'Deal ' || n,
    (lpad(to_hex(c), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(c), 12, '0'))::uuid, st.pipeline_id, st.id, x.kind,
    10000 + (37 * h) % 5000000, (ARRAY['EUR', 'EUR', 'USD', 'GBP', 'CHF'])[n % 5 + 1],
    date '2026-01-01' + ((13 * h) % 730)::int, o.id,
    CASE WHEN x.kind = 'lost' THEN 'price' END, CASE WHEN x.kind <> 'open' THEN ts END, ts, '[]', '{}',
    'deal ' || n, 1, ts, ts
FROM generate_series(1::bigint, :n::bigint) AS n,
    LATERAL (SELECT (n * 2654435761) % 1000003 AS h,
                    CASE WHEN n <= 10 THEN 1 ELSE 2 + (n - 11) % (:customers - 1) END AS c,
                    timestamptz '2025-01-01 00:00:00+00' + ((7919 * n) % 59000000) * interval '1 second'
                        + ((104729 * n) % 1000000) * interval '1 microsecond' AS ts) AS r,
    LATERAL (SELECT CASE WHEN n <= 10 OR h % 20 < 12 THEN 'open' WHEN h % 20 < 17 THEN 'won' ELSE 'lost' END AS kind,
                    CASE WHEN n <= 10 OR h % 20 < 12 THEN 1 + (h / 20) % 3 ELSE 1 END AS k) AS x,
    bench_stages st, bench_owners o
WHERE st.kind = x.kind AND st.k = x.k AND o.k = n % (SELECT count(*) FROM bench_owners);

INSERT INTO deal_stage_changes (id, workspace_id, deal_id, customer_id, from_stage_id, to_stage_id, at, actor_type,
    actor_id)
SELECT replace(id::text, '-9000-', '-a000-')::uuid, workspace_id, id, customer_id, NULL, stage_id, created_at,
    'system', NULL
FROM deals WHERE workspace_id = :'ws';

-- The deal rollups the service keeps on every write, rebuilt from the loaded deals (the same
-- INSERT … SELECT … GROUP BY as the migration 2026-11-25-000008_deal_rollups).
DELETE FROM deal_rollups WHERE workspace_id = :'ws';
INSERT INTO deal_rollups (workspace_id, pipeline_id, stage_id, status, owner_key, currency_key, day, deal_count,
    amount_minor, weighted_minor)
SELECT d.workspace_id, d.pipeline_id, d.stage_id, d.status, COALESCE(CAST(d.owner_id AS text), ''),
    COALESCE(d.currency, ''),
    CASE WHEN d.status = 'open' THEN COALESCE(to_char(d.expected_close_date, 'YYYY-MM-DD'), '')
         ELSE COALESCE(to_char(d.closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), '') END,
    COUNT(*), SUM(d.amount_minor),
    SUM(CASE WHEN d.status = 'open' THEN (d.amount_minor * s.win_probability + 50) / 100 ELSE 0 END)
FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id
WHERE d.workspace_id = :'ws' AND d.deleted_at IS NULL AND d.status IN ('open', 'won')
GROUP BY 1, 2, 3, 4, 5, 6, 7;
