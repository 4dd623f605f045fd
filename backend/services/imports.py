"""Imports from another tracker: batches of whole runs checked here and upserted by `store.imports`.

A batch holding a key, name or value this store cannot hold is refused whole (422 naming it), as every
write is; the importer leaves such runs out before sending (`contract.imports.run_problem`) and reports
them. Conflicts with what is stored (a run id in another experiment, a param with another value) are
answered in `refused`, and the rest of the batch is stored.
"""
from __future__ import annotations

from typing import Any

from mlops_tui.contract import MAX_PARAM_VALUE, MAX_TAG_VALUE, RunStatus
from mlops_tui.contract.imports import MAX_IMPORT_POINTS, ImportedRun, RunImport

from ..db import Database
from ..errors import Invalid, TooLarge
from ..store import imports
from ..validation import check_key, check_name, check_text

PARENT_TAG = "mlflow.parentRunId"
"""MLflow's nested runs name their parent in this tag."""


def import_runs(db: Database, body: RunImport) -> dict[str, Any]:
    """Upsert the batch's experiments and runs in one transaction; answer what was new and what was left out."""
    points = sum(run.point_count() for run in body.runs)
    if points > MAX_IMPORT_POINTS:
        raise TooLarge(f"at most {MAX_IMPORT_POINTS} metric points per import batch", "runs")
    experiments = [{"name": check_name(e.name, f"experiments[{i}].name"), "tags": _tags(e.tags, "tags"),
                    "lifecycle_stage": e.lifecycle_stage, "created_at": e.created_at}
                   for i, e in enumerate(body.experiments)]
    runs = []
    for index, run in enumerate(body.runs):
        try:
            runs.append(_run(run))
        except Invalid as error:
            field = f"runs[{index}].{error.field or 'id'}"
            raise Invalid(f"{field}: {error.message}", field) from None
    return imports.import_batch(db, experiments, runs)


def _run(run: ImportedRun) -> dict[str, Any]:
    """The run as the store's plain values, its keys and values checked as logged ones are."""
    series: dict[str, tuple[list[int], list[float], list[int]]] = {}
    for batch in run.series:
        check_key(batch.key, f"metrics.{batch.key}")
        steps, values, stamps = series.setdefault(batch.key, ([], [], []))
        steps += batch.steps
        values += batch.values
        stamps += batch.timestamps if batch.timestamps is not None else [run.start_time] * len(batch.values)
    tags = _tags(run.tags, "tags")
    if run.status not in tuple(RunStatus):
        raise Invalid(f"status must be one of {', '.join(RunStatus)}", "status")
    return {
        "id": run.id, "experiment": check_name(run.experiment, "experiment"), "name": check_name(run.name, "name"),
        "user_id": run.user_id, "status": run.status, "start_time": run.start_time, "end_time": run.end_time,
        "lifecycle_stage": run.lifecycle_stage, "parent_id": run.parent_id or tags.get(PARENT_TAG),
        "params": {check_key(k, f"params.{k}"): check_text(v, MAX_PARAM_VALUE, f"params.{k}")
                   for k, v in run.params.items()},
        "tags": tags,
        "series": series,
        "inputs": [i.model_dump() for i in run.inputs],
    }


def _tags(tags: dict[str, str], field: str) -> dict[str, str]:
    return {check_key(k, f"{field}.{k}"): check_text(v, MAX_TAG_VALUE, f"{field}.{k}") for k, v in tags.items()}
