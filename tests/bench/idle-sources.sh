#!/usr/bin/env bash
# 10,000 idle Jive sources on one engine against one idle Jive simulator (a separate process, so
# its CPU is not counted): upstream requests per hour and the engine's CPU share.
#
#   tests/bench/idle-sources.sh [SOURCES] [INTERVAL_MS]
set -euo pipefail
cd "$(dirname "$0")/../.."
sources=${1:-10000}
interval=${2:-60000}
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cargo build --release --locked -q -p tributary-server
bin=target/release/tributary
"$bin" sim jive --seed 3 >"$work/sim.url" 2>"$work/sim.err" &
pid=$!
for _ in $(seq 1 100); do [ -s "$work/sim.url" ] && break; sleep 0.1; done
base=$(head -1 "$work/sim.url")
"$bin" bench idle-sources --base "$base" --sources "$sources" --seconds 190 --warmup 70 \
  --min-interval-ms "$interval" --max-interval-ms "$interval"
