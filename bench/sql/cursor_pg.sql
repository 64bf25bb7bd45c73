-- The live lead at position :pos (1-based) by created_at DESC, id DESC, as "t|id" with t in
-- RFC 3339, UTC, 6 fractional digits (the service's cursor format).
SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), id
FROM customers
WHERE workspace_id = :'ws' AND deleted_at IS NULL AND lifecycle_stage = 'lead'
ORDER BY created_at DESC, id DESC
OFFSET :pos - 1 LIMIT 1;
