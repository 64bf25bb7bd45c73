-- Point select of a random loaded customer, as the service's GET /v1/customers/{id}.
-- Variables (pgbench -D): ws, customers.
\set n random(1, :customers)
SELECT * FROM customers WHERE workspace_id = :ws AND id = (lpad(to_hex(:n::bigint), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(:n::bigint), 12, '0'))::uuid AND deleted_at IS NULL;
