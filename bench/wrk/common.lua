-- Shared by the wrk scripts of bench/run.sh: the API key, the id of loaded customer n, a fixed
-- seed per wrk thread, and a per-thread counter for unique keys.
-- Environment: API_KEY, CUSTOMERS (ids 1..N exist), RUN_TAG (unique per wrk invocation).

local M = {}

M.api_key = os.getenv("API_KEY") or error("API_KEY is not set")
M.customers = tonumber(os.getenv("CUSTOMERS") or "") or error("CUSTOMERS is not set")
M.run_tag = os.getenv("RUN_TAG") or tostring(os.time())

-- The id the loader gave customer n (bench/src/sqlite.rs `customer_id`, bench/sql/load_pg.sql).
function M.customer_id(n)
  return string.format("%08x-0000-7000-8000-%012x", n, n)
end

function M.random_customer()
  return M.customer_id(math.random(1, M.customers))
end

-- wrk calls setup(thread) in the main state for each thread; `thread_index` becomes a global
-- of that thread's state, read by init().
local next_index = 0
function M.setup(thread)
  next_index = next_index + 1
  thread:set("thread_index", next_index)
end

function M.init()
  math.randomseed(1000 + (thread_index or 0))
end

return M
