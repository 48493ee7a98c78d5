-- wrk script for tests/bench/api-wrk.sh: each request reads the page after a cursor picked at
-- random from a file (one cursor per line, spread over the log), so requests do not all hit the
-- same page. Environment: CURSORS (the file), API_KEY, PAGE_SIZE (default 100).
local cursors = {}
local key = os.getenv("API_KEY") or ""
local page_size = os.getenv("PAGE_SIZE") or "100"

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

function init(args)
  for line in io.lines(os.getenv("CURSORS")) do
    if #line > 0 then cursors[#cursors + 1] = line end
  end
  math.randomseed(os.time() + (id or 0))
  wrk.headers["Authorization"] = "Bearer " .. key
end

function request()
  local cursor = cursors[math.random(#cursors)]
  return wrk.format("GET", "/v1/events?page_size=" .. page_size .. "&cursor=" .. cursor)
end

function done(summary, latency, requests)
  io.write(string.format(
    "RESULT requests=%d duration_us=%d non2xx=%d errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
