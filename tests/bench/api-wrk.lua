-- wrk script for tests/bench/api-wrk.sh. With CURSORS (a file, one cursor per line, spread over
-- the log), each request reads the page after a cursor picked at random, so requests do not all
-- hit the same page; without it, every request is wrk's URL (the bare handler's run). Both end
-- with the same RESULT line. Environment: CURSORS, API_KEY, PAGE_SIZE (default 100).
local cursors = {}
local cursors_file = os.getenv("CURSORS") or ""
local key = os.getenv("API_KEY") or ""
local page_size = os.getenv("PAGE_SIZE") or "100"

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

function init(args)
  if #cursors_file > 0 then
    for line in io.lines(cursors_file) do
      if #line > 0 then cursors[#cursors + 1] = line end
    end
  end
  math.randomseed(os.time() + (id or 0))
  wrk.headers["Authorization"] = "Bearer " .. key
end

-- Defined only with cursors: without `request`, wrk sends its own URL.
if #cursors_file > 0 then
  function request()
    local cursor = cursors[math.random(#cursors)]
    return wrk.format("GET", "/v1/events?page_size=" .. page_size .. "&cursor=" .. cursor)
  end
end

function done(summary, latency, requests)
  io.write(string.format(
    "RESULT requests=%d duration_us=%d non2xx=%d errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
