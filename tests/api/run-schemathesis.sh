#!/usr/bin/env bash
# schemathesis (PyPI, pinned below) against the API's own OpenAPI document: it generates requests
# from `GET /openapi.json` and checks every answer against the document, on `api-fixture` (a
# temporary store with a fixed set of events).
#
#   tests/api/run-schemathesis.sh [path/to/api-fixture]
#
# Without an argument (or $API_FIXTURE_BIN) it builds the debug fixture. It installs schemathesis
# into a virtualenv under the target directory, starts the fixture on 127.0.0.1:0 and runs every
# check but one, authenticated with the fixture's tenant key (and, for the `keys` operations,
# `/v1/keys`, in a second run, with its admin key):
#
# - no server error (5xx) for any request, valid or not;
# - every answer's status code, content type, headers and body conform to the document;
# - requests that break the document (a bad type, a page_size out of 1..=1000, ...) are refused
#   with a 4xx; a GET-only path answers other methods with 405 and an `Allow` header; a request
#   without the key is refused (401).
#
# Left out:
# - the `positive_data_acceptance` check (every request the document allows gets a 2xx): a cursor
#   is an opaque string that the document cannot constrain further (it carries the store's epoch
#   and a checksum), and `me` is an account only for a source-scoped key, so schema-valid requests
#   rightly get `400 invalid_cursor` / `invalid_parameter`; those 4xx are documented and checked.
# - `GET /v1/events/stream`: a successful answer is a server-sent event stream that never ends
#   (it follows the log live), so every request that schemathesis makes would run into its request
#   timeout and be reported as an error. Its parameters are the list's, parsed by the same code
#   (covered here through `GET /v1/events`), and its 4xx answers are tested in Rust
#   (`crates/server/src/api/tests.rs`).
#
# The document's links (a page's `cursor` feeds the next request) let the stateful phase page
# through real cursors. Runs in about 30 s; SCHEMATHESIS_MAX_EXAMPLES (default 200 per operation)
# and SCHEMATHESIS_SEED (default 1, for a reproducible CI run) tune it.
set -euo pipefail
cd "$(dirname "$0")/../.."

SCHEMATHESIS_VERSION=4.32.5
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-200}
SEED=${SCHEMATHESIS_SEED:-1}
STARTUP_TIMEOUT_SECS=60
source tests/lib/harness.sh

# The fixture.
binary "${1:-${API_FIXTURE_BIN:-}}" tributary-tests api-fixture

# schemathesis, in its own virtualenv under target/ (it brings many dependencies).
pip_package schemathesis "$SCHEMATHESIS_VERSION" schemathesis-venv

# The fixture prints `api <url> key <key>`, one line per account, `admin <key>`, then `ready` once
# it serves.
start_server fixture "$bin" --listen 127.0.0.1:0
wait_for_server 'grep -qx ready "$work/stdout"' "$STARTUP_TIMEOUT_SECS" "it was ready"
read -r _ url _ key < <(head -n 1 "$work/stdout")
read -r _ admin_key < <(grep '^admin ' "$work/stdout")
echo "fixture: $url (schemathesis $SCHEMATHESIS_VERSION, $MAX_EXAMPLES examples per operation, seed $SEED)"

# `run <key> <filter...>`: one schemathesis run with that key over the operations the filter selects.
run() {
  local key=$1
  shift
  # Its command-line entry point, through whichever Python has it (no console script is
  # needed).
  (cd "$work" && "$py" -c 'import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())' \
    run "$url/openapi.json" \
    --header "Authorization: Bearer $key" \
    --checks all --exclude-checks positive_data_acceptance \
    --max-examples "$MAX_EXAMPLES" --seed "$SEED" \
    --request-timeout 10 --continue-on-failure \
    --suppress-health-check too_slow "$@")
}
status=0
# Everything a tenant's key reaches; `/v1/keys` answers it 403 `admin_key_required` (tested in Rust).
run "$key" --exclude-path /v1/events/stream --exclude-tag keys || status=$?
# `/v1/keys` with the admin key (which every other operation refuses).
run "$admin_key" --include-tag keys || status=$?
if ((status != 0)) && [[ -s $work/stderr ]]; then
  echo "--- fixture stderr ---" >&2
  cat "$work/stderr" >&2
fi
exit "$status"
