"""Imports from another tracker: batches of whole runs checked here and upserted by `store.imports`.

A batch holding a key, name or value this store cannot hold is refused whole (422 naming it), as every
write is; the importer leaves such runs out before sending (`contract.imports.run_problem`) and reports
them. Conflicts with what is stored (a run id in another experiment, a param with another value) are
answered in `refused`, and the rest of the batch is stored.
"""
from __future__ import annotations

from typing import Any

from mlops_tui.contract import MAX_PARAM_VALUE, MAX_TAG_VALUE, RunStatus
from mlops_tui.contract.imports import MAX_IMPORT_POINTS, ImportedRun, ImportedVersion, ModelImport, RunImport

from ..db import Database
from ..errors import DomainError, Invalid, NotFound, TooLarge
from ..settings import Settings
from ..store import imports
from ..store import registry as registry_store
from ..validation import check_key, check_name, check_text
from . import mlflow_registry, registry
from .gates import MLFLOW_FORMAT

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


# --- registered models -------------------------------------------------------------------------


def import_models(db: Database, settings: Settings, body: ModelImport, actor: str) -> dict[str, Any]:
    """Models by name (created when missing, with their description and tags), versions under their own
    numbers (as MLflow-format versions, READY), aliases where this store has none yet. What clashes with
    what is here is left as it is here and listed in `refused`."""
    answer: dict[str, Any] = {"models_new": 0, "versions_new": 0, "aliases_new": 0, "refused": []}
    for i, model in enumerate(body.models):  # every rule first: a batch that breaks one stores nothing
        _tags(model.tags, f"models[{i}].tags")
        for j, version in enumerate(model.versions):
            _tags(version.tags, f"models[{i}].versions[{j}].tags")
    for model in body.models:
        name = registry.check_name(model.name)
        try:
            registry_store.get_model(db, name)
        except NotFound:
            mlflow_registry.create_model(db, name, model.description, model.tags)
            answer["models_new"] += 1
        for version in sorted(model.versions, key=lambda v: v.version):
            refusal = _import_version(db, settings, name, version, actor)
            if refusal is None:
                answer["versions_new"] += 1
            elif refusal:
                answer["refused"].append({"model": name, "version": version.version, **refusal})
        for alias, number in sorted(model.aliases.items()):
            refusal = _import_alias(db, settings, name, alias, number, actor)
            if refusal is None:
                answer["aliases_new"] += 1
            elif refusal:
                answer["refused"].append({"model": name, "version": number, **refusal})
    return answer


Refusal = dict[str, Any] | None
"""None: imported; `{}`: already here; else `{"field", "message"}`: left out, and why."""


def _import_version(db: Database, settings: Settings, name: str, version: ImportedVersion, actor: str) -> Refusal:
    held = {v["version"]: v for v in registry_store.list_versions(db, name)}
    here = held.get(version.version)
    if here is not None:
        if here.get("model_format") == MLFLOW_FORMAT and here.get("source") == version.source:
            return {}
        origin = here.get("source") or here["run_id"]
        return {"field": "version", "message": f"{name} version {version.version} here is another model "
                                                f"({here.get('model_format')}, from {origin}); left as it is"}
    latest = int(registry_store.get_model(db, name)["latest_version"])
    if version.version <= latest:
        return {"field": "version", "message": f"{name} version {version.version} was deleted here (the latest is "
                                                f"{latest}); not made again"}
    imports.reserve_versions(db, name, version.version - 1)
    try:
        made = mlflow_registry.create_version(db, settings, name, version.source, actor, run_id=version.run_id,
                                              description=version.description, tags=version.tags)
    except DomainError as error:
        return {"field": error.field or "source", "message": error.message}
    if made["version"] != version.version:  # registered meanwhile by someone else
        return {"field": "version", "message": f"stored as version {made['version']}: version {version.version} "
                                                "was taken while importing"}
    return None


def _import_alias(db: Database, settings: Settings, name: str, alias: str, number: int, actor: str) -> Refusal:
    holder = registry_store.alias_holder(db, name, alias)
    if holder is not None:
        if holder["version"] == number:
            return {}
        return {"field": f"aliases.{alias}", "message": f"{name}@{alias} is version {holder['version']} here "
                                                       f"(version {number} at the source); left as it is"}
    try:
        mlflow_registry.set_alias(db, settings, name, alias, number, actor)
    except DomainError as error:
        return {"field": f"aliases.{alias}", "message": error.message}
    return None
