-- GET BENCH_PATH (a fixed path with its query string): the forecast, the board and the
-- timeline pages of bench/run.sh.
package.path = package.path .. ";" .. (os.getenv("BENCH_DIR") or "bench") .. "/wrk/?.lua"
local c = require("common")

wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH") or error("BENCH_PATH is not set")
wrk.headers["X-API-Key"] = c.api_key
