"""What a client sees of a failure the server did not expect, and what the server log keeps of it.

An unexpected exception answers 500 with `{"detail": "internal error", "code": "internal", "id": ID}`
(MLflow paths: `{"error_code": "INTERNAL_ERROR", "message": "internal error (id ID)"}`): no path, no
exception text, no stack trace, which could tell a caller about the machine or echo a secret back. The
full traceback goes to the `mlops.errors` log with the same id, so an operator finds it from the
answer a user pastes. Logs never show a bearer token: `Redacting` wraps every log handler's formatter.
"""
from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .mlflow_api.protocol import is_mlflow_path
from .responses import send_json

log = logging.getLogger("mlops.errors")

INTERNAL_ERROR = "INTERNAL_ERROR"


def error_id() -> str:
    """A short random id tying an answer to its log line."""
    return secrets.token_hex(6)


def internal_body(path: str, ident: str) -> dict[str, str]:
    """The 500 body, in the shape of the API the path belongs to."""
    if is_mlflow_path(path):
        return {"error_code": INTERNAL_ERROR, "message": f"internal error (id {ident})"}
    return {"detail": "internal error", "code": "internal", "id": ident}


class InternalErrors:
    """Outermost of the app's own middleware: an exception no handler answered becomes the generic 500
    (once the answer has started, the connection is only closed) and is logged with its id. It is not
    re-raised, so uvicorn does not log it a second time without the id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:  # noqa: BLE001 - the one place every unexpected failure ends
            ident = error_id()
            client = (scope.get("client") or ("-",))[0]
            log.exception("internal error id=%s %s %s from %s", ident, scope["method"], scope["path"], client)
            if not started:
                await send_json(send, 500, internal_body(scope["path"], ident))


BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")
REDACTED = "[redacted]"


def redact(text: str, secrets_: Iterable[str] = ()) -> str:
    """`text` with every bearer token and each of `secrets_` replaced by `[redacted]`."""
    for secret in secrets_:
        if secret:
            text = text.replace(secret, REDACTED)
    return BEARER.sub(lambda match: match.group(1) + REDACTED, text)


class Redacting(logging.Formatter):
    """Wraps a handler's formatter: the finished line (message, exception and traceback) is redacted."""

    def __init__(self, inner: logging.Formatter | None, secrets_: tuple[str, ...]) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.secrets = secrets_

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record), self.secrets)


def configure_logging(secrets_: tuple[str, ...]) -> None:
    """Send log records to stderr (the server log) when nothing else does, and make sure no handler of the
    root or uvicorn's loggers writes a secret: call after uvicorn configured its own logging."""
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            if not isinstance(handler.formatter, Redacting):
                handler.setFormatter(Redacting(handler.formatter, secrets_))
