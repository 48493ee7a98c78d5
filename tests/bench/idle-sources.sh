#!/usr/bin/env bash
# 10,000 idle Jive sources on one engine against one idle Jive simulator (a separate process, so
# its CPU is not counted): upstream requests per hour and the engine's CPU share.
#
#   tests/bench/idle-sources.sh [SOURCES] [INTERVAL_MS]
set -euo pipefail
cd "$(dirname "$0")/../.."
sources=${1:-10000}
interval=${2:-60000}
source tests/lib/harness.sh
binary "" tributary-cli tributary --release
start_server simulator "$bin" sim jive --seed 3
wait_for_server '[[ -s $work/stdout ]]' 60 "printing its URL"
base=$(head -1 "$work/stdout")
"$bin" bench idle-sources --base "$base" --sources "$sources" --seconds 190 --warmup 70 \
  --min-interval-ms "$interval" --max-interval-ms "$interval"
