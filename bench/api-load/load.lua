-- wrk script for bench/api-load: authenticated GETs over a list of paths, paced per connection.
local paths = {}
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local auth = os.getenv("BENCH_AUTH")

for line in io.lines(os.getenv("BENCH_PATHS")) do
  paths[#paths + 1] = line
end

local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  math.randomseed(os.time() + id)
  wrk.headers["Authorization"] = auth:gsub("^Authorization: ", "")
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end

-- Open-ish loop: each connection waits this long before its next request, so the offered rate stays near
-- connections * 1000 / delay_ms whatever the latency (at low utilisation).
function delay()
  if delay_ms > 0 then
    return delay_ms
  end
  return 0
end

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000, errors, summary.requests))
end
