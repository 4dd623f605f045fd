"""Who may call what: every route's role, in one table, and the check that enforces it.

Deny by default: a route missing from `ROLE_OF` answers 403 to everyone (admins included), and
`tests/test_roles.py` walks every route of the app and fails on one that is missing, so a new route
cannot ship open by mistake. Keys are the method and the route's path template, as declared.

- `PUBLIC`: answered without a token (only `/healthz`, which load balancers probe);
- `VIEWER`: reads (searching included: MLflow searches by POST);
- `OPERATOR`: logging runs, uploading, training, predicting, feedback, acknowledging alerts;
- `ADMIN`: promoting and rolling back, approving, deleting and restoring, webhooks and tokens.
"""
from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from mlops_tui.contract.auth import Role

from .errors import Forbidden
from .services.tokens import Principal

PUBLIC = None
VIEWER = Role.viewer
OPERATOR = Role.operator
ADMIN = Role.admin

ROLE_OF: dict[str, Role | None] = {
    "GET /healthz": PUBLIC,
    "GET /api/v1/experiments": VIEWER,
    "POST /api/v1/experiments": OPERATOR,
    "GET /api/v1/experiments/{ref}": VIEWER,
    "PATCH /api/v1/experiments/{ref}": OPERATOR,
    "DELETE /api/v1/experiments/{ref}": ADMIN,
    "POST /api/v1/experiments/{ref}/restore": ADMIN,
    "GET /api/v1/experiments/{ref}/keys": VIEWER,
    "POST /api/v1/runs": OPERATOR,
    "POST /api/v1/runs/search": VIEWER,
    "POST /api/v1/runs/count": VIEWER,
    "GET /api/v1/runs/{run_id}": VIEWER,
    "PATCH /api/v1/runs/{run_id}": OPERATOR,
    "DELETE /api/v1/runs/{run_id}": ADMIN,
    "POST /api/v1/runs/{run_id}/restore": ADMIN,
    "GET /api/v1/runs/{run_id}/children": VIEWER,
    "POST /api/v1/runs/{run_id}/batch": OPERATOR,
    "DELETE /api/v1/runs/{run_id}/tags/{key:path}": OPERATOR,
    "GET /api/v1/runs/{run_id}/metrics": VIEWER,
    "GET /api/v1/runs/{run_id}/metrics/{key:path}": VIEWER,
    "POST /api/v1/runs/{run_id}/heartbeat": OPERATOR,
    "GET /api/v1/runs/{run_id}/artifacts": VIEWER,
    "PUT /api/v1/runs/{run_id}/artifacts/{path:path}": OPERATOR,
    "GET /api/v1/runs/{run_id}/artifacts/{path:path}": VIEWER,
    "POST /api/v1/jobs": OPERATOR,
    "GET /api/v1/jobs": VIEWER,
    "GET /api/v1/jobs/{job_id}": VIEWER,
    "GET /api/v1/jobs/{job_id}/logs": VIEWER,
    "POST /api/v1/jobs/{job_id}/cancel": OPERATOR,
    "POST /api/v1/jobs/{job_id}/retry": OPERATOR,
    "POST /api/v1/datasets/{name:path}/versions": OPERATOR,
    "GET /api/v1/datasets": VIEWER,
    "GET /api/v1/datasets/{name}": VIEWER,
    "GET /api/v1/datasets/{name}/versions/{version}": VIEWER,
    "GET /api/v1/datasets/{name}/versions/{version}/runs": VIEWER,
    "GET /api/v1/datasets/{name}/diff": VIEWER,
    "POST /api/v1/data/schema": OPERATOR,
    "GET /api/v1/models": VIEWER,
    "GET /api/v1/models/{name}": VIEWER,
    "POST /api/v1/models/{name}/versions": OPERATOR,
    "GET /api/v1/models/{name}/versions/{version}": VIEWER,
    "DELETE /api/v1/models/{name}/versions/{version}": ADMIN,
    "POST /api/v1/models/{name}/versions/{version}/archive": ADMIN,
    "GET /api/v1/models/{name}/aliases/{alias}": VIEWER,
    "POST /api/v1/models/{name}/gates": VIEWER,
    "POST /api/v1/models/{name}/promote": ADMIN,
    "POST /api/v1/models/{name}/rollback": ADMIN,
    "GET /api/v1/models/{name}/policy": VIEWER,
    "GET /api/v1/models/{name}/events": VIEWER,
    "GET /api/v1/models/{name}/verify": VIEWER,
    "GET /api/v1/models/{name}/requests": VIEWER,
    "POST /api/v1/models/{name}/requests/{request_id}/approve": ADMIN,
    "POST /api/v1/models/{name}/requests/{request_id}/reject": ADMIN,
    "POST /api/v1/models/{name}/aliases/{alias}/predict": OPERATOR,
    "POST /api/v1/models/{name}/versions/{version}/predict": OPERATOR,
    "GET /api/v1/models/{name}/versions/{version}/model": VIEWER,
    "POST /api/v1/monitoring/records": OPERATOR,
    "POST /api/v1/models/{name}/feedback": OPERATOR,
    "GET /api/v1/models/{name}/monitor": VIEWER,
    "GET /api/v1/monitoring/health": VIEWER,
    "GET /metrics": VIEWER,
    "GET /api/v1/alerts": VIEWER,
    "GET /api/v1/alerts/summary": VIEWER,
    "GET /api/v1/alerts/{alert_id}": VIEWER,
    "POST /api/v1/alerts/{alert_id}/ack": OPERATOR,
    "POST /api/v1/alerts/{alert_id}/resolve": OPERATOR,
    "GET /api/v1/models/{name}/shadow": VIEWER,
    "GET /api/v1/webhooks/deliveries": VIEWER,
    "POST /api/v1/webhooks/test": ADMIN,
    "POST /api/v1/models/{name}/retrain": OPERATOR,
    "GET /api/v1/models/{name}/retrains": VIEWER,
    "GET /api/v1/models/{name}/retrains/{retrain_id}": VIEWER,
    "GET /api/v1/models/{name}/lifecycle": VIEWER,
    "POST /api/v1/import/runs": OPERATOR,
    "POST /api/v1/import/models": OPERATOR,
    "GET /api/v1/auth/whoami": VIEWER,
    "GET /api/v1/auth/tokens": ADMIN,
    "POST /api/v1/auth/tokens": ADMIN,
    "DELETE /api/v1/auth/tokens/{token_id}": ADMIN,
    "GET /api/v1/server/backup": ADMIN,  # a copy of everything stored (durability part)
    # MLflow's REST API
    "GET /api/2.0/mlflow/experiments/get-by-name": VIEWER,
    "POST /api/2.0/mlflow/experiments/create": OPERATOR,
    "GET /api/2.0/mlflow/experiments/get": VIEWER,
    "GET /api/2.0/mlflow/experiments/search": VIEWER,
    "POST /api/2.0/mlflow/experiments/search": VIEWER,
    "POST /api/2.0/mlflow/experiments/update": OPERATOR,
    "POST /api/2.0/mlflow/experiments/delete": ADMIN,
    "POST /api/2.0/mlflow/experiments/restore": ADMIN,
    "POST /api/2.0/mlflow/experiments/set-experiment-tag": OPERATOR,
    "POST /api/2.0/mlflow/experiments/delete-experiment-tag": OPERATOR,
    "POST /api/2.0/mlflow/runs/create": OPERATOR,
    "GET /api/2.0/mlflow/runs/get": VIEWER,
    "POST /api/2.0/mlflow/runs/update": OPERATOR,
    "POST /api/2.0/mlflow/runs/delete": ADMIN,
    "POST /api/2.0/mlflow/runs/restore": ADMIN,
    "GET /api/2.0/mlflow/runs/search": VIEWER,
    "POST /api/2.0/mlflow/runs/search": VIEWER,
    "POST /api/2.0/mlflow/runs/log-metric": OPERATOR,
    "POST /api/2.0/mlflow/runs/log-parameter": OPERATOR,
    "POST /api/2.0/mlflow/runs/set-tag": OPERATOR,
    "POST /api/2.0/mlflow/runs/delete-tag": OPERATOR,
    "POST /api/2.0/mlflow/runs/log-batch": OPERATOR,
    "POST /api/2.0/mlflow/runs/log-inputs": OPERATOR,
    "POST /api/2.0/mlflow/runs/log-model": OPERATOR,
    "GET /api/2.0/mlflow/metrics/get-history": VIEWER,
    "POST /api/2.0/mlflow/registered-models/create": OPERATOR,
    "GET /api/2.0/mlflow/registered-models/get": VIEWER,
    "GET /api/2.0/mlflow/registered-models/search": VIEWER,
    "POST /api/2.0/mlflow/registered-models/rename": OPERATOR,
    "PATCH /api/2.0/mlflow/registered-models/update": OPERATOR,
    "DELETE /api/2.0/mlflow/registered-models/delete": ADMIN,
    "POST /api/2.0/mlflow/registered-models/set-tag": OPERATOR,
    "DELETE /api/2.0/mlflow/registered-models/delete-tag": OPERATOR,
    "GET /api/2.0/mlflow/registered-models/get-latest-versions": VIEWER,
    "POST /api/2.0/mlflow/registered-models/get-latest-versions": VIEWER,
    "POST /api/2.0/mlflow/registered-models/alias": ADMIN,
    "DELETE /api/2.0/mlflow/registered-models/alias": ADMIN,
    "GET /api/2.0/mlflow/registered-models/alias": VIEWER,
    "POST /api/2.0/mlflow/model-versions/create": OPERATOR,
    "GET /api/2.0/mlflow/model-versions/get": VIEWER,
    "GET /api/2.0/mlflow/model-versions/search": VIEWER,
    "PATCH /api/2.0/mlflow/model-versions/update": OPERATOR,
    "DELETE /api/2.0/mlflow/model-versions/delete": ADMIN,
    "GET /api/2.0/mlflow/model-versions/get-download-uri": VIEWER,
    "POST /api/2.0/mlflow/model-versions/set-tag": OPERATOR,
    "DELETE /api/2.0/mlflow/model-versions/delete-tag": OPERATOR,
    "POST /api/2.0/mlflow/model-versions/transition-stage": ADMIN,
    "GET /api/2.0/mlflow-artifacts/artifacts": VIEWER,
    "PUT /api/2.0/mlflow-artifacts/artifacts/{path:path}": OPERATOR,
    "GET /api/2.0/mlflow-artifacts/artifacts/{path:path}": VIEWER,
    "DELETE /api/2.0/mlflow-artifacts/artifacts/{path:path}": ADMIN,
    "GET /api/2.0/mlflow/artifacts/list": VIEWER,
    "POST /api/2.0/mlflow-artifacts/mpu/{action}/{path:path}": OPERATOR,
    "POST /api/2.0/mlflow/logged-models": OPERATOR,
    "GET /api/2.0/mlflow/logged-models/search": VIEWER,
    "POST /api/2.0/mlflow/logged-models/search": VIEWER,
    "GET /api/2.0/mlflow/logged-models/{model_id}": VIEWER,
    "PATCH /api/2.0/mlflow/logged-models/{model_id}": OPERATOR,
    "DELETE /api/2.0/mlflow/logged-models/{model_id}": ADMIN,
    "PATCH /api/2.0/mlflow/logged-models/{model_id}/tags": OPERATOR,
    "DELETE /api/2.0/mlflow/logged-models/{model_id}/tags/{tag_key:path}": OPERATOR,
    "POST /api/2.0/mlflow/logged-models/{model_id}/params": OPERATOR,
    "POST /api/2.0/mlflow/runs/outputs": OPERATOR,
}
"""`"METHOD /path/template"` -> the least role that may call it (None: public)."""


def principal_of(request: Request) -> Principal | None:
    """Who the request acts as (set by `backend.auth.Authenticate`); None on a public path with auth on."""
    found = request.scope.get("state", {}).get("principal")
    return found if isinstance(found, Principal) else None


def authorize(request: Request, path_template: str) -> None:
    """Refuse the request (403) unless its principal's role allows the route's."""
    key = f"{request.method} {path_template}"
    if key not in ROLE_OF:
        raise Forbidden(f"{key} declares no role, so no one may call it", "authorization")
    needed = ROLE_OF[key]
    if needed is None:
        return
    principal = principal_of(request)
    if principal is None:
        raise Forbidden(f"{key} needs a token with the {needed} role", "authorization")
    if not principal.role.allows(needed):
        raise Forbidden(f"{principal.name} is {principal.role.value}: this needs the {needed.value} role",
                        "authorization")


class GuardedRoute(APIRoute):
    """A route that checks its caller's role before it reads the body or runs its dependencies."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            authorize(request, self.path)
            return await handler(request)

        return guarded
