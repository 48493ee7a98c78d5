#!/usr/bin/env bash
# Drains an Egnyte backlog (default 1,000,000 events) from the simulator with `tributary bench
# egnyte-drain`: the provider alone (`--no-store`), into a fresh store as the engine drains (each
# fetch overlapping the previous commit), and into a fresh store a page at a time
# (`--sequential`); then pages the same backlog with the real Egnyte Python SDK (PyPI egnyte 0.5.3,
# unchanged). Prints every result and the ratios.
#
#   tests/bench/egnyte-drain.sh [EVENTS]
#
# Two simulators with the same seed serve identical logs: plain HTTP for tributary, HTTPS for the
# SDK (it speaks nothing else). Both run with their rate limits off.
set -euo pipefail
cd "$(dirname "$0")/../.."
events=${1:-1000000}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

cargo build --release --locked -q -p tributary-cli
bin=target/release/tributary
venv=target/egnyte-sdk-venv
if ! [ -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('egnyte') != '0.5.3')" 2>/dev/null ||
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "egnyte==0.5.3"
python="$venv/bin/python"

start_sim() { # name, extra args...
  local name=$1; shift
  "$bin" sim egnyte --backlog "$events" --seed 11 --throttle off --daily-quota 0 --retain-events 0 "$@" >"$work/$name.url" 2>"$work/$name.err" &
  pids+=($!)
}
wait_url() {
  for _ in $(seq 1 1200); do
    if [ -s "$work/$1.url" ]; then head -1 "$work/$1.url"; return; fi
    sleep 0.1
  done
  echo "simulator $1 did not start:" >&2; cat "$work/$1.err" >&2; exit 1
}
start_sim plain
start_sim tls --tls --cert "$work/sim.pem"
plain=$(wait_url plain)
tls=$(wait_url tls)

echo "tributary: the provider alone, $events events from $plain" >&2
alone=$("$bin" bench egnyte-drain --base "$plain" --no-store)
echo "tributary: draining $events events from $plain into a fresh store" >&2
ours=$("$bin" bench egnyte-drain --base "$plain" --merge)
echo "tributary: the same, a page at a time (no overlap)" >&2
sequential=$("$bin" bench egnyte-drain --base "$plain" --sequential)
echo "Egnyte Python SDK: paging $events events from $tls" >&2
sdk=$("$python" tests/bench/egnyte_sdk_drain.py --base "$tls" --token test-token --cafile "$work/sim.pem")
echo "provider-alone  $alone"
echo "tributary       $ours"
echo "sequential      $sequential"
echo "python-sdk      $sdk"
"$python" - "$ours" "$sdk" "$alone" "$sequential" <<'PY'
import json, sys
ours, sdk, alone, seq = (json.loads(a) for a in sys.argv[1:5])
rate = lambda r: r['events_per_second']
print(f"into the store / provider alone: {rate(ours) / rate(alone):.1%} (goal >= 60%)")
print(f"a page at a time / provider alone: {rate(seq) / rate(alone):.1%}")
print(f"ratio (events/s, tributary / SDK): {rate(ours) / rate(sdk):.2f}x")
print(f"tributary requests per ceil(events/100): {ours['requests_per_ceil_pages']:.4f}")
PY
