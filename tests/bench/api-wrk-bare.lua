-- wrk script for the bare handler in tests/bench/api-wrk.sh: the same request line as the API's
-- (minus the cursor variety, which the bare handler ignores) and the same summary line.
local key = os.getenv("API_KEY") or ""

function init(args)
  wrk.headers["Authorization"] = "Bearer " .. key
end

function done(summary, latency, requests)
  io.write(string.format(
    "RESULT requests=%d duration_us=%d non2xx=%d errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
