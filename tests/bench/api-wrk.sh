#!/usr/bin/env bash
# The list API under `wrk`, beside a bare axum handler and a raw sled scan of the same events, in
# one run (issue 5's benchmark; results in docs/performance.md).
#
#   tests/bench/api-wrk.sh [events] [seconds]      # default 1000000 events, 15 s per wrk run
#
# Builds the release binary, starts `tributary bench api --events N` (it fills a store, measures
# the raw sled scans, then serves the API and the bare handler), runs wrk with 64 connections and
# 2 threads on `/v1/events?page_size=100` (cursors picked at random among 1000 spread over the
# log: tests/bench/api-wrk.lua) and then on the bare handler, and prints events/s served, req/s,
# p50, p99 and the ratios. Installs wrk (Debian package) if missing; skips with a message if it
# cannot. Set CONNECTIONS, THREADS to change the load.
set -euo pipefail
cd "$(dirname "$0")/../.."

EVENTS=${1:-1000000}
SECONDS_PER_RUN=${2:-15}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
STARTUP_TIMEOUT_SECS=900
PAGE=100

if ! command -v wrk >/dev/null; then
  echo "wrk is missing; installing the Debian package" >&2
  if ! { apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1; }; }; then
    echo "skipped: wrk is not installed and could not be installed (apt-get install wrk)" >&2
    exit 0
  fi
fi

source tests/lib/harness.sh
binary "" tributary-cli tributary --release

echo "filling a store with $EVENTS events (this takes a while)" >&2
start_server bench "$bin" bench api --events "$EVENTS" --cursors-file "$work/cursors"
wait_for_server 'grep -qx ready "$work/stdout"' "$STARTUP_TIMEOUT_SECS" "serving"
cat "$work/stdout"
field() { awk -v k="$1" -v n="$2" '$1 == k { print $n }' "$work/stdout"; }
api_url=$(field api 2)
key=$(field api 4)
bare_url=$(field bare 2)
raw_scan=$(field raw_scan 7)
raw_pages=$(field raw_pages 7)

# A sanity check: a cursor's page is full.
first=$(head -n 1 "$work/cursors")
count=$(curl -sf -H "Authorization: Bearer $key" "$api_url/v1/events?page_size=$PAGE&cursor=$first" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["count"])')
[[ $count == "$PAGE" ]] || { echo "error: a page held $count events, not $PAGE" >&2; exit 1; }

run_wrk() { # name url cursors-file (empty: every request is the url)
  echo "wrk -t$THREADS -c$CONNECTIONS -d${SECONDS_PER_RUN}s --latency $2 ($1)" >&2
  CURSORS="$3" API_KEY="$key" PAGE_SIZE="$PAGE" \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -s tests/bench/api-wrk.lua "$2" \
    >"$work/wrk-$1" 2>&1
  cat "$work/wrk-$1" >&2
  grep '^RESULT' "$work/wrk-$1"
}
api=$(run_wrk api "$api_url" "$work/cursors")
bare=$(run_wrk bare "$bare_url/v1/events?page_size=$PAGE" "")

python3 - "$api" "$bare" "$raw_scan" "$raw_pages" "$PAGE" <<'PY'
import sys
def parse(line):
    return {k: int(v) for k, v in (p.split("=") for p in line.split()[1:])}
api, bare = parse(sys.argv[1]), parse(sys.argv[2])
raw_scan, raw_pages, page = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
for name, r in (("api", api), ("bare", bare)):
    if r["non2xx"] or r["errors"]:
        print(f"warning: {name}: {r['non2xx']} non-2xx answers, {r['errors']} socket errors")
def rps(r): return r["requests"] / (r["duration_us"] / 1e6)
api_rps, bare_rps = rps(api), rps(bare)
served = api_rps * page
print()
print(f"{'':34} {'req/s':>10} {'events/s':>12} {'p50 ms':>8} {'p99 ms':>8}")
print(f"{'API /v1/events?page_size=100':34} {api_rps:10.0f} {served:12.0f} {api['p50_us']/1e3:8.2f} {api['p99_us']/1e3:8.2f}")
print(f"{'bare axum handler, same body':34} {bare_rps:10.0f} {bare_rps*page:12.0f} {bare['p50_us']/1e3:8.2f} {bare['p99_us']/1e3:8.2f}")
print(f"{'raw sled full scan':34} {'':10} {raw_scan:12.0f}")
print(f"{'raw sled 100-entry range reads':34} {raw_pages/page:10.0f} {raw_pages:12.0f}")
print()
print(f"API events/s / raw full scan:     {served/raw_scan:6.1%}  (goal >= 50%)")
print(f"API events/s / raw range reads:   {served/raw_pages:6.1%}")
print(f"API req/s / bare handler req/s:   {api_rps/bare_rps:6.1%}")
print(f"API p99: {api['p99_us']/1e3:.2f} ms (goal < 10 ms)")
PY
