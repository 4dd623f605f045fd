"""The replica's application: the native predict route, MLflow's scoring protocol and the Open
Inference Protocol over one `Replica`, with the backend's guards (body size, `Host`, bearer token)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request

from .. import __version__
from ..app import BearerAuth, BodyLimit
from ..forwarded import ForwardedHeaders
from ..guards import HostCheck, allowed_hosts
from ..settings import Settings
from . import mlflow_scoring, native, oip
from .config import ReplicaConfig
from .service import Replica

PROBES = frozenset({"/healthz", "/ping", "/health", "/v2/health/live", "/v2/health/ready"})
"""Answered without the bearer token (load balancers and orchestrators probe them)."""


def create_replica_app(config: ReplicaConfig, replica: Replica | None = None) -> FastAPI:
    replica = replica or Replica(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(replica.start)
        yield
        await anyio.to_thread.run_sync(replica.stop)

    app = FastAPI(title=f"mlops-tui replica: {config.name}@{config.alias}", version=__version__,
                  description="Predictions from one model alias: the native route, MLflow's scoring protocol "
                              "and the Open Inference Protocol.", lifespan=lifespan)
    app.state.replica = replica
    for router in (native.router, mlflow_scoring.router, oip.router):
        app.include_router(router)
    app.get("/healthz")(healthz)
    settings = Settings(home=config.cache_dir, token=config.token)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if config.token:
        app.add_middleware(BearerAuth, token=config.token, open_paths=PROBES)
    app.add_middleware(HostCheck, allowed=allowed_hosts(config.host, settings.allowed_hosts))
    app.add_middleware(ForwardedHeaders, trusted=settings.trusted_proxies)
    return app


def healthz(request: Request) -> dict[str, Any]:
    """What this replica serves and how its shipping goes."""
    replica: Replica = request.app.state.replica
    current = replica.follower.current
    return {"status": "ok" if current is not None else "loading", "version": __version__,
            "model": replica.config.name, "alias": replica.config.alias,
            "model_version": None if current is None else current.version, "swaps": replica.follower.swaps,
            "backend": replica.config.backend_url, "records_sent": replica.shipper.sent,
            "records_buffered": replica.shipper.buffered, "records_dropped": replica.shipper.dropped_total}


def app_from_env() -> FastAPI:
    """uvicorn's factory (`--workers N`: each worker process builds its replica from the environment)."""
    return create_replica_app(ReplicaConfig.from_env())
