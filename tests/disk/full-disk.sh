#!/usr/bin/env bash
# A full disk, for real: `tributary serve` with its data directory on a 20 MB tmpfs, draining a
# large Egnyte simulator backlog until the store hits ENOSPC. Checks, each within a bound:
#   - /readyz answers 503 with the reason, /v1/events and /v1/sources/{id} answer (200 or 503,
#     never hang: curl --max-time), /metrics answers;
#   - after space is freed (a ballast file removed), the process either exits non-zero (sled
#     cannot recover in-process: status 74) or recovers (/readyz 200);
#   - restarted on a copy of the data directory in a roomy place, every event the API served
#     before is still there, at the same position.
# Needs root to mount a tmpfs (CI runs as root); skips with a message otherwise.
#
#   tests/disk/full-disk.sh [path/to/tributary]
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ $(id -u) -ne 0 ]]; then
  echo "full-disk: skipped (mounting a tmpfs needs root)"
  exit 0
fi

source tests/lib/harness.sh
binary "${1:-}" tributary-cli tributary

disk="$work/disk"
mkdir -p "$disk"
if ! mount -t tmpfs -o size=20m tmpfs "$disk" 2>"$work/mount.err"; then
  echo "full-disk: skipped (cannot mount a tmpfs: $(cat "$work/mount.err"))"
  exit 0
fi
sim_pid=
# Runs whatever failed before: nothing here may stop it half-way (errexit is off).
cleanup() {
  set +e
  kill_server
  if [[ -n $sim_pid ]]; then
    kill "$sim_pid" 2>/dev/null
    wait "$sim_pid" 2>/dev/null
  fi
  if mountpoint -q "$disk"; then
    umount "$disk" 2>/dev/null || umount -l "$disk"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "full-disk: FAILED: $*" >&2
  echo "--- server stderr (last 40 lines) ---" >&2
  tail -40 "$work/stderr" >&2 || true
  exit 1
}

KEY=disk-test-key
# What freeing space means here: this file goes once the store is full.
dd if=/dev/zero of="$disk/ballast" bs=1M count=3 status=none

# The upstream: a large backlog, no throttling.
"$bin" sim egnyte --listen 127.0.0.1:0 --backlog 300000 --retain-events 0 --throttle off \
  --daily-quota 0 --qps 10000 >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
deadline=$((SECONDS + 30))
until [[ -s $work/sim.out ]]; do
  kill -0 "$sim_pid" 2>/dev/null || fail "the simulator exited: $(cat "$work/sim.err")"
  ((SECONDS < deadline)) || fail "the simulator printed no base URL in 30 s"
  sleep 0.1
done
sim_url=$(head -1 "$work/sim.out" | grep -o 'http://[^ ]*')

config() { # config DATA_DIR
  cat <<TOML
listen = "127.0.0.1:0"
data_dir = "$1"
[providers.egnyte]
calls_per_second = 4
[metrics]
auth = "none"
[network]
allow_private = ["127.0.0.1/32"]
[storage]
min_free_bytes = 0
check_interval = "1s"
read_timeout = "2s"
write_timeout = "5s"
exit_after = "20s"
[[keys]]
tenant = "t"
key = "$KEY"
[[sources]]
id = "egnyte-full"
tenant = "t"
provider = "egnyte"
[sources.config]
base_url = "$sim_url"
start = "oldest"
suppress = "none"
poll = { min_interval_ms = 100, max_interval_ms = 1000, multiplier = 2.0, jitter = 0.0 }
[sources.credentials]
kind = "bearer"
token = "test-token"
TOML
}

get() { # get URL_PATH: prints "STATUS BODY-FILE"; never waits more than 10 s
  local out="$work/answer.json"
  local status
  status=$(curl -s --max-time 10 -o "$out" -w '%{http_code}' -H "Authorization: Bearer $KEY" \
    "$api$1" || true)
  echo "${status:-000}"
}

start_tributary() { # start_tributary DATA_DIR
  config "$1" >"$work/tributary.toml"
  start_server tributary env TRIBUTARY_LOG=warn "$bin" serve --config "$work/tributary.toml"
  wait_for_server "[[ -s $work/stdout ]]" 60 "the server's address"
  api=$(head -1 "$work/stdout" | awk '{print $2}')
}

