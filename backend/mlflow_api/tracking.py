"""MLflow's tracking API: experiments, runs, logging, metric histories (`service.proto`'s MlflowService).

Each route reads its MLflow message, calls the same tracking services as the native API and answers
in MLflow's shapes; a domain error becomes MLflow's `{"error_code", "message"}` (see `protocol`).
Fields the proto leaves at their default (an empty string, a zero) are not sent by the client, so
they default here too."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BeforeValidator, Field

from ..access import GuardedRoute
from ..deps import DB
from ..errors import Invalid
from ..responses import JSONBytes
from ..services import logged_models, mlflow_tracking, tracking
from ..services.mlflow_tracking import DEFAULT_MAX_RESULTS, View
from ..store import experiments
from ..store.inputs import InputRow
from ..store.rows import RunRow
from . import shapes
from .protocol import RESOURCE_DOES_NOT_EXIST, Int64, Message, MlflowError, Tag, answer, message, tag_map

PREFIX = "/api/2.0/mlflow"
router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=GuardedRoute)

VIEW_NUMBERS = {"1": "ACTIVE_ONLY", "2": "DELETED_ONLY", "3": "ALL"}


def _view(value: object) -> object:
    """`ViewType` as its name or its number (both are valid protobuf JSON)."""
    return VIEW_NUMBERS.get(str(value), value)


ViewType = Annotated[View, BeforeValidator(_view)]


class ExperimentRef(Message):
    experiment_id: str


class RunRef(Message):
    """The client sends `run_id` and, for older servers, `run_uuid`; either names the run."""

    run_id: str = ""
    run_uuid: str = ""

    @property
    def id(self) -> str:
        if not (self.run_id or self.run_uuid):
            raise Invalid("Missing value for required parameter 'run_id'", "run_id")
        return self.run_id or self.run_uuid


def ok() -> JSONBytes:
    return answer({})


# --- experiments -------------------------------------------------------------------------------


class GetExperimentByName(Message):
    experiment_name: str


@router.api_route("/experiments/get-by-name", methods=["GET"])
def get_experiment_by_name(db: DB, m: Annotated[GetExperimentByName, message(GetExperimentByName)]) -> JSONBytes:
    """`mlflow.set_experiment` creates the experiment when this answers RESOURCE_DOES_NOT_EXIST."""
    found = experiments.find(db, m.experiment_name)
    if found is None:
        raise MlflowError(f"Could not find experiment with name '{m.experiment_name}'", RESOURCE_DOES_NOT_EXIST)
    return answer({"experiment": shapes.experiment_json(tracking.get_experiment(db, str(found["id"])))})


class CreateExperiment(Message):
    name: str
    artifact_location: str = ""
    """Ignored: every experiment's files go through the artifact proxy (`mlflow-artifacts:/<id>`)."""
    tags: list[Tag] = []


@router.api_route("/experiments/create", methods=["POST"])
def create_experiment(db: DB, m: Annotated[CreateExperiment, message(CreateExperiment)]) -> JSONBytes:
    return answer({"experiment_id": tracking.create_experiment(db, m.name, tag_map(m.tags))["id"]})


def _experiment(db: DB, experiment_id: str) -> dict[str, Any]:
    if experiments.as_id(experiment_id) is None:  # an id, never a name, as MLflow
        raise MlflowError(f"No Experiment with id={experiment_id} exists", RESOURCE_DOES_NOT_EXIST)
    return shapes.experiment_json(tracking.get_experiment(db, experiment_id))


@router.api_route("/experiments/get", methods=["GET"])
def get_experiment(db: DB, m: Annotated[ExperimentRef, message(ExperimentRef)]) -> JSONBytes:
    return answer({"experiment": _experiment(db, m.experiment_id)})


class SearchExperiments(Message):
    max_results: Int64 = DEFAULT_MAX_RESULTS
    page_token: str = ""
    filter: str = ""
    order_by: list[str] = []
    view_type: ViewType = "ACTIVE_ONLY"


@router.api_route("/experiments/search", methods=["POST", "GET"])
def search_experiments(db: DB, m: Annotated[SearchExperiments, message(SearchExperiments)]) -> JSONBytes:
    found, token = mlflow_tracking.search_experiments(db, m.view_type, m.filter, m.order_by, m.max_results,
                                                      m.page_token)
    body: dict[str, Any] = {"experiments": [shapes.experiment_json(row) for row in found]}
    if token:
        body["next_page_token"] = token
    return answer(body)


