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
PYTHON=${PYTHON:-python3}

target_dir=$(cargo metadata --format-version 1 --no-deps |
  "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

# The binary.
bin=${1:-${TRIBUTARY_BIN:-}}
if [[ -z $bin ]]; then
  echo "building tributary (debug)" >&2
  cargo build --locked -p tributary-server --bin tributary
  bin="$target_dir/debug/tributary"
fi

# The SDK: already importable at the pinned version, else in a virtualenv under target/ (or, where
# `venv` is missing, installed with `pip --target` beside it).
has_sdk() {
  "$1" -c "import importlib.metadata as m, sys; sys.exit(m.version('egnyte') != '$EGNYTE_SDK_VERSION')" 2>/dev/null
}
py=$PYTHON
if ! has_sdk "$py"; then
  venv="$target_dir/egnyte-sdk-venv"
  if [[ -x $venv/bin/python ]] && has_sdk "$venv/bin/python"; then
    py="$venv/bin/python"
  elif "$PYTHON" -m venv "$venv" 2>/dev/null; then
    echo "installing egnyte==$EGNYTE_SDK_VERSION into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "egnyte==$EGNYTE_SDK_VERSION"
    py="$venv/bin/python"
  else
    site="$target_dir/egnyte-sdk-site"
    echo "no venv module; installing egnyte==$EGNYTE_SDK_VERSION into $site" >&2
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --upgrade --target "$site" \
      "egnyte==$EGNYTE_SDK_VERSION"
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  has_sdk "$py" || { echo "error: cannot import egnyte $EGNYTE_SDK_VERSION with $py" >&2; exit 1; }
fi

# The simulator, in the background; stopped on exit.
work=$(mktemp -d)
sim_pid=
stop_sim() {
  if [[ -n $sim_pid ]]; then
    kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop_sim EXIT

"$bin" sim egnyte --tls --cert "$work/sim.pem" --listen 127.0.0.1:0 --token "$TOKEN" \
  --backlog 1234 --seed 7 >"$work/stdout" 2>"$work/stderr" &
sim_pid=$!

# Its first stdout line is the base URL, printed once the certificate is written and the port is
# bound. Poll for it, bounded.
deadline=$((SECONDS + STARTUP_TIMEOUT_SECS))
until [[ $(wc -l <"$work/stdout") -ge 1 ]]; do
  if ! kill -0 "$sim_pid" 2>/dev/null; then
    echo "error: the simulator exited before printing its URL:" >&2
    cat "$work/stderr" >&2
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    echo "error: no URL from the simulator within ${STARTUP_TIMEOUT_SECS}s" >&2
    cat "$work/stderr" >&2
    exit 1
  fi
  sleep 0.1
done
base=$(head -n 1 "$work/stdout")
echo "simulator at $base (egnyte SDK $EGNYTE_SDK_VERSION, $("$py" --version 2>&1))"

status=0
"$py" tests/sdk/egnyte_sdk.py --base "$base" --token "$TOKEN" --cafile "$work/sim.pem" || status=$?
if ((status != 0)) && [[ -s $work/stderr ]]; then
  echo "--- simulator stderr ---" >&2
  cat "$work/stderr" >&2
fi
exit "$status"
