ALTER TABLE audit_events ADD COLUMN reason text;
