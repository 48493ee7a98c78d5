#!/usr/bin/env bash
# The real Kloudless Python SDK (PyPI `kloudless` 2.0.1, unchanged) against tributary's
# Kloudless-compatible events API, served by `api-fixture` over a fixed set of events.
#
#   tests/sdk/run-kloudless-sdk.sh [path/to/api-fixture]
#
# Without an argument (or $API_FIXTURE_BIN) it builds the debug fixture. It installs the SDK into a
# virtualenv under the target directory unless $PYTHON can already import that version, starts the
# fixture on 127.0.0.1:0, runs tests/sdk/kloudless_sdk.py against it and exits with the script's
# status. The fixture is stopped on exit, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/../.."

KLOUDLESS_SDK_VERSION=2.0.1
STARTUP_TIMEOUT_SECS=60
source tests/lib/harness.sh

# The fixture.
binary "${1:-${API_FIXTURE_BIN:-}}" tributary-tests api-fixture

# The SDK: already importable at the pinned version, else in a virtualenv under target/.
pip_package kloudless "$KLOUDLESS_SDK_VERSION" kloudless-sdk-venv

# The fixture prints `api <url> key <key>`, one line per account, `admin <key>`, then `ready` once
# it serves.
start_server fixture "$bin" --listen 127.0.0.1:0
wait_for_server 'grep -qx ready "$work/stdout"' "$STARTUP_TIMEOUT_SECS" "it was ready"
echo "fixture: $(head -n 1 "$work/stdout") (kloudless SDK $KLOUDLESS_SDK_VERSION, $("$py" --version 2>&1))"

status=0
"$py" tests/sdk/kloudless_sdk.py --fixture "$work/stdout" || status=$?
if ((status != 0)) && [[ -s $work/stderr ]]; then
  echo "--- fixture stderr ---" >&2
  cat "$work/stderr" >&2
fi
exit "$status"
