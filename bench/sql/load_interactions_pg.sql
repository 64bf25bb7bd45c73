-- :n interactions of workspace :'ws' over customers 2..:customers (customer 1 keeps only its
-- timeline fixture), one every 30 s from 2025-01-01, so its timeline is read from a table of
-- realistic size. The same rows as bench/src/deals.rs `interactions_sql`.
SET synchronous_commit = off;

INSERT INTO interactions (id, workspace_id, channel, direction, subject, occurred_at, duration_seconds, customer_id,
    metadata, search_text, version, created_at, updated_at)
SELECT (lpad(to_hex(i), 8, '0') || '-0000-7000-b200-' || lpad(to_hex(i), 12, '0'))::uuid, :'ws',
    (ARRAY['email', 'phone', 'meeting', 'chat', 'note'])[i % 5 + 1],
    CASE WHEN i % 5 = 4 THEN 'internal' WHEN i % 2 = 0 THEN 'inbound' ELSE 'outbound' END,
    'Interaction ' || i, ts, CASE WHEN i % 5 = 1 THEN 60 + i % 600 END,
    (lpad(to_hex(c), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(c), 12, '0'))::uuid, '{}', 'interaction ' || i, 1,
    ts, ts
FROM (SELECT i, i % (:customers - 1) + 2 AS c,
             timestamptz '2025-01-01 00:00:00+00' + i * interval '30 seconds' AS ts
      FROM generate_series(1::bigint, :n::bigint) AS i) AS g;
