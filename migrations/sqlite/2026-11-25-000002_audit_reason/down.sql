ALTER TABLE audit_events DROP COLUMN reason;
