"""Refuse what a web page could make a browser send to a loopback server.

- `HostCheck`: DNS rebinding. A page on `evil.example` that re-points its name at 127.0.0.1 talks to
  this server with `Host: evil.example`; only the names of this server are answered (421 otherwise).
- `CrossSiteGuard`: a page may POST to any address without asking first (a "simple request") when the
  body is text/plain, a form or empty. So a body to a JSON route must be `application/json` (415
  otherwise), and an empty POST or a raw upload must carry `X-Mlops-Client` or the bearer token (403
  otherwise): a page can't set either header without a CORS preflight, which this server grants only to
  the origins an operator lists in `MLOPS_CORS_ORIGINS` (`add_cors`; none by default). Such an origin's
  pages are trusted like the CLI: they may send both headers, and need the token when auth is on.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Match, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from .responses import send_json

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
CLIENT_HEADER = "X-Mlops-Client"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_RAW_UPLOAD = re.compile(r"^/api/v1/(runs/[^/]+/artifacts/.*|datasets/.+/versions|data/schema)$")
_MLFLOW_UPLOAD = re.compile(r"^/api/2\.0/mlflow-artifacts/artifacts/.+$")
"""MLflow's artifact proxy takes a file's bytes by PUT, which the `mlflow` client sends with the file's
own content type and no header of ours. A page cannot send a PUT anywhere without a CORS preflight,
which this server never grants, so no header is needed to tell the client from a page."""
_CSV_BODY = re.compile(r"^/api/v1/models/[^/]+/(aliases|versions)/[^/]+/predict$")
"""Prediction routes take CSV too: `text/csv` is not a type a page may send without a CORS preflight."""


def host_name(host: str) -> str:
    """`Host` header value -> the lower-case name without the port; '' when it is malformed."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, port = host.partition("]")
        name += "]"
    else:
        name, _, port = host.partition(":")
        port = ":" + port if port else ""
    if port and not (port.startswith(":") and port[1:].isdigit()):
        return ""
    return name


def allowed_hosts(bind_host: str | None, extra: tuple[str, ...]) -> frozenset[str]:
    """Loopback names, the bind address (when it names one host) and the configured extra names."""
    names = set(LOOPBACK_HOSTS) | {name.strip().lower() for name in extra if name.strip()}
    if bind_host and bind_host not in ("0.0.0.0", "::"):
        names.add(f"[{bind_host.lower()}]" if ":" in bind_host else bind_host.lower())
    return frozenset(names)


class HostCheck:
    """Answer only requests whose `Host` names this server; `*` in the allowlist turns the check off."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "*" not in self.allowed:
            given = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if host_name(given) not in self.allowed:
                await send_json(send, 421, {
                    "detail": f"host {given[:100]!r} is not served here: add it to MLOPS_ALLOWED_HOSTS",
                    "field": "host", "code": "wrong_host"})
                return
        await self.app(scope, receive, send)


def routes_matching(routes: Iterable[BaseRoute], scope: Scope) -> Iterator[tuple[Match, BaseRoute]]:
    """Every route whose path (`Match.PARTIAL`) or path and method (`Match.FULL`) fits the request.
    FastAPI keeps an included router as one route holding its own; they are walked into."""
    for route in routes:
        nested = getattr(route, "effective_route_contexts", None)
        if nested is not None:
            yield from routes_matching(nested(), scope)
            continue
        match = route.matches(scope)[0]
        if match != Match.NONE:
            yield match, route


def is_raw_upload(method: str, path: str) -> bool:
    """Routes whose body is a file's bytes (artifacts, dataset versions, schema inference)."""
    return method in ("PUT", "POST") and _RAW_UPLOAD.match(path) is not None


class CrossSiteGuard:
    """JSON routes need a JSON body; empty POSTs and raw uploads need `X-Mlops-Client` or the token.
    A request no route answers (a method the path does not have) goes on to the router's 404/405."""

    def __init__(self, app: ASGIApp, router: Router | None = None) -> None:
        self.app = app
        self.router = router

    def _routed(self, scope: Scope) -> bool:
        if self.router is None:
            return True
        return any(match == Match.FULL for match, _ in routes_matching(self.router.routes, scope))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS or not self._routed(scope) or (
                scope["method"] == "PUT" and _MLFLOW_UPLOAD.match(scope["path"])):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        has_body = headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers
        raw = is_raw_upload(scope["method"], scope["path"])
        if has_body and not raw:
            media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            csv = media_type == b"text/csv" and _CSV_BODY.match(scope["path"]) is not None
            if media_type != b"application/json" and not media_type.endswith(b"+json") and not csv:
                wanted = "application/json or text/csv" if _CSV_BODY.match(scope["path"]) else "application/json"
                await send_json(send, 415, {"detail": f"content-type must be {wanted}",
                                            "field": "content-type", "code": "unsupported_media_type"})
                return
        elif (raw or scope["method"] == "POST") and not (
                CLIENT_HEADER.lower().encode() in headers or b"authorization" in headers):
            await send_json(send, 403, {
                "detail": f"this request needs the {CLIENT_HEADER} header (any value) or the bearer token",
                "field": CLIENT_HEADER.lower(), "code": "forbidden"})
            return
        await self.app(scope, receive, send)


CORS_HEADERS = ("Authorization", "Content-Type", CLIENT_HEADER)


def add_cors(app: Starlette, origins: tuple[str, ...]) -> None:
    """CORS only for the configured origins (`MLOPS_CORS_ORIGINS`); none: no `Access-Control-Allow-*`
    header on any answer, so a browser lets no page read an answer or send a preflighted request. A
    listed origin's pages may send the token and `X-Mlops-Client`, so they can do what its user may."""
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(origins), allow_methods=["GET", "POST", "PUT", "PATCH",
                           "DELETE"], allow_headers=list(CORS_HEADERS), max_age=600)
