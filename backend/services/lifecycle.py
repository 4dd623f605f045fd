"""A model's lifecycle configuration: what the pipeline file of its latest registered version says about
its life after training (`[[monitor.alerts]]`, `[retrain]`, `[notify]`).

The latest version's file is the model's current one: `mlops pipeline run` (or a retrain) registers a
new version with the file it ran, and its rules apply from then on, even when that version is refused
by the gates. A pipeline stored before these tables existed, or one that no longer parses, has none.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from mlops_tui.contract.alerts import AlertRule, NotifyConfig
from mlops_tui.contract.retrain import RetrainPolicy

from ..db import Database
from ..store import registry as registry_store


@dataclass(frozen=True)
class ModelLifecycle:
    name: str
    version: int
    """The version whose pipeline file this comes from."""
    alerts: list[AlertRule] = field(default_factory=list)
    retrain: RetrainPolicy | None = None
    notify: NotifyConfig | None = None
    pipeline: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    """Tables of the stored file that did not parse (left out, named here)."""


def of_pipeline(name: str, version: int, pipeline: dict[str, Any] | None) -> ModelLifecycle:
    """Parse the lifecycle tables of a stored pipeline (each table on its own: a bad one is skipped)."""
    pipeline = pipeline if isinstance(pipeline, dict) else {}
    problems: list[str] = []
    monitor = pipeline.get("monitor") or {}
    alerts: list[AlertRule] = []
    for index, raw in enumerate(monitor.get("alerts") or [] if isinstance(monitor, dict) else []):
        try:
            alerts.append(AlertRule.model_validate(raw))
        except ValidationError as error:
            problems.append(f"monitor.alerts[{index}]: {error.errors()[0]['msg']}")
    retrain = _table(pipeline, "retrain", RetrainPolicy, problems)
    notify = _table(pipeline, "notify", NotifyConfig, problems)
    return ModelLifecycle(name, version, alerts, retrain, notify, pipeline or None, problems)


def _table(pipeline: dict[str, Any], key: str, model: Any, problems: list[str]) -> Any:
    raw = pipeline.get(key)
    if raw is None:
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        problems.append(f"{key}: {error.errors()[0]['msg']}")
        return None


def of_model(db: Database, name: str) -> ModelLifecycle | None:
    """The model's lifecycle (None when it has no version yet)."""
    found = registry_store.latest_pipelines(db, name)
    return of_pipeline(*found[0]) if found else None


def all_models(db: Database) -> list[ModelLifecycle]:
    """Every model's lifecycle (a model without versions has none)."""
    return [of_pipeline(*found) for found in registry_store.latest_pipelines(db)]
