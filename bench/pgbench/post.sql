-- A create as the service writes it: the customer row (RETURNING *) and its audit event in one
-- transaction. (The service also claims and completes an idempotency key; this does not.)
-- Variables (pgbench -D): ws.
\set r random(1, 2000000000)
BEGIN;
INSERT INTO customers (id, workspace_id, kind, first_name, email, social, lifecycle_stage, tags, important_dates, custom_fields, consents, search_text, version, created_at, updated_at) VALUES (gen_random_uuid(), :ws, 'person', 'Ref', 'ref' || :r || '@example.com', '{}', 'prospect', '[]', '[]', '{}', '[]', 'ref ref' || :r || '@example.com', 1, now(), now()) RETURNING *
\gset c_
INSERT INTO audit_events (id, workspace_id, entity_type, entity_id, action, actor_type, actor_id, changes, request_id, created_at) VALUES (gen_random_uuid(), :ws, 'customer', :c_id, 'create', 'system', NULL, '[{"field":"first_name","new":"Ref"},{"field":"email","new":"ref@example.com"}]', NULL, now());
END;
