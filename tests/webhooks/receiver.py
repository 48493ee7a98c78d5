"""A webhook receiver that verifies every request with `standardwebhooks` and `svix` (PyPI).

Serve (for a test that points a subscription at it):

    python tests/webhooks/receiver.py --secret whsec_... [--secret ...] --events FILE
        [--fail-first N] [--listen 127.0.0.1:0]

prints `receiver <url>` then `ready` on stdout, then answers every POST:

- 401 when the request is not verified by both libraries with one of the secrets (a rotation's
  receiver may know two) — tampered body, wrong secret, stale timestamp, missing headers;
- 503 to the first N verified requests (`--fail-first`), writing nothing, so the sender retries;
- else 204, after appending one JSON line per event of the body to FILE (flushed before the
  answer): `{"webhook_id", "timestamp", "duplicate", "event"}` for a `full` delivery (`duplicate`:
  this `webhook-id` was already written, as at-least-once allows), `{"webhook_id", "timestamp",
  "duplicate", "notify"}` with the body's `data` for an `events.available` ping.

Any other method or path answers 405 or 404. One line per request goes to stderr. Stops on
SIGTERM or SIGINT.

Check it (what tests/webhooks/run-verify.sh does):

    python tests/webhooks/receiver.py --check URL --samples SAMPLES.jsonl --events FILE

POSTs `webhook-sign`'s samples to a receiver started with `--fail-first 1` and the first
sample's secret, and checks each answer and the lines written, exactly.

    python tests/webhooks/receiver.py --events FILE --expect-events N

checks that FILE holds the events of seq 1..N in order (repeated deliveries, marked duplicate,
aside): what `webhook-deliver` sends.
"""

import argparse
import json
import signal
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import standardwebhooks
import svix.webhooks
from standardwebhooks import WebhookVerificationError

HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
# A batch of 100 events is far below this; a larger body is refused unread.
MAX_BODY = 16 * 1024 * 1024


def verified(secrets, body, headers):
    """Whether both libraries accept the request with one of the secrets (the same one)."""
    for secret in secrets:
        try:
            standardwebhooks.Webhook(secret).verify(body, headers)
            svix.webhooks.Webhook(secret).verify(body, headers)
            return True
        except (WebhookVerificationError, ValueError):
            # ValueError: a malformed header (no comma, not base64) or a body not UTF-8.
            continue
    return False


class Receiver:
    def __init__(self, secrets, events_path, fail_first):
        self.secrets = secrets
        self.events = open(events_path, "a", encoding="utf-8")
        self.fail_left = fail_first
        self.seen = set()
        self.lock = threading.Lock()

    def receive(self, body, headers):
        """The status to answer."""
        if not verified(self.secrets, body, headers):
            return 401
        payload = json.loads(body)
        webhook_id = headers["webhook-id"]
        with self.lock:
            if self.fail_left > 0:
                self.fail_left -= 1
                return 503
            common = {
                "webhook_id": webhook_id,
                "timestamp": headers["webhook-timestamp"],
                "duplicate": webhook_id in self.seen,
            }
            self.seen.add(webhook_id)
            data = payload.get("data", {})
            if payload.get("type") == "events":
                lines = [{**common, "event": event} for event in data.get("events", [])]
            else:
                lines = [{**common, "notify": data}]
            for line in lines:
                self.events.write(json.dumps(line, ensure_ascii=False) + "\n")
            self.events.flush()
        return 204


def handler(receiver):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.answer(413)
                self.close_connection = True
                return
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items() if k.lower() in HEADERS}
            self.answer(receiver.receive(body, headers), headers.get("webhook-id"))

        def do_GET(self):
            self.answer(405)

        do_PUT = do_PATCH = do_DELETE = do_GET

        def answer(self, status, webhook_id=None):
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            print(f"{self.command} {self.path} {webhook_id} -> {status}", file=sys.stderr, flush=True)

        def log_message(self, *args):
            pass

    return Handler


