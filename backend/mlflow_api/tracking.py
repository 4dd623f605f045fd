"""MLflow's tracking API: experiments, runs, logging, metric histories (`service.proto`'s MlflowService).

Each route reads its MLflow message, calls the same tracking services as the native API and answers
in MLflow's shapes; a domain error becomes MLflow's `{"error_code", "message"}` (see `protocol`)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from ..deps import DB
from ..responses import JSONBytes
from ..services import tracking
from ..store import experiments
from . import shapes
from .protocol import RESOURCE_DOES_NOT_EXIST, Message, MlflowError, answer, message

PREFIX = "/api/2.0/mlflow"
router = APIRouter(prefix=PREFIX, include_in_schema=False)


class GetExperimentByName(Message):
    experiment_name: str


@router.api_route("/experiments/get-by-name", methods=["GET"])
def get_experiment_by_name(db: DB, m: Annotated[GetExperimentByName, message(GetExperimentByName)]) -> JSONBytes:
    """`mlflow.set_experiment` creates the experiment when this answers RESOURCE_DOES_NOT_EXIST."""
    found = experiments.find(db, m.experiment_name)
    if found is None:
        raise MlflowError(f"Could not find experiment with name '{m.experiment_name}'", RESOURCE_DOES_NOT_EXIST)
    return answer({"experiment": shapes.experiment_json(tracking.get_experiment(db, str(found["id"])))})
