DROP TABLE idempotency_keys;
DROP TABLE audit_events;
DROP TABLE customer_tags;
DROP TABLE customers;
DROP TABLE refresh_tokens;
DROP TABLE api_keys;
DROP TABLE users;
DROP TABLE workspaces;
