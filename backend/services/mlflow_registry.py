"""The registry as MLflow's API changes it: the same models, versions, aliases and audit trail as the
native registry (`services.registry`), with what MLflow adds: models created before any version,
versions registered from an MLflow model folder, tags, and aliases removed.

An MLflow version (`model_format = 'mlflow'`) is an MLmodel folder the client uploaded through the
artifact proxy. Its `model_path` is the folder relative to the home's artifact root (so
`get-download-uri` is `mlflow-artifacts:/<model_path>`), its `sha256` and `size_bytes` a digest of the
folder's files (`artifacts.tree_digest`): the integrity check native versions have. The backend never
loads one (MLflow models are pickles): serving refuses it, the gates cannot score it.

Alias moves go through the native path: compare-and-set, an audit event, the served alias table told.
A native version's move is a native promotion (its gates; an approval or protected policy opens a
request rather than moving). An MLflow version moves only in a model without a `[promote]` policy:
the gates could not score it, so a policy could never pass.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from mlops_tui.contract import MAX_TAG_VALUE
from mlops_tui.contract.registry import MAX_DESCRIPTION, PromoteCreate, PromoteOutcome, parse_model_ref

from .. import artifacts
from ..db import Database
from ..errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from ..serving import aliases as served_aliases
from ..settings import Settings
from ..store import artifact_owners
from ..store import registry as store
from ..store.rows import VersionRow
from ..validation import check_key, check_text
from . import gates, logged_models, registry
from . import registry_search as search

MODELS_LIMIT = 1000
VERSIONS_LIMIT = 200_000
SOURCES = "runs:/<run_id>/<path>, models:/<logged model id>, models:/NAME/VERSION or mlflow-artifacts:/<path>"


@dataclass(frozen=True)
class Source:
    """Where a version's files are: `model_path` under the home's artifact root."""

    model_path: str
    run_id: str
    logged_model_id: str | None


def resolve_source(db: Database, settings: Settings, source: str, run_id: str, model_id: str | None) -> Source:
    """The folder (or file) `source` names inside the home's artifact root; `Invalid` naming `source` for
    any other place, a path that leaves the root, or one that holds no files."""
    scheme, _, rest = source.partition(":")
    if scheme == "models" and rest.startswith("/"):
        where = _models_source(db, source, rest.strip("/"), run_id, model_id)
    elif scheme == "runs" and rest.startswith("/"):
        run_part, _, path = rest.strip("/").partition("/")
        owner = artifact_owners.run(db, run_part)
        if owner is None:
            raise Invalid(f"source {source!r}: no run {run_part!r} in this backend", "source")
        where = Source(f"{owner.experiment_id}/{run_part}/{path}".rstrip("/"), run_id or run_part, model_id)
    elif scheme == "mlflow-artifacts":
        where = Source(urlparse(source).path.strip("/"), run_id, model_id)
    else:
        raise Invalid(f"source {source!r} is not in this backend's artifact store (use {SOURCES})", "source")
    if not where.model_path:
        raise Invalid(f"source {source!r} names no folder", "source")
    root = settings.artifacts_root.resolve()
    try:
        folder = artifacts.resolve_inside(root, where.model_path, "source")
    except Invalid:
        raise Invalid(f"source {source!r} leaves this backend's artifact store", "source") from None
    if folder == root:
        raise Invalid(f"source {source!r} names the whole artifact store, not a model's folder", "source")
    if not folder.exists():
        raise Invalid(f"source {source!r} holds no files in this backend's artifact store", "source")
    return Source(folder.relative_to(root).as_posix(), where.run_id, where.logged_model_id or None)


def _models_source(db: Database, source: str, ref: str, run_id: str, model_id: str | None) -> Source:
    """`models:/<logged model id>` (MLflow 3's `log_model`), or `models:/NAME/VERSION` and
    `models:/NAME@ALIAS` (`copy_model_version`: the same files, registered again)."""
    if "/" not in ref and "@" not in ref:
        try:
            found = logged_models.get(db, ref)
        except NotFound:
            raise Invalid(f"source {source!r}: no logged model {ref!r} in this backend", "source") from None
        return Source(logged_models.folder_of(found), run_id or found["source_run_id"] or "", ref)
    try:
        name, version = parse_model_ref(ref)
        held = registry.alias_version(db, name, version) if isinstance(version, str) else version
        copied = store.get_version(db, name, held) if held is not None else None
    except (ValueError, DomainError):
        copied = None
    if copied is None or not gates.is_mlflow(copied):
        raise Invalid(f"source {source!r}: not an MLflow-format version of this registry (a native version is "
                      "registered again from its run: `mlops models register`)", "source")
    return Source(copied["model_path"], run_id or copied["run_id"], model_id or copied.get("logged_model_id"))


def create_version(db: Database, settings: Settings, name: str, source: str, actor: str, *, run_id: str = "",
                   model_id: str | None = None, description: str = "", tags: dict[str, str] | None = None
                   ) -> VersionRow:
    """Register an MLflow model folder as the model's next version, READY at once (the files are
    already in the artifact store). The model must exist (MLflow's clients create it first)."""
    store.get_model(db, registry.check_name(name))
    tags, _ = checked(tags, description)
    where = resolve_source(db, settings, source, run_id, model_id)
    size, sha256 = artifacts.tree_digest(artifacts.resolve_inside(settings.artifacts_root, where.model_path))
    fields = {"run_id": where.run_id, "model_path": where.model_path, "sha256": sha256, "size_bytes": size,
              "model_format": gates.MLFLOW_FORMAT, "source": source, "logged_model_id": where.logged_model_id,
              "description": description, "tags_json": json.dumps(tags), "metrics_json": "{}",
              "signature_json": "{}"}
    return registry.insert(db, name, fields, actor)


def checked(tags: dict[str, str] | None, description: str | None) -> tuple[dict[str, str], str | None]:
    """Tags and a description within the store's limits (`Invalid` naming the tag or `description`)."""
    for key, value in (tags or {}).items():
        check_text(value, MAX_TAG_VALUE, f"tags.{check_key(key, 'key')}")
    return tags or {}, None if description is None else check_text(description, MAX_DESCRIPTION, "description")


def create_model(db: Database, name: str, description: str, tags: dict[str, str]) -> None:
    tags, _ = checked(tags, description)
    store.create_model(db, registry.check_name(name), description, tags)


def update_model(db: Database, name: str, *, description: str | None = None, set_tags: dict[str, str] | None = None,
                 delete_tag: str | None = None) -> None:
    checked(set_tags, description)
    store.update_model(db, registry.check_name(name), description=description, set_tags=set_tags,
                       delete_tag=delete_tag)


def rename_model(db: Database, name: str, new_name: str) -> None:
    """Only a model without audit events (see `store.registry.rename_model`)."""
    store.rename_model(db, registry.check_name(name), registry.check_name(new_name, "new_name"))


def update_version(db: Database, name: str, version: int, *, description: str | None = None,
                   set_tags: dict[str, str] | None = None, delete_tag: str | None = None) -> VersionRow:
    checked(set_tags, description)
    return store.update_version(db, registry.check_name(name), version, description=description,
                                set_tags=set_tags, delete_tag=delete_tag)


def get_model(db: Database, name: str) -> dict[str, Any]:
    """The model as MLflow shows it (tags, aliases, latest versions)."""
    found = store.registered(db, registry.check_name(name))
    if not found:
        store.get_model(db, name)  # NotFound naming the model
    return found[0]


def get_version(db: Database, name: str, version: int) -> VersionRow:
    return store.get_version(db, registry.check_name(name), version)


def version_aliases(db: Database) -> dict[tuple[str, int], list[str]]:
    return store.all_aliases(db)


# --- aliases -----------------------------------------------------------------------------------


def set_alias(db: Database, settings: Settings, name: str, alias: str, version: int, actor: str) -> None:
    """Point `alias` at `version` through the native path (see the module's docstring). Setting it where
    it points already changes nothing, as in MLflow."""
    registry.check_alias(alias)
    candidate = store.get_version(db, registry.check_name(name), version)
    holder = store.alias_holder(db, name, alias)
    current = holder["version"] if holder else None
    if current == version:
        return
    if not gates.is_mlflow(candidate):
        _promote(db, settings, name, alias, version, current, actor)
        return
    governed = registry.policy_version(db, name)
    if governed is not None:
        raise Invalid(f"{name}@{alias}: {name} has a [promote] policy (from version {governed}) and "
                      f"{gates.not_loaded(candidate)}, so its gates cannot pass; point the alias at a "
                      "native version (`mlops models promote`)", "version")
    problem = gates.integrity_problem(settings, candidate)
    if problem is not None:
        raise Conflict(problem, "version")
    registry.move(db, name, alias, version, actor, expected_version=current, reason="set through the MLflow API")


def _promote(db: Database, settings: Settings, name: str, alias: str, version: int, current: int | None,
             actor: str) -> None:
    body = PromoteCreate(version=version, alias=alias, expected_version=current, reason="set through the MLflow API")
    result = registry.promote_version(db, settings, name, body, actor)
    if result["outcome"] == PromoteOutcome.GATES_FAILED:
        failed = "; ".join(f"{gate.name}: {gate.detail}" for gate in result["report"].failed)
        raise Invalid(f"{name}@{alias} -> version {version}: promotion gates failed ({failed}); "
                      f"nothing moved (`mlops models promote {name}/{version} --alias {alias} --force "
                      "--reason ...` overrides them)", "version")
    if result["outcome"] == PromoteOutcome.AWAITING_APPROVAL:
        raise Forbidden(f"{name}@{alias} moves only with approval: request {result['request']['id']} is "
                        f"waiting (`mlops models approve {result['request']['id']}`); nothing moved yet", "alias")


def delete_alias(db: Database, settings: Settings, name: str, alias: str, actor: str) -> None:
    """Remove `alias` (an audit event), refused for an alias its policy protects or puts behind approval."""
    _refuse_if_guarded(db, name, registry.check_alias(alias))
    store.unset_alias(db, registry.check_name(name), alias, actor)
    served_aliases.moved(db, name, alias, None)


def _refuse_if_guarded(db: Database, name: str, alias: str) -> None:
    holder = store.alias_holder(db, registry.check_name(name), alias)
    if holder is None:
        return
    if registry.alias_policy(store.get_version(db, name, holder["version"]), alias).needs_request:
        raise Forbidden(f"{name}@{alias} is protected by its [promote] policy (approval): it is not removed "
                        "through the MLflow API", "alias")


def delete_model(db: Database, name: str, actor: str) -> None:
    """Delete the model, its versions and aliases (its audit events stay), unless an alias is guarded."""
    for alias in store.alias_map(db, registry.check_name(name)):
        _refuse_if_guarded(db, name, alias)
    for alias in store.delete_model(db, name, actor):
        served_aliases.moved(db, name, alias, None)


# --- search ------------------------------------------------------------------------------------


def model_item(model: dict[str, Any]) -> dict[str, Any]:
    return {**model, "creation_timestamp": model["created_at"], "last_updated_timestamp": model["updated_at"]}


def version_item(version: VersionRow) -> dict[str, Any]:
    return {**version, "version_number": version["version"], "source_path": version.get("source") or "",
            "creation_timestamp": version["created_at"], "last_updated_timestamp": version["created_at"]}


def search_models(db: Database, filter_text: str | None, order_by: list[str], max_results: int,
                  page_token: str | None) -> tuple[list[dict[str, Any]], str | None]:
    conditions = search.parse_filter(filter_text, search.MODELS)
    keys = search.parse_order_by(order_by, search.MODELS)
    items = [model_item(model) for model in store.registered(db)]
    return _found(items, conditions, keys, max_results, MODELS_LIMIT, page_token)


def search_versions(db: Database, filter_text: str | None, order_by: list[str], max_results: int,
                    page_token: str | None) -> tuple[list[dict[str, Any]], str | None]:
    conditions = search.parse_filter(filter_text, search.VERSIONS)
    keys = search.parse_order_by(order_by or ["last_updated_timestamp DESC", "name ASC", "version_number DESC"],
                                 search.VERSIONS)
    named = [c.value for c in conditions if c.kind == "attribute" and c.key == "name" and c.op == "="]
    items = [version_item(version) for version in store.all_versions(db, named[0] if len(named) == 1 else None)]
    return _found(items, conditions, keys, max_results, VERSIONS_LIMIT, page_token)


def _found(items: list[dict[str, Any]], conditions: list[search.Condition], keys: list[tuple[str, bool]],
           max_results: int, limit: int, page_token: str | None) -> tuple[list[dict[str, Any]], str | None]:
    wanted = [item for item in items if search.matches(item, conditions)]
    if not search.wants_prompts(conditions):
        wanted = [item for item in wanted if not search.is_prompt(item)]
    return search.page(search.ordered(wanted, keys), max_results, limit, page_token)