class UpdateExperiment(ExperimentRef):
    new_name: str


@router.api_route("/experiments/update", methods=["POST"])
def update_experiment(db: DB, m: Annotated[UpdateExperiment, message(UpdateExperiment)]) -> JSONBytes:
    _experiment(db, m.experiment_id)
    tracking.rename_experiment(db, m.experiment_id, m.new_name)
    return ok()


@router.api_route("/experiments/delete", methods=["POST"])
def delete_experiment(db: DB, m: Annotated[ExperimentRef, message(ExperimentRef)]) -> JSONBytes:
    _experiment(db, m.experiment_id)
    tracking.delete_experiment(db, m.experiment_id)
    return ok()


@router.api_route("/experiments/restore", methods=["POST"])
def restore_experiment(db: DB, m: Annotated[ExperimentRef, message(ExperimentRef)]) -> JSONBytes:
    _experiment(db, m.experiment_id)
    tracking.restore_experiment(db, m.experiment_id)
    return ok()


class ExperimentTag(ExperimentRef):
    key: str
    value: str = ""


@router.api_route("/experiments/set-experiment-tag", methods=["POST"])
def set_experiment_tag(db: DB, m: Annotated[ExperimentTag, message(ExperimentTag)]) -> JSONBytes:
    _experiment(db, m.experiment_id)
    mlflow_tracking.set_experiment_tag(db, m.experiment_id, m.key, m.value)
    return ok()


@router.api_route("/experiments/delete-experiment-tag", methods=["POST"])
def delete_experiment_tag(db: DB, m: Annotated[ExperimentTag, message(ExperimentTag)]) -> JSONBytes:
    _experiment(db, m.experiment_id)
    mlflow_tracking.delete_experiment_tag(db, m.experiment_id, m.key)
    return ok()


# --- runs --------------------------------------------------------------------------------------


def _runs_json(db: DB, rows: list[RunRow]) -> list[dict[str, Any]]:
    datasets = mlflow_tracking.with_details(db, rows)
    outputs = logged_models.outputs_of(db, [row["id"] for row in rows])
    return [shapes.run_json(row, shapes.run_inputs_json(datasets.get(row["id"], [])),
                            {"model_outputs": outputs[row["id"]]} if row["id"] in outputs else None)
            for row in rows]


class CreateRun(Message):
    experiment_id: str = ""
    user_id: str = ""
    run_name: str = ""
    start_time: Int64 | None = None
    tags: list[Tag] = []


@router.api_route("/runs/create", methods=["POST"])
def create_run(db: DB, m: Annotated[CreateRun, message(CreateRun)]) -> JSONBytes:
    row = mlflow_tracking.create_run(db, m.experiment_id, m.user_id, m.run_name, m.start_time, tag_map(m.tags))
    return answer({"run": _runs_json(db, [row])[0]})


@router.api_route("/runs/get", methods=["GET"])
def get_run(db: DB, m: Annotated[RunRef, message(RunRef)]) -> JSONBytes:
    return answer({"run": _runs_json(db, [tracking.get_run(db, m.id)])[0]})


class UpdateRun(RunRef):
    status: str | None = None
    end_time: Int64 | None = None
    run_name: str = ""


@router.api_route("/runs/update", methods=["POST"])
def update_run(db: DB, m: Annotated[UpdateRun, message(UpdateRun)]) -> JSONBytes:
    row = tracking.update_run(db, m.id, m.status, m.end_time, m.run_name or None)
    return answer({"run_info": shapes.run_info_json(row)})


@router.api_route("/runs/delete", methods=["POST"])
def delete_run(db: DB, m: Annotated[RunRef, message(RunRef)]) -> JSONBytes:
    tracking.delete_run(db, m.id)
    return ok()


@router.api_route("/runs/restore", methods=["POST"])
def restore_run(db: DB, m: Annotated[RunRef, message(RunRef)]) -> JSONBytes:
    tracking.restore_run(db, m.id)
    return ok()


class SearchRuns(Message):
    experiment_ids: list[str] = []
    filter: str = ""
    run_view_type: ViewType = "ACTIVE_ONLY"
    max_results: Int64 = DEFAULT_MAX_RESULTS
    order_by: list[str] = []
    page_token: str = ""


