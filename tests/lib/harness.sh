# Shared by the scripts under tests/ (source it after `cd` to the repository root, with `set -euo
# pipefail`): the target directory, a pinned PyPI package, and one background server stopped on
# exit.
#
#   target_dir                            the workspace's target directory
#   binary GIVEN PACKAGE BIN [--release]  sets `bin`: GIVEN when not empty, else PACKAGE's BIN built
#   pip_package NAME VERSION VENV         sets `py`: a Python that imports NAME at VERSION
#   start_server NAME CMD...              runs CMD in the background (stdout, stderr in $work),
#                                         stopping the one started before
#   wait_for_server TEST SECONDS WHAT     polls until TEST (a command) succeeds, bounded
#
# $PYTHON (default python3) is the Python to start from.

PYTHON=${PYTHON:-python3}
target_dir=$(cargo metadata --format-version 1 --no-deps |
  "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

# `binary GIVEN PACKAGE BIN [--release]`: `bin` is GIVEN (a path the caller was handed) when it is
# not empty, else PACKAGE's binary BIN, built (debug unless --release).
binary() {
  local given=$1 package=$2 name=$3 profile=debug
  shift 3
  if [[ -n $given ]]; then
    bin=$given
    return 0
  fi
  [[ ${1:-} == --release ]] && profile=release
  echo "building $name ($profile)" >&2
  cargo build --locked -q -p "$package" --bin "$name" "$@"
  bin="$target_dir/$profile/$name"
}

# `pip_package NAME VERSION VENV`: $PYTHON when it already imports NAME at VERSION; else a
# virtualenv `$target_dir/VENV` (reused when it has it); else, where the `venv` module is missing,
# `pip --target` into `$target_dir/VENV-site` on PYTHONPATH. Sets `py`.
pip_package() {
  local name=$1 version=$2 venv="$target_dir/$3"
  local check="import importlib.metadata as m, sys; sys.exit(m.version('$name') != '$version')"
  py=$PYTHON
  "$py" -c "$check" 2>/dev/null && return 0
  if [[ -x $venv/bin/python ]] && "$venv/bin/python" -c "$check" 2>/dev/null; then
    py="$venv/bin/python"
  elif "$PYTHON" -m venv "$venv" 2>/dev/null; then
    echo "installing $name==$version into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$name==$version"
    py="$venv/bin/python"
  else
    local site="$venv-site"
    echo "no venv module; installing $name==$version into $site" >&2
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --upgrade --target "$site" \
      "$name==$version"
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  "$py" -c "$check" 2>/dev/null || { echo "error: cannot import $name $version with $py" >&2; exit 1; }
}

work=$(mktemp -d)
server_pid=
server_name=server
kill_server() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
trap 'kill_server; rm -rf "$work"' EXIT

# `start_server NAME CMD...`: CMD in the background, its output in $work/stdout and $work/stderr
# (emptied first); the server started before is stopped first, and this one on exit, whatever
# happens.
start_server() {
  kill_server
  server_name=$1
  shift
  # Emptied here, not by the background redirection, which may run after the caller's first look.
  : >"$work/stdout"
  : >"$work/stderr"
  "$@" >>"$work/stdout" 2>>"$work/stderr" &
  server_pid=$!
}

# `wait_for_server TEST SECONDS WHAT`: polls TEST every 0.1 s until it succeeds; fails with the
# server's stderr if the server exits first or SECONDS pass. WHAT says what was awaited.
wait_for_server() {
  local test=$1 deadline=$((SECONDS + $2)) what=$3
  until eval "$test"; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "error: the $server_name exited before $what:" >&2
      cat "$work/stderr" >&2
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "error: the $server_name did not get to $what within $2 s" >&2
      cat "$work/stderr" >&2
      exit 1
    fi
    sleep 0.1
  done
}

# Local servers are reached directly, whatever proxy the environment names.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
