-- The caller-scoped idempotency key of the request that wrote the event: a retry whose first
-- attempt committed but never stored its response finds the record here instead of creating it again.
ALTER TABLE audit_events ADD COLUMN idempotency_key text;
CREATE INDEX audit_events_idempotency_key ON audit_events (workspace_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
