"""Every route of the app as `create_app` builds it, with its full path, methods and endpoint: FastAPI keeps
an included router nested, so the walk descends into it. The fuzz tests check that each route they find
is fuzzed by one of them or excluded with a reason."""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.routing import Route

from backend import Settings, create_app
from backend.mlflow_api import protocol


@dataclass(frozen=True)
class RouteInfo:
    path: str
    method: str
    endpoint: Callable[..., Any]
    in_schema: bool

    @property
    def is_mlflow(self) -> bool:
        return protocol.is_mlflow_path(self.path)


def _walk(routes: list[Any], prefix: str = "", in_schema: bool = True) -> Iterator[RouteInfo]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = route.include_context
            yield from _walk(included.routes, prefix + context.prefix,
                             in_schema and getattr(context, "include_in_schema", True) and included.include_in_schema)
        elif isinstance(route, Route):
            shown = in_schema and getattr(route, "include_in_schema", True)
            for method in sorted(route.methods or {"GET"}):
                if method != "HEAD":
                    yield RouteInfo(prefix + route.path, method, route.endpoint, shown)


def every_route() -> list[RouteInfo]:
    """(path, method, endpoint, in the OpenAPI document?) of each route of a fresh app (HEAD left out:
    Starlette adds it to each GET)."""
    with tempfile.TemporaryDirectory() as temp:
        app = create_app(Settings(home=Path(temp), token=None, run_jobs=False))
        app.state.db.close()
        return list(_walk(app.routes))
