"""The real Kloudless Python SDK (PyPI `kloudless` 2.0.1), unchanged, against tributary's
Kloudless-compatible events API (`GET /v1/accounts/{account}/events`, `.../events/latest`).

The server is `api-fixture` (tests/src/bin/api-fixture.rs); its stdout, passed as --fixture, says
where it listens, its keys, and every source's event ids in stream order. The SDK is pointed at
it through its documented `base_url` setting, pages every account with its own paging iterator,
and what it sees must equal the fixture's events exactly (ids, order, count) and the native
`/v1/events` view of the same events (read here with plain HTTP, not the SDK).

    python3 tests/sdk/kloudless_sdk.py --fixture FIXTURE_STDOUT

Prints "N passed, N failed" at the end and exits non-zero on any failure.
"""

import argparse
import json
import logging
import sys
import urllib.parse
import urllib.request

import kloudless
from kloudless import exceptions

failures = []
passed = 0


def check(name, ok, detail=""):
    global passed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failures.append(name)
        print(f"FAIL {name} {detail}")


def read_fixture(path):
    """`api <url> key <key>`, then `account <n> source <id> tenant <t> key <k> events <ids>`."""
    with open(path, encoding="utf-8") as f:
        lines = [line.split() for line in f.read().splitlines()]
    first = lines[0]
    assert first[0] == "api" and first[2] == "key", f"unexpected first line {first}"
    accounts = []
    for words in lines[1:]:
        if words[0] != "account":
            continue
        fields = dict(zip(words[::2], words[1::2]))
        accounts.append({
            "account": int(fields["account"]),
            "source": fields["source"],
            "tenant": fields["tenant"],
            "key": fields["key"],
            "events": fields["events"].split(","),
        })
    return first[1], first[3], accounts


def native_events(base, key, source):
    """Every event of `source` through `/v1/events` (plain HTTP, not the SDK)."""
    events, cursor = [], None
    while True:
        query = {"source": source, "page_size": "1000"}
        if cursor:
            query["cursor"] = cursor
        request = urllib.request.Request(
            f"{base}/v1/events?{urllib.parse.urlencode(query)}",
            headers={"Authorization": f"Bearer {key}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            page = json.load(response)
        events.extend(page["objects"])
        cursor = page["cursor"]
        if page["remaining"] == 0:
            return events


def page_all(account, page_size):
    """All of the account's events with the SDK's own paging iterator, and the list it began."""
    first = account.get("events", params={"page_size": page_size})
    return [event.data for event in first.get_paging_iterator()], first


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--fixture", required=True, help="the api-fixture's stdout")
    args = parser.parse_args()
    logging.getLogger("kloudless").setLevel(logging.CRITICAL)  # expected 4xx are not news

    base, tenant_key, accounts = read_fixture(args.fixture)
    # The SDK's documented switch: everything else is the SDK as published.
    kloudless.configuration["base_url"] = base
    print(f"kloudless SDK {kloudless.VERSION} at {base}")

    demo = [a for a in accounts if a["tenant"] == "demo"]
    other = [a for a in accounts if a["tenant"] != "demo"]
    check("fixture has two demo sources and one of another tenant", len(demo) == 2 and len(other) == 1)

    for a in demo:
        name = a["source"]
        expected = a["events"]
        native = native_events(base, tenant_key, name)
        check(f"{name}: native view holds the fixture's events", [e["id"] for e in native] == expected)

        # A source-scoped key is an account token: `Account(token=...)` addresses `me`.
        me = kloudless.Account(token=a["key"])
        for page_size in (7, 50, 1000):
            got, first = page_all(me, page_size)
            ids = [e["id"] for e in got]
            check(f"{name}: me, page_size={page_size}: every event once, in order ({len(ids)})",
                  ids == expected, f"got {len(ids)} ids, first diff at "
                  f"{next((i for i, (x, y) in enumerate(zip(ids, expected)) if x != y), min(len(ids), len(expected)))}")
            check(f"{name}: me, page_size={page_size}: envelope",
                  first.type == "object_list" and first.api == "events"
                  and first.data["count"] == len(first.objects) <= page_size)
            check(f"{name}: me, page_size={page_size}: the iterator leaves a latest cursor",
                  isinstance(first.latest_cursor, str) and first.latest_cursor != "")

        got, _ = page_all(me, 100)
        same = all(
            g["account"] == a["account"] and g["type"] == n["type"] and g["modified"] == n["occurred_at"]
            and g["metadata"]["id"] == n["object"]["id"] and g["metadata"]["account"] == a["account"]
            and g["user_id"] == (n.get("actor") or {}).get("id") and g["ip"] is None
            and g["action"] == ("-" if n["type"] == "delete" else "+")
            and ("previous_metadata" in g) == ("previous" in n)
            for g, n in zip(got, native)
        )
        check(f"{name}: every event maps from the native event", same and len(got) == len(native))
        types = {g["type"] for g in got}
        check(f"{name}: every event type appears",
              types == {"add", "delete", "update", "rename", "move", "copy", "restore"}, f"{types}")

        # An application key with a numeric account id: `Authorization: APIKey <key>`.
        by_id = kloudless.Account(api_key=tenant_key, account_id=a["account"])
        got, _ = page_all(by_id, 25)
        check(f"{name}: account {a['account']} with the tenant key: same events",
              [e["id"] for e in got] == expected)

        # `events/latest`: the end of the log; nothing after it yet.
        latest = me.get("events/latest").data["cursor"]
        after = me.get("events", params={"cursor": latest})
        check(f"{name}: events/latest reads nothing after it",
              after.data["count"] == 0 and after.data["remaining"] == 0 and list(after) == [])
        check(f"{name}: latest cursor is the same for the numeric account",
              by_id.get("events/latest").data["cursor"] == latest)

    # What the SDK must not see.
    wide = kloudless.Account(token=tenant_key)
    try:
        wide.get("events")
        check("me with a tenant-wide key is refused", False, "it answered")
    except exceptions.APIException as e:
        check("me with a tenant-wide key is refused with 400", e.status == 400, f"status {e.status}")
    for a in other:
        stranger = kloudless.Account(api_key=tenant_key, account_id=a["account"])
        try:
            stranger.get("events")
            check("another tenant's account is hidden", False, "it answered")
        except exceptions.NotFoundException:
            check("another tenant's account answers 404", True)
    try:
        kloudless.Account(token="not-a-key").get("events")
        check("an unknown key is refused", False, "it answered")
    except exceptions.AuthorizationException:
        check("an unknown key answers 401", True)
    try:
        demo_account = kloudless.Account(token=demo[0]["key"])
        demo_account.get("events", params={"cursor": "garbage"})
        check("a malformed cursor is refused", False, "it answered")
    except exceptions.APIException as e:
        check("a malformed cursor answers 400", e.status == 400, f"status {e.status}")

    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
