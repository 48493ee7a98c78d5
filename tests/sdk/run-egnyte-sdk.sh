#!/usr/bin/env bash
# The real Egnyte Python SDK (PyPI `egnyte` 0.5.3, unchanged) against `tributary sim egnyte --tls`.
#
#   tests/sdk/run-egnyte-sdk.sh [path/to/tributary]
#
# Without an argument (or $TRIBUTARY_BIN) it builds the debug binary. It installs the SDK into a
# virtualenv under the target directory unless $PYTHON can already import that version, starts the
# simulator over HTTPS with a self-signed certificate, runs tests/sdk/egnyte_sdk.py against it and
# exits with the script's status. The simulator is stopped on exit, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/../.."

EGNYTE_SDK_VERSION=0.5.3
TOKEN=sdk-test-token
STARTUP_TIMEOUT_SECS=60
source tests/lib/harness.sh

# The binary.
binary "${1:-${TRIBUTARY_BIN:-}}" tributary-cli tributary

# The SDK: already importable at the pinned version, else in a virtualenv under target/.
pip_package egnyte "$EGNYTE_SDK_VERSION" egnyte-sdk-venv

# The simulator. Its first stdout line is the base URL, printed once the certificate is written
# and the port is bound.
start_server simulator "$bin" sim egnyte --tls --cert "$work/sim.pem" --listen 127.0.0.1:0 \
  --token "$TOKEN" --backlog 1234 --seed 7
wait_for_server '[[ $(wc -l <"$work/stdout") -ge 1 ]]' "$STARTUP_TIMEOUT_SECS" "printing its URL"
base=$(head -n 1 "$work/stdout")
echo "simulator at $base (egnyte SDK $EGNYTE_SDK_VERSION, $("$py" --version 2>&1))"

status=0
"$py" tests/sdk/egnyte_sdk.py --base "$base" --token "$TOKEN" --cafile "$work/sim.pem" || status=$?
if ((status != 0)) && [[ -s $work/stderr ]]; then
  echo "--- simulator stderr ---" >&2
  cat "$work/stderr" >&2
fi
exit "$status"
