-- Loads :n customers into workspace :'ws' with one INSERT … SELECT over generate_series.
-- The same rows as bench/src/sqlite.rs `load_sql`: customer n has id
-- printf('%08x-0000-7000-8000-%012x', n, n), was created n seconds (and a fraction) before
-- 2026-01-01T00:00:00Z, and its stage cycles prospect, lead, customer, lead, churned, lead
-- (by n % 6: half are leads, so page 10 000 of leads exists at 1 M customers).
SET synchronous_commit = off;
INSERT INTO customers (id, workspace_id, kind, first_name, last_name, email, phone, address_city, address_country,
    social, lifecycle_stage, tags, important_dates, custom_fields, consents, search_text, version, created_at, updated_at)
SELECT (lpad(to_hex(n), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid, :'ws', 'person',
    'First' || n, 'Last' || n, 'customer' || n || '@example.com', '+4930' || lpad(n::text, 7, '0'),
    'City ' || (n % 100), 'DE', '{}',
    (ARRAY['prospect', 'lead', 'customer', 'lead', 'churned', 'lead'])[n % 6 + 1],
    '[]', '[]', '{}', '[]',
    'first' || n || ' last' || n || ' customer' || n || '@example.com +4930' || lpad(n::text, 7, '0'), 1, ts, ts
FROM generate_series(1::bigint, :n::bigint) AS n,
    LATERAL (SELECT timestamptz '2026-01-01 00:00:00+00' - n * interval '1 second'
                    + ((n * 7919) % 1000000) * interval '1 microsecond' AS ts) AS t;
