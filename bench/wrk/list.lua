-- GET /v1/customers?limit=50&sort=-created_at&lifecycle_stage=lead[&cursor=LIST_CURSOR]:
-- page 1 without a cursor, a deep page with the cursor bench/run.sh computed on the database.
package.path = package.path .. ";" .. (os.getenv("BENCH_DIR") or "bench") .. "/wrk/?.lua"
local c = require("common")
local cursor = os.getenv("LIST_CURSOR") or ""
local path = "/v1/customers?limit=50&sort=-created_at&lifecycle_stage=lead"
if cursor ~= "" then
  path = path .. "&cursor=" .. cursor
end

wrk.method = "GET"
wrk.path = path
wrk.headers["X-API-Key"] = c.api_key
