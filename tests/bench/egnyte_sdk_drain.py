"""Times the real Egnyte Python SDK (PyPI `egnyte` 0.5.3, unchanged) paging a simulator's backlog.

    python3 tests/bench/egnyte_sdk_drain.py --base https://127.0.0.1:PORT --token T --cafile CERT

Pages every retained event with the SDK's own `Events.list(start_id, count=100)`, from the cursor's
`oldest_event_id` until the SDK returns nothing, and prints one JSON line:
`{"events": N, "requests": R, "seconds": S, "events_per_second": E}`. The counterpart of
`tributary bench egnyte-drain`; `tests/bench/egnyte-drain.sh` runs both on the same backlog.
"""

import argparse
import json
import os
import sys
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--cafile", required=True)
    args = parser.parse_args()
    os.environ["REQUESTS_CA_BUNDLE"] = args.cafile
    import egnyte

    client = egnyte.EgnyteClient({"domain": args.base.split("://", 1)[1].rstrip("/"), "access_token": args.token})
    events = client.events
    began = time.perf_counter()
    start = events.oldest_event_id  # one request: the cursor
    requests, count = 1, 0
    while True:
        page = events.list(start, count=100)
        requests += 1
        if not page:
            break
        count += len(page)
        start = page[-1].id
    seconds = time.perf_counter() - began
    print(json.dumps({"events": count, "requests": requests, "seconds": round(seconds, 3),
                      "events_per_second": round(count / seconds, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
