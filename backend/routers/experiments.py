"""Experiments: `/api/v1/experiments`."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mlops_tui.contract import Experiment, ExperimentCreate, ExperimentKeys, ExperimentList, ExperimentUpdate

from ..deps import DB
from ..openapi import ContractRoute, errors
from ..services import tracking

router = APIRouter(prefix="/api/v1/experiments", tags=["experiments"], route_class=ContractRoute)


@router.get("", response_model=ExperimentList, responses=errors(422))
def list_experiments(db: DB, include_deleted: bool = False) -> dict[str, Any]:
    return {"experiments": tracking.list_experiments(db, include_deleted)}


@router.post("", status_code=201, response_model=Experiment, responses=errors(409, 422))
def create_experiment(body: ExperimentCreate, db: DB) -> dict[str, Any]:
    return dict(tracking.create_experiment(db, body.name, body.tags))


@router.get("/{ref}", response_model=Experiment, responses=errors(404))
def get_experiment(ref: str, db: DB) -> dict[str, Any]:
    """An experiment by id or by name."""
    return dict(tracking.get_experiment(db, ref))


@router.patch("/{ref}", response_model=Experiment, responses=errors(404, 409, 422))
def rename_experiment(ref: str, body: ExperimentUpdate, db: DB) -> dict[str, Any]:
    return dict(tracking.rename_experiment(db, ref, body.name))


@router.delete("/{ref}", response_model=Experiment, responses=errors(404, 409))
def delete_experiment(ref: str, db: DB) -> dict[str, Any]:
    """Soft delete: the experiment and its runs are hidden, and can be restored."""
    return dict(tracking.delete_experiment(db, ref))


@router.post("/{ref}/restore", response_model=Experiment, responses=errors(404, 409))
def restore_experiment(ref: str, db: DB) -> dict[str, Any]:
    return dict(tracking.restore_experiment(db, ref))


@router.get("/{ref}/keys", response_model=ExperimentKeys, responses=errors(404))
def experiment_keys(ref: str, db: DB) -> dict[str, Any]:
    """Param, metric and tag keys used by the experiment's latest 1,000 runs; `counts` says how many
    of those runs (`runs`) have each key."""
    return tracking.experiment_keys(db, ref)
