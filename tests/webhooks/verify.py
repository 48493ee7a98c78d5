"""Webhook requests signed by tributary, verified by two packages from PyPI that no one here wrote.

    python tests/webhooks/verify.py SAMPLES.jsonl [--docs docs/webhooks.md]

SAMPLES.jsonl is what `webhook-sign` prints (one signed request a line: name, the secret the
receiver knows, expect, headers, body). For every request it checks that

- `standardwebhooks.Webhook(secret).verify(body, headers)` and
  `svix.webhooks.Webhook(secret).verify(body, headers)` accept each `valid` request (and the JSON
  that standardwebhooks hands back is the body's), also with the headers in another case;
- both refuse, with `WebhookVerificationError`, the same request with one byte of the body
  changed, signed with another secret, or with its timestamp moved by one second;
- both refuse each `stale` request for its timestamp alone ("too old" / "too new"), although its
  signature is right (standardwebhooks' own `sign` gives the same one), and refuse it still when
  its timestamp is replaced by a fresh one;

and, with --docs, that the Python example of the docs' "Verifying signatures" section (run as
written, with the sample's secret in WEBHOOK_SECRET) answers 204 to valid requests, processes
each `webhook-id` once, and answers 400 to every forged one and to a malformed header.

Exits 1 with a message naming the request and the check on the first unexpected outcome; else
prints a summary line.
"""

import argparse
import base64
import json
import os
import re
import secrets
import sys
import time
from datetime import datetime, timezone

import standardwebhooks
import svix
import svix.webhooks
from standardwebhooks import WebhookVerificationError


class Failure(Exception):
    pass


def verify_standardwebhooks(secret, body, headers):
    payload = standardwebhooks.Webhook(secret).verify(body, headers)
    if payload != json.loads(body):
        raise Failure("standardwebhooks handed back JSON that is not the body's")


def verify_svix(secret, body, headers):
    svix.webhooks.Webhook(secret).verify(body, headers)


VERIFIERS = {"standardwebhooks": verify_standardwebhooks, "svix": verify_svix}


def accepts(verifier, secret, body, headers):
    """None when the verifier accepts; else the reason it gives."""
    try:
        VERIFIERS[verifier](secret, body, headers)
    except WebhookVerificationError as e:
        return str(e) or type(e).__name__
    return None


def expect_accepted(name, what, secret, body, headers):
    for verifier in VERIFIERS:
        reason = accepts(verifier, secret, body, headers)
        if reason is not None:
            raise Failure(f"{name}: {verifier} refused {what}: {reason}")


def expect_refused(name, what, secret, body, headers, because=None):
    for verifier in VERIFIERS:
        reason = accepts(verifier, secret, body, headers)
        if reason is None:
            raise Failure(f"{name}: {verifier} accepted {what}")
        if because and not re.search(because, reason):
            raise Failure(f"{name}: {verifier} refused {what} for another reason: {reason!r}")


def one_byte_changed(body):
    """The body with one ASCII byte (so still UTF-8) in its middle changed."""
    i = len(body) // 2
    while body[i] >= 0x80 or body[i] in b'"\\':
        i += 1
    return body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]


def other_secret():
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def with_timestamp(headers, timestamp):
    return {**headers, "webhook-timestamp": str(timestamp)}


