-- A deep page of leads by -created_at: keyset after (t, u), the last row of the previous page.
-- Variables (pgbench -D): ws, t, u.
SELECT * FROM customers WHERE workspace_id = :ws AND deleted_at IS NULL AND lifecycle_stage = 'lead' AND created_at <= :t AND (created_at < :t OR id < :u) ORDER BY created_at DESC, id DESC LIMIT 51;