def serve(args):
    host, port = args.listen.rsplit(":", 1)
    receiver = Receiver(args.secret, args.events, args.fail_first)
    server = ThreadingHTTPServer((host, int(port)), handler(receiver))
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    host, port = server.server_address[:2]
    print(f"receiver http://{host}:{port}", flush=True)
    print("ready", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    server.server_close()
    return 0


def post(url, body, headers):
    """The status a POST gets (proxies bypassed: the receiver is on loopback)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with opener.open(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as e:
        return e.code


def check(args):
    samples = [json.loads(line) for line in open(args.samples, encoding="utf-8") if line.strip()]
    secret = samples[0]["secret"]
    expected_lines = []
    failures = []

    def send(what, sample, status, body=None, headers=None):
        body = sample["body"].encode("utf-8") if body is None else body
        headers = sample["headers"] if headers is None else headers
        got = post(args.check, body, {"Content-Type": "application/json", **headers})
        if got != status:
            failures.append(f"{what} ({sample['name']}): answered {got}, not {status}")
        return got

    first = samples[0]
    send("the first request, told to fail", first, 503)
    tampered = first["body"].replace("egnyte-acme", "egnyte-acmf", 1).encode("utf-8")
    send("a tampered body", first, 401, body=tampered)
    send("no signature headers", first, 401, headers={})
    for sample in samples:
        # The receiver knows the first sample's secret: a rotation signed with it is genuine
        # whichever secret the sample names.
        knows = sample["secret"] == secret or sample["name"].startswith("rotation")
        genuine = sample["expect"] == "valid" and knows
        if send("a sample", sample, 204 if genuine else 401) == 204:
            payload = json.loads(sample["body"])
            webhook_id = sample["headers"]["webhook-id"]
            duplicate = any(line["webhook_id"] == webhook_id for line in expected_lines)
            common = {"webhook_id": webhook_id, "duplicate": duplicate}
            if payload["type"] == "events":
                expected_lines += [{**common, "event": e} for e in payload["data"]["events"]]
            else:
                expected_lines.append({**common, "notify": payload["data"]})
    written = [json.loads(line) for line in open(args.events, encoding="utf-8")]
    for line in written:
        del line["timestamp"]
    if written != expected_lines:
        failures.append(
            f"the receiver wrote {len(written)} lines, expected {len(expected_lines)}: "
            f"{json.dumps(written, ensure_ascii=False)[:2000]}"
        )
    if failures:
        for failure in failures:
            print(f"error: receiver: {failure}", file=sys.stderr)
        return 1
    duplicates = sum(1 for line in written if line["duplicate"])
    print(
        f"receiver: 1 request failed with 503 as told, forged ones refused with 401, "
        f"{len(written)} lines written in order ({duplicates} marked duplicate by webhook-id)"
    )
    return 0


def check_log(args):
    """The events file holds events 1..N in order, once each apart from whole repeated batches."""
    written = [json.loads(line) for line in open(args.events, encoding="utf-8")]
    firsts = [line for line in written if not line["duplicate"]]
    seqs = [line["event"]["seq"] for line in firsts if "event" in line]
    if seqs != list(range(1, args.expect_events + 1)):
        print(f"error: receiver: received seqs {seqs}, not 1..{args.expect_events}", file=sys.stderr)
        return 1
    ids = {line["webhook_id"] for line in written}
    print(
        f"receiver: {len(seqs)} events from tributary's dispatcher, in order, in {len(ids)} "
        f"verified deliveries ({len(written) - len(firsts)} duplicate lines)"
    )
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--secret", action="append", default=[], help="a whsec_ secret (repeatable)")
    parser.add_argument("--events", required=True, help="the JSON-lines file of received events")
    parser.add_argument("--fail-first", type=int, default=0, metavar="N")
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--check", metavar="URL", help="check a running receiver instead")
    parser.add_argument("--samples", help="webhook-sign's output, for --check")
    parser.add_argument(
        "--expect-events", type=int, metavar="N", help="check the events file holds seqs 1..N"
    )
    args = parser.parse_args()
    if args.expect_events is not None:
        return check_log(args)
    if args.check:
        if not args.samples:
            parser.error("--check needs --samples")
        return check(args)
    if not args.secret:
        parser.error("give at least one --secret")
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
