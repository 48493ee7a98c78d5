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
source tests/lib/harness.sh
binary "" tributary-cli tributary --release

start_sim() { # extra args...
  start_server simulator "$bin" sim jive --items "$items" --seed 7 "$@"
  wait_for_server '[[ -s $work/stdout ]]' 60 "printing its URL"
  base=$(head -1 "$work/stdout")
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