def check_sample(sample):
    name, secret, headers = sample["name"], sample["secret"], sample["headers"]
    body = sample["body"].encode("utf-8")
    timestamp = int(headers["webhook-timestamp"])
    if sample["expect"] == "valid":
        expect_accepted(name, "a genuine request", secret, body, headers)
        title_case = {k.title(): v for k, v in headers.items()}
        expect_accepted(name, "a genuine request with Title-Case headers", secret, body, title_case)
        expect_refused(name, "a tampered body", secret, one_byte_changed(body), headers, "signature")
        expect_refused(name, "a wrong secret", other_secret(), body, headers, "signature")
        moved = with_timestamp(headers, timestamp + 1)
        expect_refused(name, "a timestamp moved by 1 s", secret, body, moved, "signature")
        return "valid"
    if sample["expect"] == "stale":
        # The signature itself is right: standardwebhooks signs the same.
        at = datetime.fromtimestamp(timestamp, tz=timezone.utc)
        own = standardwebhooks.Webhook(secret).sign(headers["webhook-id"], at, body.decode())
        if own not in headers["webhook-signature"].split(" "):
            raise Failure(f"{name}: the signature is not standardwebhooks' own ({own})")
        expect_refused(name, "a stale timestamp", secret, body, headers, "too (old|new)")
        fresh = with_timestamp(headers, int(time.time()))
        expect_refused(name, "a stale request with a fresh timestamp", secret, body, fresh, "signature")
        return "stale"
    raise Failure(f"{name}: unknown expectation {sample['expect']!r}")


def docs_example(path):
    """The first ```python block of the docs' "## Verifying signatures" section."""
    text = open(path, encoding="utf-8").read()
    section = text.split("\n## Verifying signatures\n", 1)
    if len(section) != 2:
        raise Failure(f"{path} has no '## Verifying signatures' section")
    section = section[1].split("\n## ", 1)[0]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    if not block:
        raise Failure(f"{path}: the section has no Python example")
    return block.group(1)


def check_docs_example(code, samples):
    """Runs the docs' example, once per secret, on every request and its forgeries."""
    handled = 0
    for sample in samples:
        os.environ["WEBHOOK_SECRET"] = sample["secret"]
        processed = []
        env = {"__name__": "docs_example"}
        exec(compile(code, "docs example", "exec"), env)
        env["process"] = processed.append
        name, headers = sample["name"], sample["headers"]
        body = sample["body"].encode("utf-8")

        def answer(what, body, headers, status):
            try:
                got = env["handle"](body, headers)
            except Exception as e:
                raise Failure(f"{name}: the docs' example raised {e!r} on {what}") from e
            if got != status:
                raise Failure(f"{name}: the docs' example answered {got} to {what}, not {status}")

        if sample["expect"] == "valid":
            answer("a genuine request", body, headers, 204)
            answer("its retry", body, headers, 204)
            if processed != [json.loads(body)]:
                raise Failure(f"{name}: the docs' example processed {len(processed)} payloads, not 1")
            answer("a tampered body", one_byte_changed(body), headers, 400)
            bad = {**headers, "webhook-signature": "v1"}
            answer("a malformed signature header", body, bad, 400)
            bad = {**headers, "webhook-signature": "v1,not base64!"}
            answer("a signature that is not base64", body, bad, 400)
            handled += 1
        else:
            answer("a stale request", body, headers, 400)
            if processed:
                raise Failure(f"{name}: the docs' example processed a stale request")
    return handled


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("samples")
    parser.add_argument("--docs", help="docs/webhooks.md, to run its Python example too")
    args = parser.parse_args()
    samples = [json.loads(line) for line in open(args.samples, encoding="utf-8") if line.strip()]
    counts = {"valid": 0, "stale": 0}
    try:
        if not samples:
            raise Failure(f"{args.samples} holds no request")
        for sample in samples:
            counts[check_sample(sample)] += 1
        if counts["valid"] == 0 or counts["stale"] == 0:
            raise Failure(f"expected both valid and stale requests, got {counts}")
        docs = ""
        if args.docs:
            handled = check_docs_example(docs_example(args.docs), samples)
            docs = f"; the docs' Python example handled {handled} and refused every forgery"
    except Failure as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    n = counts["valid"]
    print(
        f"{n} verified by standardwebhooks {standardwebhooks.__version__}, {n} by svix "
        f"{svix_version()}; tampered/stale/wrong-secret rejected by both "
        f"({n} tampered, {counts['stale']} stale, {n} wrong-secret){docs}"
    )
    return 0


def svix_version():
    from importlib.metadata import version

    return version("svix")


if __name__ == "__main__":
    sys.exit(main())
