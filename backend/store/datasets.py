"""Dataset versions in SQL: datasets, their numbered versions (content-addressed by sha256) with the
schema and per-column statistics computed on upload, and the runs tagged with a version.

Files, data frames and refs (`name@N`) are the service's business (`backend.services.datasets`).
"""
from __future__ import annotations

import json
from typing import Any

from mlops_tui.contract import tags as tag

from ..clock import now_ms
from ..db import Database
from ..errors import NotFound
from .common import one, rows
from .rows import DatasetDetail, DatasetSummary, DatasetVersion, RunRow
from .runs import RUN_COLUMNS, attach_details

DATASET_TAG = tag.DATASET
MAX_RUNS = 1000

_VERSION_COLUMNS = ("d.name, v.version, v.sha256, v.format, v.filename, v.size_bytes, v.rows, v.schema_json, "
                    "v.created_at")
_VERSIONS = f"SELECT {_VERSION_COLUMNS} {{stats}} FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id "


def _version(row: dict[str, Any]) -> DatasetVersion:
    record: DatasetVersion = {
        "name": row["name"],
        "version": row["version"],
        "ref": f"{row['name']}@{row['version']}",
        "sha256": row["sha256"],
        "format": row["format"],
        "filename": row["filename"],
        "size_bytes": row["size_bytes"],
        "rows": row["rows"],
        "schema": json.loads(row["schema_json"]),
        "created_at": row["created_at"],
    }
    if row.get("stats_json") is not None:
        record["stats"] = json.loads(row["stats_json"])
    return record


# --- writing -----------------------------------------------------------------------------------


def insert_version(db: Database, name: str, sha256: str, fmt: str, filename: str, size_bytes: int, row_count: int,
                   schema: dict[str, str], stats: dict[str, Any]) -> tuple[int, bool]:
    """Store a version of `name` (created when new): `(version, created)`. The same sha256 under the
    same name is the version already stored (`created` False)."""
    with db.write() as conn:
        dataset_id = db.table("datasets").lookup({"name": name}, {"created_at": now_ms()})
        found = conn.execute("SELECT version FROM dataset_versions WHERE dataset_id = ? AND sha256 = ?",
                             (dataset_id, sha256)).fetchone()
        if found is not None:
            return int(found[0]), False
        version = int(conn.execute("SELECT coalesce(max(version), 0) + 1 FROM dataset_versions WHERE dataset_id = ?",
                                   (dataset_id,)).fetchone()[0])
        db.table("dataset_versions").insert({
            "dataset_id": dataset_id, "version": version, "sha256": sha256, "format": fmt, "filename": filename,
            "size_bytes": size_bytes, "rows": row_count, "schema_json": json.dumps(schema),
            "stats_json": json.dumps(stats, allow_nan=False), "created_at": now_ms()})
    return version, True


def is_referenced(db: Database, sha256: str) -> bool:
    """Whether any version (of any dataset) is stored under this content address."""
    with db.read():
        return bool(db.table("dataset_versions").count_where("sha256 = ?", [sha256]))


# --- reading -----------------------------------------------------------------------------------


def find_by_sha(db: Database, name: str, sha256: str) -> DatasetVersion | None:
    with db.read() as conn:
        found = one(conn.execute(_VERSIONS.format(stats="") + "WHERE d.name = ? AND v.sha256 = ?", (name, sha256)))
    return _version(found) if found else None


def get_version(db: Database, name: str, version: int | None, with_stats: bool = True) -> DatasetVersion:
    """Version `version` of `name` (the latest when None); NotFound naming "dataset" when missing."""
    query = _VERSIONS.format(stats=", v.stats_json" if with_stats else "")
    with db.read() as conn:
        if version is None:
            found = one(conn.execute(query + "WHERE d.name = ? ORDER BY v.version DESC LIMIT 1", (name,)))
        else:
            found = one(conn.execute(query + "WHERE d.name = ? AND v.version = ?", (name, version)))
    if found is None:
        what = f"dataset {name!r}" if version is None else f"dataset version {name}@{version}"
        raise NotFound(f"{what} not found", "dataset")
    return _version(found)


_DATASETS = (
    "SELECT d.name, d.description, d.created_at, count(v.version) AS version_count, "
    "max(v.version) AS latest_version, "
    "(SELECT l.rows FROM dataset_versions l WHERE l.dataset_id = d.id ORDER BY l.version DESC LIMIT 1) "
    "AS latest_rows, max(v.created_at) AS updated_at "
    "FROM datasets d LEFT JOIN dataset_versions v ON v.dataset_id = d.id "
)


def list_datasets(db: Database) -> list[DatasetSummary]:
    """Every dataset with its version count and its latest version's number, rows and time."""
    with db.read() as conn:
        return rows(conn.execute(_DATASETS + "GROUP BY d.id ORDER BY d.name"))  # type: ignore[return-value]


def get_dataset(db: Database, name: str) -> DatasetDetail:
    """The dataset with its versions (newest first, without stats)."""
    with db.read() as conn:
        found = one(conn.execute(_DATASETS + "WHERE d.name = ? GROUP BY d.id", (name,)))
    if found is None:
        raise NotFound(f"dataset {name!r} not found", "dataset")
    return {**found, "versions": list_versions(db, name)}  # type: ignore[typeddict-item]


def list_versions(db: Database, name: str) -> list[DatasetVersion]:
    """The versions of `name`, newest first, without stats; NotFound naming "dataset" when unknown."""
    with db.read() as conn:
        if not db.table("datasets").count_where("name = ?", [name]):
            raise NotFound(f"dataset {name!r} not found", "dataset")
        found = rows(conn.execute(_VERSIONS.format(stats="") + "WHERE d.name = ? ORDER BY v.version DESC", (name,)))
    return [_version(row) for row in found]


def runs_for_version(db: Database, ref: str) -> list[RunRow]:
    """Active runs tagged `mlops.dataset = ref`, newest first (the lineage data -> runs)."""
    with db.read() as conn:
        found = rows(conn.execute(
            f"SELECT {RUN_COLUMNS} FROM tags t JOIN runs r ON r.id = t.run_id "
            "WHERE t.key = ? AND t.value = ? AND r.lifecycle_stage = 'active' "
            "ORDER BY r.start_time DESC LIMIT ?", (DATASET_TAG, ref, MAX_RUNS)))
        attach_details(conn, found)
    return found  # type: ignore[return-value]
