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


class Flight:
    """A request in flight; `blocked_until` is set while it waits on its client (its body, or the client
    taking part of the answer): the moment the watcher gives up on it."""

    __slots__ = ("task", "blocked_until", "expired")

    def __init__(self) -> None:
        self.task = asyncio.current_task()
        self.blocked_until: float | None = None
        self.expired = False


class Limits:
    """The body deadline, the answer's send deadline and the concurrency limit (see the module).

    No timer per request: one watcher task (alive while requests are in flight) cancels every `tick`
    the requests blocked on their client past their deadline. A timer per read and per write cost more
    than all the rest of the middleware stack."""

    def __init__(self, app: ASGIApp, max_concurrency: int, request_timeout: float) -> None:
        self.app = app
        self.max_concurrency = max_concurrency
        self.request_timeout = request_timeout
        self.tick = min(1.0, request_timeout / 4)
        self.working = 0
        """Requests admitted and not waiting for their body (only touched on the event loop's thread)."""
        self.flights: set[Flight] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._watcher_loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counted = scope["path"] not in OPEN_PATHS
        if counted and self.working >= self.max_concurrency:
            await self.refuse(scope, send)
            return
        loop = asyncio.get_running_loop()
        body_deadline = loop.time() + self.request_timeout
        flight = Flight()
        body_done = False
        started = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            self.working -= counted
            flight.blocked_until = body_deadline
            try:
                message = await receive()
            except asyncio.CancelledError:
                if self.given_up(flight):
                    raise ClientTooSlow(self.request_timeout) from None
                raise
            finally:
                flight.blocked_until = None
                self.working += counted
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def timed_send(message: Message) -> None:
            nonlocal started
            if message["type"] != "http.response.body":  # only a body can wait on the client's reading
                started = True
                await send(message)
                return
            flight.blocked_until = loop.time() + self.request_timeout
            try:
                await send(message)
            except asyncio.CancelledError:
                if self.given_up(flight):
                    raise ReaderTooSlow(f"the answer was not taken within {self.request_timeout:g} s") from None
                raise
            finally:
                flight.blocked_until = None

        self.working += counted
        self.flights.add(flight)
        if self._watcher_loop is not loop or self._watcher is None or self._watcher.done():
            self._watcher_loop = loop
            self._watcher = loop.create_task(self._give_up_on_late_clients(loop))
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
            self.flights.discard(flight)

    @staticmethod
    def given_up(flight: Flight) -> bool:
        """Whether a cancellation came from the watcher (then it is taken back: the request answers)."""
        if flight.expired and flight.task is not None:
            flight.expired = False
            flight.task.uncancel()
            return True
        return False

    async def _give_up_on_late_clients(self, loop: asyncio.AbstractEventLoop) -> None:
        """Every `tick`: cancel the requests blocked on their client past their deadline; end when no
        request is in flight."""
        while self.flights:
            await asyncio.sleep(self.tick)
            now = loop.time()
            for flight in list(self.flights):
                if flight.blocked_until is not None and now >= flight.blocked_until and flight.task is not None:
                    flight.expired = True
                    flight.blocked_until = None
                    flight.task.cancel()

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
    between requests stays uvicorn's own `timeout_keep_alive`. One watcher per event loop (alive while
    there are connections) closes the late ones every `tick`, rather than a timer per request."""

    header_timeout = 10.0
    _headers_since: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._headers_since = self.loop.time()
        watch_headers(self.loop, self.connections, min(1.0, self.header_timeout / 4))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._headers_since is None:
            self._headers_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self._headers_since = None
        super().on_headers_complete()

    def late(self, now: float) -> bool:
        return self._headers_since is not None and now - self._headers_since >= self.header_timeout

    def headers_too_slow(self) -> None:
        self._headers_since = None
        if not self.transport.is_closing():
            body = JSONBytes({"detail": f"the request's headers did not arrive within {self.header_timeout:g} s "
                                        "(MLOPS_HEADER_TIMEOUT)", "field": None, "code": "timeout"}).body
            self.transport.write(REQUEST_TIMEOUT_ANSWER % (len(body), body))
            self.transport.close()


_header_watchers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}


def watch_headers(loop: asyncio.AbstractEventLoop, connections: set[Any], tick: float) -> None:
    """Start the loop's watcher of `connections` (uvicorn's set of them) unless it runs."""
    watcher = _header_watchers.get(loop)
    if watcher is None or watcher.done():
        _header_watchers[loop] = loop.create_task(_close_late_connections(loop, connections, tick))


async def _close_late_connections(loop: asyncio.AbstractEventLoop, connections: set[Any], tick: float) -> None:
    """Every `tick`: answer 408 to and close the connections late with their headers; end with the last."""
    while connections:
        await asyncio.sleep(tick)
        now = loop.time()
        for connection in list(connections):
            if isinstance(connection, HeaderDeadline) and connection.late(now):
                connection.headers_too_slow()
    _header_watchers.pop(loop, None)


def header_deadline(seconds: float) -> type[HeaderDeadline]:
    """The protocol class to hand uvicorn (`http=`), with this deadline."""
    return type("HeaderDeadline", (HeaderDeadline,), {"header_timeout": seconds})
