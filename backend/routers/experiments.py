"""Experiments: `/api/v1/experiments`."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mlops_tui.contract import ExperimentCreate, ExperimentUpdate

from ..deps import DB
from ..store import experiments, search
from ..validation import check_key, check_name

router = APIRouter(prefix="/api/v1/experiments", tags=["experiments"])


@router.get("")
def list_experiments(db: DB, include_deleted: bool = False) -> dict[str, Any]:
    return {"experiments": experiments.list_all(db, include_deleted)}


@router.post("", status_code=201)
def create_experiment(body: ExperimentCreate, db: DB) -> dict[str, Any]:
    for key in body.tags:
        check_key(key, f"tags.{key}")
    return experiments.create(db, check_name(body.name, "name"), body.tags)


@router.get("/{ref}")
def get_experiment(ref: str, db: DB) -> dict[str, Any]:
    """An experiment by id or by name."""
    return experiments.get(db, ref)


@router.patch("/{ref}")
def rename_experiment(ref: str, body: ExperimentUpdate, db: DB) -> dict[str, Any]:
    return experiments.rename(db, ref, check_name(body.name, "name"))


@router.delete("/{ref}")
def delete_experiment(ref: str, db: DB) -> dict[str, Any]:
    """Soft delete: the experiment and its runs are hidden, and can be restored."""
    return experiments.delete(db, ref)


@router.post("/{ref}/restore")
def restore_experiment(ref: str, db: DB) -> dict[str, Any]:
    return experiments.restore(db, ref)


@router.get("/{ref}/keys")
def experiment_keys(ref: str, db: DB) -> dict[str, Any]:
    """Param, metric and tag keys used by the experiment's latest 1,000 runs; `counts` says how many
    of those runs (`runs`) have each key."""
    return search.keys_in_use(db, experiments.get(db, ref)["id"])
