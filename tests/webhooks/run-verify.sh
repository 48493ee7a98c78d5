#!/usr/bin/env bash
# Webhook signatures made by tributary, verified by two packages from PyPI that no one here wrote
# (pinned below): `standardwebhooks` and the `svix` library's `Webhook.verify`.
#
#   tests/webhooks/run-verify.sh [path/to/webhook-sign [path/to/webhook-deliver]]
#
# Without arguments (or $WEBHOOK_SIGN_BIN, $WEBHOOK_DELIVER_BIN) it builds the debug bins:
# `webhook-sign` signs sample deliveries with `tributary_server::webhooks::signature` (one
# secret, a rotation with two, stale and future timestamps); `webhook-deliver` runs the real
# dispatcher once. It installs both packages into one virtualenv under the
# target directory, then runs:
#
# - tests/webhooks/verify.py: both libraries accept every genuine request (a rotation with either
#   secret) and refuse a tampered body, a wrong secret and a stale timestamp; the Python example
#   of docs/webhooks.md does the same;
# - tests/webhooks/receiver.py, the verifying receiver a live test points subscriptions at: the
#   samples POSTed to it over loopback, the first one refused with 503 as told, a forged one 401,
#   the rest 204 and written down;
# - the real dispatcher (`webhook-deliver`, a temporary store, a rotation) against that receiver,
#   once knowing only the old secret, once only the new: every event arrives, in order, from
#   requests both libraries verified, including the retry after a 503.
#
# Note: svix 2.x's `Webhook.verify` maps `svix-*` headers to `webhook-*` and delegates to
# standardwebhooks' code, so the two agree by construction; they are two published entry points,
# not two implementations. The Rust example of the docs is a third, tested by cargo test.
set -euo pipefail
cd "$(dirname "$0")/../.."

STANDARDWEBHOOKS_VERSION=1.1.0
SVIX_VERSION=2.9.1
STARTUP_TIMEOUT_SECS=30
source tests/lib/harness.sh

binary "${1:-${WEBHOOK_SIGN_BIN:-}}" tributary-tests webhook-sign

# Both packages in one virtualenv under target/ (svix brings httpx and pydantic).
venv="$target_dir/webhooks-venv"
check="import importlib.metadata as m, sys
sys.exit(m.version('standardwebhooks') != '$STANDARDWEBHOOKS_VERSION' or m.version('svix') != '$SVIX_VERSION')"
py="$venv/bin/python"
if ! { [[ -x $py ]] && "$py" -c "$check" 2>/dev/null; }; then
  echo "installing standardwebhooks==$STANDARDWEBHOOKS_VERSION svix==$SVIX_VERSION into $venv" >&2
  if "$PYTHON" -m venv "$venv" 2>/dev/null; then
    "$py" -m pip install --quiet --disable-pip-version-check \
      "standardwebhooks==$STANDARDWEBHOOKS_VERSION" "svix==$SVIX_VERSION"
  else
    # No venv module: install into a directory on PYTHONPATH instead.
    py=$PYTHON
    site="$venv-site"
    "$py" -m pip install --quiet --disable-pip-version-check --upgrade --target "$site" \
      "standardwebhooks==$STANDARDWEBHOOKS_VERSION" "svix==$SVIX_VERSION"
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  "$py" -c "$check" || { echo "error: cannot import the pinned packages with $py" >&2; exit 1; }
fi

samples="$work/samples.jsonl"
"$bin" >"$samples"
echo "$(wc -l <"$samples") signed requests from $bin ($("$py" --version 2>&1))"
"$py" tests/webhooks/verify.py "$samples" --docs docs/webhooks.md

# The receiver: prints `receiver <url>` then `ready`; told to fail the first request.
received="$work/received.jsonl"
secret=$("$py" -c 'import json, sys; print(json.loads(sys.stdin.readline())["secret"])' <"$samples")
start_server receiver "$py" tests/webhooks/receiver.py --secret "$secret" --fail-first 1 \
  --events "$received"
wait_for_server 'grep -qx ready "$work/stdout"' "$STARTUP_TIMEOUT_SECS" "it was ready"
read -r _ url < <(head -n 1 "$work/stdout")
"$py" tests/webhooks/receiver.py --check "$url" --samples "$samples" --events "$received"

# tributary's real dispatcher (`webhook-deliver`: 25 events in batches of 10, during a rotation)
# against the receiver, which knows only the old secret, then only the new one; its first
# request fails with 503, so the retry of that batch is verified too.
old_secret=$("$py" -c 'import json, sys; print(json.loads(sys.stdin.readline())["secret"])' <"$samples")
new_secret=$("$py" -c 'import base64, os; print("whsec_" + base64.b64encode(os.urandom(32)).decode())')
binary "${2:-${WEBHOOK_DELIVER_BIN:-}}" tributary-tests webhook-deliver
deliver=$bin
for known in old new; do
  secret_var=${known}_secret
  received="$work/delivered-$known.jsonl"
  start_server receiver "$py" tests/webhooks/receiver.py --secret "${!secret_var}" --fail-first 1 \
    --events "$received"
  wait_for_server 'grep -qx ready "$work/stdout"' "$STARTUP_TIMEOUT_SECS" "it was ready"
  read -r _ url < <(head -n 1 "$work/stdout")
  echo "dispatcher, receiver knowing only the $known secret: $("$deliver" --url "$url" \
    --secret "$new_secret" --previous "$old_secret" --events 25 --batch 10)"
  "$py" tests/webhooks/receiver.py --events "$received" --expect-events 25
  if grep -v -e ' -> 204$' -e ' -> 503$' "$work/stderr"; then
    echo "error: the receiver refused a request of the dispatcher (above)" >&2
    exit 1
  fi
done
