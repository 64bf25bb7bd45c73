-- PATCH /v1/customers/{id} (merge patch, If-Match: *) at random loaded ids. The last name
-- changes on every request, so each one is a real write with an audit event.
package.path = package.path .. ";" .. (os.getenv("BENCH_DIR") or "bench") .. "/wrk/?.lua"
local c = require("common")
local counter = 0

setup = c.setup
init = function(_) c.init() end
request = function()
  counter = counter + 1
  local body = string.format('{"last_name":"Bench-%s-%d-%d"}', c.run_tag, thread_index or 0, counter)
  local headers = {
    ["X-API-Key"] = c.api_key,
    ["Content-Type"] = "application/merge-patch+json",
    ["If-Match"] = "*",
  }
  return wrk.format("PATCH", "/v1/customers/" .. c.random_customer(), headers, body)
end
