"""The registry's rows as MLflow's messages (`model_registry.proto`: RegisteredModel, ModelVersion).

MLflow numbers versions with strings and has stages where this registry has a status: an archived
version is in stage `Archived`, every other in `None`; every version is `READY` (its files are in the
artifact store when it is registered)."""
from __future__ import annotations

from typing import Any

from mlops_tui.contract.registry import VersionStatus

from ..services import gates
from ..store.rows import VersionRow
from .shapes import ARTIFACT_SCHEME, key_values


def stage(version: VersionRow) -> str:
    return "Archived" if version["status"] == VersionStatus.ARCHIVED else "None"


def files_uri(version: VersionRow) -> str:
    """Where the client downloads the version's files, through the artifact proxy: an MLflow version's
    folder, or a native version's `model/` folder in its run's artifacts."""
    if gates.is_mlflow(version):
        return f"{ARTIFACT_SCHEME}/{version['model_path']}"
    folder = version["model_path"].rpartition("/")[0]
    return f"{ARTIFACT_SCHEME}/{version.get('experiment_id')}/{version['run_id']}" + (f"/{folder}" if folder else "")


def model_version_json(version: VersionRow, aliases: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": version["name"],
        "version": str(version["version"]),
        "creation_timestamp": version["created_at"],
        "last_updated_timestamp": version["created_at"],
        "user_id": version["created_by"],
        "current_stage": stage(version),
        "description": version["description"],
        "source": version.get("source") or files_uri(version),
        "run_id": version["run_id"],
        "status": "READY",
        "tags": key_values(version["tags"]),
        "aliases": aliases,
    }
    if version.get("logged_model_id"):
        found["model_id"] = version["logged_model_id"]
    return found


def registered_model_json(model: dict[str, Any]) -> dict[str, Any]:
    """`model` as `store.registry.registered` returns it (its aliases and latest versions with it)."""
    held: dict[int, list[str]] = {}
    for alias in model["aliases"]:
        held.setdefault(alias["version"], []).append(alias["alias"])
    return {
        "name": model["name"],
        "creation_timestamp": model["created_at"],
        "last_updated_timestamp": model["updated_at"],
        "description": model["description"],
        "latest_versions": [model_version_json(version, held.get(version["version"], []))
                            for version in model["latest_versions"]],
        "tags": key_values(model["tags"]),
        "aliases": [{"alias": alias["alias"], "version": str(alias["version"])} for alias in model["aliases"]],
    }
