-- An update of a random loaded customer and its audit event in one transaction (the service's
-- PATCH also reads the row first and diffs it).
-- Variables (pgbench -D): ws, customers.
\set n random(1, :customers)
BEGIN;
UPDATE customers SET last_name = 'Ref-' || :client_id, version = version + 1, updated_at = now() WHERE workspace_id = :ws AND id = (lpad(to_hex(:n::bigint), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(:n::bigint), 12, '0'))::uuid AND deleted_at IS NULL;
INSERT INTO audit_events (id, workspace_id, entity_type, entity_id, action, actor_type, actor_id, changes, request_id, created_at) VALUES (gen_random_uuid(), :ws, 'customer', (lpad(to_hex(:n::bigint), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(:n::bigint), 12, '0'))::uuid, 'update', 'system', NULL, '[{"field":"last_name","new":"Ref"}]', NULL, now());
END;
