#!/usr/bin/env bash
# Synthesizes a Jive community's stream with `tributary bench jive` against the simulator:
#   1. backfill: every item of a 200,000-item community emitted as `add` into a fresh store;
#   2. follow: a source started from now follows a steady workload (RATE changes/s) for 30 s,
#      polling every second;
#   3. idle: 20 polls, 250 ms apart, of a community where nothing changes.
#
#   tests/bench/jive-community.sh [ITEMS] [RATE]
set -euo pipefail
cd "$(dirname "$0")/../.."
items=${1:-200000}
rate=${2:-200}
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

cargo build --release --locked -q -p tributary-server
bin=target/release/tributary

start_sim() { # extra args...
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  : >"$work/sim.url"
  "$bin" sim jive --items "$items" --seed 7 "$@" >"$work/sim.url" 2>"$work/sim.err" &
  pid=$!
  for _ in $(seq 1 600); do
    if [ -s "$work/sim.url" ]; then base=$(head -1 "$work/sim.url"); return; fi
    sleep 0.1
  done
  echo "the simulator did not start:" >&2; cat "$work/sim.err" >&2; exit 1
}

echo "== backfill of $items items"
start_sim
"$bin" bench jive --base "$base" --mode backfill 2>/dev/null
echo "== follow: $rate changes/s for 30 s, one poll round per second"
start_sim --rate "$rate"
"$bin" bench jive --base "$base" --mode follow --seconds 30 --interval-ms 1000
echo "== idle: 20 polls, 250 ms apart"
start_sim
"$bin" bench jive --base "$base" --mode idle --polls 20 --interval-ms 250
