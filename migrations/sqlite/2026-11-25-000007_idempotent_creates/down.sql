DROP INDEX audit_events_idempotency_key;
ALTER TABLE audit_events DROP COLUMN idempotency_key;
