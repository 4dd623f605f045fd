"""`create_app(settings)`: the FastAPI application, one per home folder."""
from __future__ import annotations

import hmac
import os
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlops_tui.contract import InvalidText, not_unicode_message
from mlops_tui.contract.defaults import PidFile
from mlops_tui.contract.fields import dotted_path

from . import __version__, faults
from .auth import Authenticate
from .automation.controller import Controller
from .automation.wiring import install as install_automation
from .db import Database
from .errors import Conflict, DomainError, Forbidden, Invalid, NotFound, TooLarge, TooMany
from .forwarded import ForwardedHeaders
from .guards import CrossSiteGuard, HostCheck, add_cors, allowed_hosts, routes_matching
from .internal_errors import InternalErrors
from .jobs.manager import JobManager
from .limits import Limits
from .mlflow_api import artifacts as mlflow_artifacts
from .mlflow_api import logged_models as mlflow_logged_models
from .mlflow_api import protocol as mlflow
from .mlflow_api import registry as mlflow_registry
from .mlflow_api import tracking as mlflow_tracking
from .monitoring.recorder import Recorder
from .monitoring.summaries import DriftSummaries
from .openapi import describe
from .responses import JSONBytes, send_json
from .routers import (
    alerts,
    approvals,
    artifacts,
    auth,
    datasets,
    experiments,
    health,
    heartbeats,
    imports,
    jobs,
    maintenance,
    models,
    monitoring,
    predict,
    retrain,
    runs,
    shadow,
    webhooks,
)
from .services.serving import Serving
from .services.tokens import TokenRegistry
from .settings import Settings
from .store.experiments import ensure_default
from .sweeper import HeartbeatSweeper


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        manager = JobManager(settings, app.state.db, settings.max_running_jobs) if settings.run_jobs else None
        if manager is not None:
            manager.start()
        sweeper = HeartbeatSweeper(app.state.db, settings.heartbeat_timeout_seconds)
        sweeper.start()
        app.state.recorder.start()
        app.state.serving.start()
        if settings.automation:
            app.state.controller.start()
        yield
        app.state.stopping.set()
        app.state.controller.stop()
        app.state.serving.stop()
        app.state.recorder.stop()
        sweeper.stop()
        if manager is not None:
            manager.stop()
        app.state.db.close()
        _remove_pid_file(settings.pid_file)

    app = FastAPI(
        title="mlops-tui backend",
        version=__version__,
        description="Tracking, training, registry, serving and monitoring for mlops-tui.",
        lifespan=lifespan,
    )
    settings.home.mkdir(parents=True, exist_ok=True)
    app.state.settings = settings
    app.state.db = Database(settings.db_path, settings.synchronous)
    app.state.tokens = TokenRegistry(app.state.db, settings.token)
    app.state.recorder = Recorder.for_settings(app.state.db, settings)
    app.state.recorder.writers.append(DriftSummaries())
    app.state.serving = Serving(app.state.db, settings, app.state.recorder)
    app.state.controller = Controller(settings.control_interval_seconds)
    install_automation(app.state.controller, settings, app.state.db, app.state.recorder)
    app.state.stopping = threading.Event()
    """Set when the server is asked to stop (`backend.server`), so long polls answer instead of holding it."""
    ensure_default(app.state.db)

    app.add_exception_handler(DomainError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidText, _invalid_text)  # type: ignore[arg-type]
    app.add_exception_handler(mlflow.MlflowError, _mlflow_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    faults.install(app)  # a full disk: 507 (durability part)
    app.openapi = lambda: describe(app)  # type: ignore[method-assign]
    for router in (health.router, experiments.router, runs.router, heartbeats.router, artifacts.router, jobs.router,
                   datasets.router, models.router, approvals.router, predict.router, monitoring.router,
                   alerts.router, shadow.router, webhooks.router):
        app.include_router(router)
    app.include_router(retrain.router)
    app.include_router(imports.router)
    app.include_router(maintenance.router)  # backups (durability part)
    app.include_router(auth.router)
    for router in (mlflow_tracking.router, mlflow_registry.router, mlflow_artifacts.router,
                   mlflow_logged_models.router):
        app.include_router(router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(CrossSiteGuard, router=app.router)
    app.add_middleware(Authenticate, tokens=app.state.tokens, required=settings.auth_required)
    add_cors(app, settings.cors_origins)  # outside auth: a preflight carries no token
    app.add_middleware(HostCheck, allowed=allowed_hosts(settings.bind_host, settings.allowed_hosts))
    app.add_middleware(Limits, max_concurrency=settings.max_concurrency,
                       request_timeout=settings.request_timeout_seconds)
    app.add_middleware(ForwardedHeaders, trusted=settings.trusted_proxies)
    app.add_middleware(InternalErrors)
    return app


def _remove_pid_file(path: Path | None) -> None:
    """Remove the pid file while it is still this process's."""
    if path is None:
        return
    entry = PidFile.load(path)
    if entry is not None and entry.pid == os.getpid():
        path.unlink(missing_ok=True)


ERROR_STATUS: dict[type[DomainError], tuple[int, str]] = {
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    Forbidden: (403, "forbidden"),
    Invalid: (422, "invalid"),
    TooLarge: (413, "too_large"),
    TooMany: (429, "too_many"),
}
"""Each domain error's HTTP status and `code`: the one place errors meet HTTP."""


def error_status(error: DomainError) -> tuple[int, str]:
    """The status code and `code` word for `error` (its nearest mapped class; 400 otherwise)."""
    for kind in type(error).__mro__:
        if kind in ERROR_STATUS:
            return ERROR_STATUS[kind]
    return 400, "bad_request"


def error_body(error: DomainError) -> tuple[int, dict[str, str | None]]:
    """`(status, {"detail", "field", "code"})`: how every domain error is answered."""
    status, code = error_status(error)
    return status, {"detail": error.message, "field": error.field, "code": code}


async def _domain_error(request: Request, error: DomainError) -> JSONBytes:
    if mlflow.is_mlflow_path(request.url.path):
        return mlflow.domain_error_response(error)
    status, body = error_body(error)
    retry = {"Retry-After": str(error.retry_after)} if isinstance(error, TooMany) else None
    return JSONBytes(body, status_code=status, headers=retry)


async def _mlflow_error(request: Request, error: mlflow.MlflowError) -> JSONBytes:
    return mlflow.error_response(error.code, error.message)


async def _invalid_text(request: Request, error: InvalidText) -> JSONBytes:
    """A request body's text the contract refused (e.g. a lone surrogate): answered as `Invalid`."""
    return await _domain_error(request, Invalid(error.message, error.field))


_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 408: "timeout"}


async def _http_error(request: Request, error: HTTPException) -> JSONBytes:
    """Starlette's own errors (no route, wrong method, an unreadable body) in the one error shape."""
    if mlflow.is_mlflow_path(request.url.path):
        code = mlflow.ENDPOINT_NOT_FOUND if error.status_code in (404, 405) else mlflow.BAD_REQUEST
        return mlflow.error_response(code, f"{request.method} {request.url.path}: {error.detail}")
    if isinstance(error.__cause__, UnicodeDecodeError):
        return JSONBytes({"detail": "body is not UTF-8 text", "field": "body", "code": "invalid"}, status_code=422)
    field = "body" if error.status_code in (400, 408) else None
    headers = error.headers
    if error.status_code == 405:
        headers = {**(headers or {}), "Allow": allowed_methods(request)}
    return JSONBytes({"detail": str(error.detail), "field": field,
                      "code": _HTTP_CODES.get(error.status_code, "http_error")},
                     status_code=error.status_code, headers=headers)


def allowed_methods(request: Request) -> str:
    """Every method of the path the request matched (Starlette's 405 names only one route's): the routes
    declared with the same path as the first that matches (`/runs/count` is not also `/runs/{run_id}`)."""
    matching = [route for _, route in routes_matching(request.app.router.routes, request.scope)]
    paths = [getattr(route, "path", None) for route in matching]
    methods = {method for route, path in zip(matching, paths, strict=True) if path == paths[0]
               for method in getattr(route, "methods", None) or ()}
    return ", ".join(sorted(methods))


def field_name(loc: Sequence[int | str]) -> str:
    """('body', 'metrics', 3, 'value') -> 'metrics[3].value'."""
    return dotted_path(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc) or "body"


async def _validation_error(request: Request, error: RequestValidationError) -> JSONBytes:
    problems = error.errors()
    first: dict[str, Any] = problems[0] if problems else {"loc": ("body",), "msg": "invalid request"}
    field = field_name(first.get("loc", ("body",)))
    if mlflow.is_mlflow_path(request.url.path):
        return mlflow.error_response(mlflow.INVALID_PARAMETER_VALUE, f"Invalid value for parameter '{field}': "
                                     f"{first['msg']}")
    if first.get("type") == "json_invalid":
        message = f"body is not valid JSON: {first.get('ctx', {}).get('error', first['msg'])}"
        field = "body"
    elif first.get("type") == "string_pattern_mismatch":
        message = f"{field} may hold only letters, digits, '_', '-', '.', ' ', ':' and '/'"
    elif first.get("type") == "string_unicode":  # a constrained str field met a lone surrogate first
        message = not_unicode_message(field)
    elif first.get("type") == "missing":
        message = f"{field} is required"
    else:
        message = f"{field}: {first['msg']}"
    details = [{"field": field_name(p.get("loc", ())), "message": p["msg"]} for p in problems[:20]]
    return JSONBytes({"detail": message, "field": field, "code": "invalid", "errors": details},
                     status_code=422)


class BodyLimit:
    """Refuse bodies over `max_bytes` with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await send_json(send, *self.refusal(scope))
            return
        if declared is None and not _streams_its_body(scope):
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if size > self.max_bytes:
                    await send_json(send, *self.refusal(scope))
                    return
                if not message.get("more_body"):
                    break
            body = b"".join(chunks)
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise self.too_large()
            return message

        await self.app(scope, limited, send)

    def too_large(self) -> TooLarge:
        return TooLarge(f"body is larger than {self.max_bytes} bytes", "body")

    def refusal(self, scope: Scope) -> tuple[int, dict[str, Any]]:
        """413, in the error shape of the API the path belongs to (MLflow's on its paths)."""
        error = self.too_large()
        if mlflow.is_mlflow_path(scope.get("path", "")):
            return 413, {"error_code": mlflow.INVALID_PARAMETER_VALUE, "message": error.message}
        return error_body(error)


def _streams_its_body(scope: Scope) -> bool:
    """Uploads (artifacts, dataset files) stream to disk under their own size limit."""
    path = scope.get("path", "")
    return scope.get("method") == "PUT" or "/versions" in path or path.endswith("/data/schema")


class BearerAuth:
    """When a token is configured, every request but `/healthz` (and the `open_paths` given) needs
    `Authorization: Bearer <token>`."""

    def __init__(self, app: ASGIApp, token: str, open_paths: frozenset[str] = frozenset({"/healthz"})) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        if not hmac.compare_digest(given, self.expected):
            await send_json(send, 401, {"detail": "missing or wrong bearer token", "field": "authorization",
                                         "code": "unauthorized"})
            return
        await self.app(scope, receive, send)
