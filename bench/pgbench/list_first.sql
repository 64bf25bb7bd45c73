-- Page 1 of leads by -created_at, 50 rows (+1 to know whether a next page exists), as the service.
-- Variables (pgbench -D): ws.
SELECT * FROM customers WHERE workspace_id = :ws AND deleted_at IS NULL AND lifecycle_stage = 'lead' ORDER BY created_at DESC, id DESC LIMIT 51;
