-- POST /v1/customers, each with its own Idempotency-Key and email (RUN_TAG, thread, counter).
package.path = package.path .. ";" .. (os.getenv("BENCH_DIR") or "bench") .. "/wrk/?.lua"
local c = require("common")
local counter = 0

setup = c.setup
init = function(_) c.init() end
request = function()
  counter = counter + 1
  local key = string.format("bench-%s-%d-%d", c.run_tag, thread_index or 0, counter)
  local body = string.format('{"kind":"person","first_name":"Bench","email":"%s@example.com"}', key)
  local headers = {
    ["X-API-Key"] = c.api_key,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = key,
  }
  return wrk.format("POST", "/v1/customers", headers, body)
end
