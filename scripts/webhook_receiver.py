"""A small webhook receiver: verifies each request's signature and prints one line per event.

    python scripts/webhook_receiver.py --port 8765 --secret "$MLOPS_WEBHOOK_SECRET" [--fail-first N]

Point the server at it with `MLOPS_WEBHOOK_URL=http://127.0.0.1:8765/` and the same
`MLOPS_WEBHOOK_SECRET`. It answers 401 to a request whose signature does not verify, 500 to the first N
requests (`--fail-first`, to watch the server retry), 200 to the others. Standard library only: copy
`verify` into your own receiver.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, TextIO

SIGNATURE_HEADER = "X-Mlops-Signature"
EVENT_HEADER = "X-Mlops-Event"
DELIVERY_HEADER = "X-Mlops-Delivery"
TOLERANCE_SECONDS = 300
"""A signature older (or newer) than this is refused: a captured request cannot be replayed later."""
MAX_BODY = 10 << 20


def verify(secret: str, body: bytes, header: str | None, now: float | None = None,
           tolerance: float = TOLERANCE_SECONDS) -> str | None:
    """Why the request is not authentic, or None when it is.

    `header` is `X-Mlops-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body, keyed with
    the secret>`. Check it over the raw body bytes, before parsing them, with a constant-time compare."""
    if not header:
        return f"no {SIGNATURE_HEADER} header"
    fields = dict(part.strip().split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return f"{SIGNATURE_HEADER} has no t=<unix seconds>"
    age = (time.time() if now is None else now) - timestamp
    if abs(age) > tolerance:
        return f"signed {age:.0f} s ago: more than {tolerance:g} s off"
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields.get("v1", "")):
        return "the signature does not match the body (wrong secret, or the body was changed)"
    return None


def summary(body: dict[str, Any]) -> str:
    """One line for an event: `alert.opened churn-classifier charges-drift: monthly_charges drifted ...`."""
    event, model, data = body.get("event", "?"), body.get("model"), body.get("data") or {}
    if event == "alert.resolved":  # the message is the opening one: say who resolved it and why
        why = data.get("note") or data.get("message")
        return f"{event} {model} {data.get('rule')} by {data.get('resolved_by')}: {why}"
    if event == "alert.acknowledged":
        return f"{event} {model} {data.get('rule')} by {data.get('acknowledged_by')}: {data.get('message')}"
    if event.startswith("alert."):
        return f"{event} {model} {data.get('rule')}: {data.get('message')}"
    if event == "alias.moved":
        return (f"{event} {model}@{data.get('alias')}: {data.get('from_version')} -> {data.get('to_version')} "
                f"({data.get('action')} by {data.get('actor')})")
    if event == "model.registered":
        return f"{event} {model}/{data.get('version')} by {data.get('actor')}"
    if event.startswith("retrain."):
        return (f"{event} {model}: {data.get('trigger')} {data.get('status')} version {data.get('version')} "
                f"{data.get('reason') or ''}").rstrip()
    about = f" {model}" if model else ""
    return f"{event}{about}: {data.get('message') or json.dumps(data)[:200]}"


@dataclass
class Received:
    """One request as the receiver saw it (tests read these)."""

    event: str | None
    delivery: str | None
    signature: str | None
    body: bytes
    answered: int
    problem: str | None
    at: float
    """`time.monotonic()` when it arrived."""


class Receiver(HTTPServer):
    """Serves one request at a time; keeps every request it saw in `received`."""

    def __init__(self, address: tuple[str, int], secret: str | None, fail_first: int = 0,
                 out: TextIO | None = None) -> None:
        super().__init__(address, Handler)
        self.secret = secret
        self.fail_first = fail_first
        self.out = out
        self.received: list[Received] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def answer(self, event: str | None, delivery: str | None, signature: str | None, body: bytes) -> int:
        """The status to answer with, after checking the signature and counting the failures asked for."""
        arrived = time.monotonic()
        problem = verify(self.secret, body, signature) if self.secret else None
        with self.lock:
            if problem:
                status, line = 401, f"rejected {event} delivery {delivery}: {problem}"
            elif self.fail_first > 0:
                self.fail_first -= 1
                status, line = 500, f"failing {event} delivery {delivery} on purpose ({self.fail_first} more to fail)"
            else:
                status, line = 200, self._line(body)
            self.received.append(Received(event, delivery, signature, body, status, problem, arrived))
        if self.out is not None:
            print(line, file=self.out, flush=True)
        return status

    @staticmethod
    def _line(body: bytes) -> str:
        try:
            return summary(json.loads(body))
        except (ValueError, AttributeError):
            return f"(a body that is not a JSON object: {body[:80]!r})"


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length)
        status = self.server.answer(self.headers.get(EVENT_HEADER), self.headers.get(DELIVERY_HEADER),
                                    self.headers.get(SIGNATURE_HEADER), body)
        content = json.dumps({"ok": status == 200}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:  # one line per event is printed instead
        return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Receive mlops-tui webhooks: verify, print one line per event.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--secret", default=os.environ.get("MLOPS_WEBHOOK_SECRET"),
                        help="The server's MLOPS_WEBHOOK_SECRET (default: that variable); without one, "
                             "unsigned bodies are accepted.")
    parser.add_argument("--fail-first", type=int, default=0, metavar="N", help="Answer 500 to the first N requests.")
    options = parser.parse_args(argv)
    receiver = Receiver((options.host, options.port), options.secret or None, options.fail_first, sys.stdout)
    signed = "checking signatures" if receiver.secret else "NOT checking signatures (no --secret)"
    print(f"listening on {receiver.url} ({signed})", flush=True)
    try:
        receiver.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        receiver.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
