"""The store's rows as MLflow's messages (`service.proto`: Experiment, RunInfo, RunData, Run).

MLflow's JSON carries int64 fields as numbers and maps as lists of `{"key", "value"}`."""
from __future__ import annotations

from typing import Any

from ..store.inputs import InputRow
from ..store.rows import ExperimentRow, RunRow

ARTIFACT_SCHEME = "mlflow-artifacts:"


def key_values(mapping: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": value} for key, value in mapping.items()]


def experiment_artifact_location(experiment_id: str) -> str:
    """Every experiment's files go through the artifact proxy, into the home's artifact folder."""
    return f"{ARTIFACT_SCHEME}/{experiment_id}"


def run_artifact_uri(experiment_id: str, run_id: str) -> str:
    """`mlflow-artifacts:/<experiment>/<run>`: through the proxy, the run's own artifact folder (the one
    the native API lists), so files logged either way are the same files."""
    return f"{experiment_artifact_location(experiment_id)}/{run_id}"


def experiment_json(row: ExperimentRow) -> dict[str, Any]:
    return {
        "experiment_id": str(row["id"]),
        "name": row["name"],
        "artifact_location": experiment_artifact_location(str(row["id"])),
        "lifecycle_stage": row["lifecycle_stage"],
        "creation_time": row["created_at"],
        "last_update_time": row["created_at"],
        "tags": key_values(row.get("tags") or {}),
    }


def run_info_json(row: RunRow) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_id": row["id"],
        "run_uuid": row["id"],
        "run_name": row["name"],
        "experiment_id": str(row["experiment_id"]),
        "user_id": row.get("user_id") or "",
        "status": row["status"],
        "start_time": row["start_time"],
        "artifact_uri": run_artifact_uri(str(row["experiment_id"]), row["id"]),
        "lifecycle_stage": row["lifecycle_stage"],
    }
    if row["end_time"] is not None:
        info["end_time"] = row["end_time"]
    return info


def run_data_json(row: RunRow) -> dict[str, Any]:
    """Latest metric values with their step and timestamp (needs `metric_stats`; else timestamp 0)."""
    stats = row.get("metric_stats") or {}
    metrics = [
        {"key": key, "value": value,
         "timestamp": stats[key]["timestamp"] if key in stats else 0,
         "step": stats[key]["step"] if key in stats else 0}
        for key, value in row["metrics"].items()
    ]
    return {"metrics": metrics, "params": key_values(row["params"]), "tags": key_values(row["tags"])}


def run_json(row: RunRow, inputs: dict[str, Any] | None = None,
             outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """A whole `Run`: info, data, and (when given) inputs (`dataset_inputs`) and outputs (`model_outputs`)."""
    run: dict[str, Any] = {"info": run_info_json(row), "data": run_data_json(row)}
    run["inputs"] = inputs if inputs is not None else {}
    if outputs is not None:
        run["outputs"] = outputs
    return run


def run_inputs_json(datasets: list[InputRow]) -> dict[str, Any]:
    """A run's `inputs`: `{"dataset_inputs": [{"tags": [...], "dataset": {name, digest, ...}}]}`."""
    if not datasets:
        return {}
    return {"dataset_inputs": [
        {"tags": key_values(d["tags"]),
         "dataset": {"name": d["name"], "digest": d["digest"], "source_type": d["source_type"],
                     "source": d["source"],
                     **{k: d[k] for k in ("schema", "profile") if d[k] is not None}}}  # type: ignore[literal-required]
        for d in datasets]}
