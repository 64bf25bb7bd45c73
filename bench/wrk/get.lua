-- GET /v1/customers/{id} at random loaded ids.
package.path = package.path .. ";" .. (os.getenv("BENCH_DIR") or "bench") .. "/wrk/?.lua"
local c = require("common")
local headers = { ["X-API-Key"] = c.api_key }

setup = c.setup
init = function(_) c.init() end
request = function()
  return wrk.format("GET", "/v1/customers/" .. c.random_customer(), headers)
end
