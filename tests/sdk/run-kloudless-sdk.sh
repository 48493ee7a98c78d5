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
PYTHON=${PYTHON:-python3}

target_dir=$(cargo metadata --format-version 1 --no-deps |
  "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

# The fixture.
bin=${1:-${API_FIXTURE_BIN:-}}
if [[ -z $bin ]]; then
  echo "building api-fixture (debug)" >&2
  cargo build --locked -p tributary-tests --bin api-fixture
  bin="$target_dir/debug/api-fixture"
fi

# The SDK: already importable at the pinned version, else in a virtualenv under target/ (or, where
# `venv` is missing, installed with `pip --target` beside it).
has_sdk() {
  "$1" -c "import importlib.metadata as m, sys; sys.exit(m.version('kloudless') != '$KLOUDLESS_SDK_VERSION')" 2>/dev/null
}
py=$PYTHON
if ! has_sdk "$py"; then
  venv="$target_dir/kloudless-sdk-venv"
  if [[ -x $venv/bin/python ]] && has_sdk "$venv/bin/python"; then
    py="$venv/bin/python"
  elif "$PYTHON" -m venv "$venv" 2>/dev/null; then
    echo "installing kloudless==$KLOUDLESS_SDK_VERSION into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "kloudless==$KLOUDLESS_SDK_VERSION"
    py="$venv/bin/python"
  else
    site="$target_dir/kloudless-sdk-site"
    echo "no venv module; installing kloudless==$KLOUDLESS_SDK_VERSION into $site" >&2
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --upgrade --target "$site" \
      "kloudless==$KLOUDLESS_SDK_VERSION"
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  has_sdk "$py" || { echo "error: cannot import kloudless $KLOUDLESS_SDK_VERSION with $py" >&2; exit 1; }
fi

# The fixture, in the background; stopped on exit.
work=$(mktemp -d)
fixture_pid=
stop_fixture() {
  if [[ -n $fixture_pid ]]; then
    kill "$fixture_pid" 2>/dev/null || true
    wait "$fixture_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop_fixture EXIT

"$bin" --listen 127.0.0.1:0 >"$work/stdout" 2>"$work/stderr" &
fixture_pid=$!

# It prints `api <url> key <key>`, one line per account, `admin <key>`, then `ready` once it
# serves. Poll for that last line, bounded.
deadline=$((SECONDS + STARTUP_TIMEOUT_SECS))
until grep -qx ready "$work/stdout"; do
  if ! kill -0 "$fixture_pid" 2>/dev/null; then
    echo "error: the fixture exited before it was ready:" >&2
    cat "$work/stderr" >&2
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    echo "error: the fixture was not ready within ${STARTUP_TIMEOUT_SECS}s" >&2
    cat "$work/stderr" >&2
    exit 1
  fi
  sleep 0.1
done
echo "fixture: $(head -n 1 "$work/stdout") (kloudless SDK $KLOUDLESS_SDK_VERSION, $("$py" --version 2>&1))"

# The SDK talks to 127.0.0.1 directly, whatever proxy the environment names.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
status=0
"$py" tests/sdk/kloudless_sdk.py --fixture "$work/stdout" || status=$?
if ((status != 0)) && [[ -s $work/stderr ]]; then
  echo "--- fixture stderr ---" >&2
  cat "$work/stderr" >&2
fi
exit "$status"
