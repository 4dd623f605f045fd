"""`GET /api/v1/models/{name}/shadow`: the champion and its shadow side by side on the same live requests.
A plain `def` route: it reads SQLite in the threadpool."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request

from mlops_tui.contract.registry import ALIAS_RULE
from mlops_tui.contract.retrain import ShadowComparison

from ..deps import DB
from ..openapi import ContractRoute, errors
from ..services import shadow
from .monitoring import ModelName

router = APIRouter(tags=["monitoring"], route_class=ContractRoute)


@router.get("/api/v1/models/{name}/shadow", response_model=ShadowComparison, responses=errors(404, 422))
def shadow_comparison(name: ModelName, db: DB, request: Request,
                      alias: str = Query("production", json_schema_extra={"pattern": ALIAS_RULE},
                                         description="The alias whose requests are shadowed.")) -> ShadowComparison:
    """Since the shadow started: rows both predicted, agreement, each side's latency p50/p95, errors,
    estimated and (once labels arrive) actual performance, and the verdict under the model's `[retrain]`
    policy. 404 naming `alias` when no shadow runs there."""
    found = shadow.comparison(db, name, alias)
    found.dropped = request.app.state.serving.shadows.dropped
    return found