@router.api_route("/runs/search", methods=["POST", "GET"])
def search_runs(db: DB, m: Annotated[SearchRuns, message(SearchRuns)]) -> JSONBytes:
    found, token = mlflow_tracking.search_runs(db, m.experiment_ids, m.filter or None, m.run_view_type,
                                               m.max_results, m.order_by or None, m.page_token or None)
    body: dict[str, Any] = {"runs": _runs_json(db, found)}
    if token:
        body["next_page_token"] = token
    return answer(body)


# --- logging -----------------------------------------------------------------------------------


class MetricIn(Message):
    key: str
    value: float
    timestamp: Int64
    step: Int64 = 0


class LogMetric(RunRef, MetricIn):
    pass


@router.api_route("/runs/log-metric", methods=["POST"])
def log_metric(db: DB, m: Annotated[LogMetric, message(LogMetric)]) -> JSONBytes:
    mlflow_tracking.log_batch(db, m.id, [(m.key, m.value, m.timestamp, m.step)], [], [])
    return ok()


class RunKeyValue(RunRef, Tag):
    pass


@router.api_route("/runs/log-parameter", methods=["POST"])
def log_param(db: DB, m: Annotated[RunKeyValue, message(RunKeyValue)]) -> JSONBytes:
    mlflow_tracking.log_batch(db, m.id, [], [(m.key, m.value)], [])
    return ok()


@router.api_route("/runs/set-tag", methods=["POST"])
def set_tag(db: DB, m: Annotated[RunKeyValue, message(RunKeyValue)]) -> JSONBytes:
    mlflow_tracking.log_batch(db, m.id, [], [], [(m.key, m.value)])
    return ok()


class DeleteTag(RunRef):
    key: str


@router.api_route("/runs/delete-tag", methods=["POST"])
def delete_tag(db: DB, m: Annotated[DeleteTag, message(DeleteTag)]) -> JSONBytes:
    tracking.delete_tag(db, m.id, m.key)
    return ok()


class LogBatch(RunRef):
    metrics: list[MetricIn] = []
    params: list[Tag] = []
    tags: list[Tag] = []


@router.api_route("/runs/log-batch", methods=["POST"])
def log_batch(db: DB, m: Annotated[LogBatch, message(LogBatch)]) -> JSONBytes:
    mlflow_tracking.log_batch(db, m.id, [(p.key, p.value, p.timestamp, p.step) for p in m.metrics],
                              [(p.key, p.value) for p in m.params], [(t.key, t.value) for t in m.tags])
    return ok()


class DatasetIn(Message):
    name: str
    digest: str
    source_type: str = ""
    source: str = ""
    schema_: str | None = Field(None, alias="schema")
    profile: str | None = None


class DatasetInputIn(Message):
    tags: list[Tag] = []
    dataset: DatasetIn


class LogInputs(RunRef):
    datasets: list[DatasetInputIn] = []


@router.api_route("/runs/log-inputs", methods=["POST"])
def log_inputs(db: DB, m: Annotated[LogInputs, message(LogInputs)]) -> JSONBytes:
    """Datasets a run used (`mlflow.log_input`); model inputs are not kept."""
    mlflow_tracking.log_inputs(db, m.id, [
        InputRow(name=d.dataset.name, digest=d.dataset.digest, source_type=d.dataset.source_type,
                 source=d.dataset.source, schema=d.dataset.schema_, profile=d.dataset.profile, tags=tag_map(d.tags))
        for d in m.datasets])
    return ok()


class LogModel(RunRef):
    model_json: str


@router.api_route("/runs/log-model", methods=["POST"])
def log_model(db: DB, m: Annotated[LogModel, message(LogModel)]) -> JSONBytes:
    mlflow_tracking.record_logged_model(db, m.id, m.model_json)
    return ok()


# --- metric histories --------------------------------------------------------------------------


class GetMetricHistory(RunRef):
    metric_key: str
    max_results: Int64 | None = None
    page_token: str = ""


@router.api_route("/metrics/get-history", methods=["GET"])
def get_metric_history(db: DB, m: Annotated[GetMetricHistory, message(GetMetricHistory)]) -> Response:
    """Every point of the metric, by step (100,000 points in one answer), or a page of `max_results`."""
    return Response(mlflow_tracking.metric_history_json(db, m.id, m.metric_key, m.max_results, m.page_token or None),
                    media_type="application/json")