# Pages /v1/events from the cursor in $work/cursor, appending "seq id" lines to $1.
read_new() {
  local cursor status
  for _ in $(seq 1 50); do
    cursor=$(cat "$work/cursor" 2>/dev/null || true)
    status=$(get "/v1/events?page_size=1000${cursor:+&cursor=$cursor}")
    [[ $status == 200 ]] || return 0
    "$PYTHON" - "$work/answer.json" "$1" "$work/cursor" <<'PY' || return 0
import json, sys
page = json.load(open(sys.argv[1]))
with open(sys.argv[2], "a") as seen:
    for e in page["objects"]:
        seen.write(f'{e["seq"]} {e["id"]}\n')
open(sys.argv[3], "w").write(page["cursor"])
sys.exit(0 if page["remaining"] > 0 and page["objects"] else 1)
PY
  done
}

echo "full-disk: serving from a 20 MB tmpfs, draining $sim_url"
start_tributary "$disk/data"
: >"$work/seen"
deadline=$((SECONDS + 240))
ready=200
while ((SECONDS < deadline)); do
  read_new "$work/seen"
  ready=$(get /readyz)
  [[ $ready == 503 ]] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.5
done
echo "full-disk: $(wc -l <"$work/seen") events read; disk $(df --output=avail -h "$disk" | tail -1 | tr -d ' ') free; /readyz $ready"
if ! kill -0 "$server_pid" 2>/dev/null; then
  wait "$server_pid" && status=0 || status=$?
  server_pid=
  [[ $status -ne 0 ]] || fail "the server exited 0 on a full disk"
  echo "full-disk: the server exited with status $status before /readyz was asked"
else
  [[ $ready == 503 ]] || fail "/readyz never answered 503 while the disk filled (last: $ready)"
  grep -q '"code":"not_ready"' "$work/answer.json" || fail "/readyz 503 without not_ready: $(cat "$work/answer.json")"
  echo "full-disk: /readyz 503: $(cat "$work/answer.json")"
  for path in /v1/events /v1/sources/egnyte-full; do
    status=$(get "$path")
    [[ $status == 200 || $status == 503 ]] || fail "$path answered $status (000: no answer in 10 s)"
    echo "full-disk: $path answered $status"
  done
  status=$(get /metrics)
  [[ $status == 200 ]] || fail "/metrics answered $status"
  grep -E '^tributary_storage_(failing|write_failures_total) ' "$work/answer.json" || true

  # Free space, then: an exit with a non-zero status, or a recovery.
  rm -f "$disk/ballast"
  outcome=
  deadline=$((SECONDS + 60))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      wait "$server_pid" && status=0 || status=$?
      server_pid=
      [[ $status -ne 0 ]] || fail "the server exited 0"
      outcome="exited with status $status"
      break
    fi
    if [[ $(get /readyz) == 200 ]]; then
      outcome="recovered (/readyz 200)"
      break
    fi
    sleep 0.5
  done
  [[ -n $outcome ]] || fail "after space was freed, the server neither exited nor recovered in 60 s"
  echo "full-disk: after space was freed, the server $outcome"
  grep -m1 'exiting' "$work/stderr" || true
  if [[ -n $server_pid ]]; then
    read_new "$work/seen"
    kill_server
  fi
fi

# Nothing the API served is lost: restart on a copy in a roomy directory.
mkdir -p "$work/big"
cp -a "$disk/data" "$work/big/data"
umount "$disk"
rm -f "$work/cursor"
start_tributary "$work/big/data"
: >"$work/after"
deadline=$((SECONDS + 60))
until [[ $(get /readyz) == 200 ]]; do
  ((SECONDS < deadline)) || fail "the restarted server is not ready in 60 s"
  sleep 0.5
done
read_new "$work/after"
kill_server
"$PYTHON" - "$work/seen" "$work/after" <<'PY'
import sys
seen = [l.split() for l in open(sys.argv[1])]
after = dict(l.split() for l in open(sys.argv[2]))
lost = [(s, i) for s, i in seen if after.get(s) != i]
print(f"full-disk: {len(seen)} events served before, {len(after)} after the restart; lost or moved: {len(lost)}")
if not seen:
    sys.exit("full-disk: FAILED: no event was served before the disk filled")
if lost:
    sys.exit(f"full-disk: FAILED: first lost: {lost[:5]}")
PY
echo "full-disk: ok"
