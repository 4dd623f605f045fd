"""Slow or numerous clients must not starve the server.

- `HeaderDeadline` (uvicorn's HTTP protocol): a connection has `MLOPS_HEADER_TIMEOUT` to send a request's
  headers, from the moment it opens or starts the request; then 408 and the connection is closed
  (uvicorn alone waits for ever, so a few thousand silent sockets would hold every file descriptor).
- `Limits` (ASGI middleware): the body must be in within `MLOPS_REQUEST_TIMEOUT` of the request's start
  (408, connection closed), and each part of the answer must be taken within as long (else the
  connection is dropped: a client that stops reading a download). The server's own work is never cut
  short: a write stopped half-way would leave its outcome unknown; the long poll bounds itself.
- `Limits` also admits at most `MLOPS_MAX_CONCURRENCY` requests being worked on at once, and answers
  503 with `Retry-After` beyond it. A request waiting for its body is not working and does not count, so
  clients that dribble bytes take no place from others; `/healthz` never counts and always answers.
"""
from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .mlflow_api.protocol import is_mlflow_path
from .responses import JSONBytes

OPEN_PATHS = frozenset({"/healthz"})
RETRY_AFTER_SECONDS = 1


class ClientTooSlow(HTTPException):
    """The body did not arrive in time: 408, and the connection is closed (its rest is unread)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"the request's body did not arrive within {seconds:g} s (MLOPS_REQUEST_TIMEOUT)",
                         headers={"Connection": "close"})


class ReaderTooSlow(Exception):
    """The client did not take a part of the answer in time; the connection is dropped."""


def busy_body(path: str, limit: int) -> dict[str, Any]:
    message = f"the server is working on {limit} requests (MLOPS_MAX_CONCURRENCY): retry in a moment"
    if is_mlflow_path(path):
        return {"error_code": "TEMPORARILY_UNAVAILABLE", "message": message}
    return {"detail": message, "field": None, "code": "busy"}


class Limits:
    """The body deadline, the answer's send deadline and the concurrency limit (see the module)."""

    def __init__(self, app: ASGIApp, max_concurrency: int, request_timeout: float) -> None:
        self.app = app
        self.max_concurrency = max_concurrency
        self.request_timeout = request_timeout
        self.working = 0
        """Requests admitted and not waiting for their body (only touched on the event loop's thread)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counted = scope["path"] not in OPEN_PATHS
        if counted and self.working >= self.max_concurrency:
            await self.refuse(scope, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout
        body_done = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            self.working -= counted
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise ClientTooSlow(self.request_timeout) from None
            finally:
                self.working += counted
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        started = False

        async def timed_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            try:
                async with asyncio.timeout(self.request_timeout):
                    await send(message)
            except TimeoutError:
                raise ReaderTooSlow(f"the answer was not taken within {self.request_timeout:g} s") from None

        self.working += counted
        try:
            await self.app(scope, timed_receive, timed_send)
        except ClientTooSlow as error:  # raised before any route ran (`BodyLimit` reading a chunked body)
            if not started:
                await answer(scope, send, 408, {"detail": error.detail, "field": "body", "code": "timeout"},
                             error.headers or {})
        except ReaderTooSlow:
            pass  # uvicorn closes a connection whose answer did not complete
        finally:
            self.working -= counted

    async def refuse(self, scope: Scope, send: Send) -> None:
        await answer(scope, send, 503, busy_body(scope["path"], self.max_concurrency),
                     {"Retry-After": str(RETRY_AFTER_SECONDS)})


async def answer(scope: Scope, send: Send, status: int, body: dict[str, Any], headers: Mapping[str, str]) -> None:
    """A JSON answer with headers, from the middleware (no route ran)."""
    await JSONBytes(body, status_code=status, headers=headers)(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


REQUEST_TIMEOUT_ANSWER = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                          b"content-length: %d\r\n\r\n%s")


class HeaderDeadline(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on each request's headers (`header_timeout` seconds
    from the connection's start or the request's first byte); a keep-alive connection's idle wait
    between requests stays uvicorn's own `timeout_keep_alive`."""

    header_timeout = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            body = JSONBytes({"detail": f"the request's headers did not arrive within {self.header_timeout:g} s "
                                        "(MLOPS_HEADER_TIMEOUT)", "field": None, "code": "timeout"}).body
            self.transport.write(REQUEST_TIMEOUT_ANSWER % (len(body), body))
            self.transport.close()


def header_deadline(seconds: float) -> type[HeaderDeadline]:
    """The protocol class to hand uvicorn (`http=`), with this deadline."""
    return type("HeaderDeadline", (HeaderDeadline,), {"header_timeout": seconds})
