"""Dataset versions: content-addressed files with their schema and per-column statistics.

A version's file lives at `<home>/datasets/<sha256>.<csv|parquet>`; the same bytes under the same
name are one version (adding them again answers the existing version with `created: False`).
Refs are `name` (the latest version) or `name@N`. Runs record the version they trained on in the
tag `mlops.dataset` (`name@N`), which is how lineage run -> data is found.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_tui.contract import tags as tag

from ..datasets import drift, io
from ..datasets.stats import column_stats, schema_of
from ..db import Database
from ..errors import Invalid, NotFound
from ..settings import Settings
from ..validation import check_name
from .common import now_ms, one, rows
from .runs import RUN_COLUMNS, attach_details

DATASET_TAG = tag.DATASET
MAX_RUNS = 1000
MAX_VERSION = 2**31 - 1
_SHA = re.compile(r"^[0-9a-f]{64}$")

_VERSION_COLUMNS = ("d.name, v.version, v.sha256, v.format, v.filename, v.size_bytes, v.rows, v.schema_json, "
                    "v.created_at")


def datasets_root(settings: Settings) -> Path:
    return settings.home / "datasets"


def check_dataset_name(name: str, field: str = "name") -> str:
    name = check_name(name, field)
    if "@" in name or "/" in name or "\\" in name or any(ord(c) < 0x20 for c in name):
        raise Invalid(f"{field} {name!r} must not contain '@', '/', '\\' or control characters", field)
    return name


def parse_ref(ref: str, field: str = "dataset") -> tuple[str, int | None]:
    """"name" -> (name, None); "name@3" -> (name, 3)."""
    name, at, version = ref.strip().rpartition("@")
    if not at:
        return check_dataset_name(version, field), None
    if not (version.isascii() and version.isdigit()) or not 1 <= int(version) <= MAX_VERSION:
        raise Invalid(f"{field} {ref!r}: the version after '@' must be a number from 1", field)
    return check_dataset_name(name, field), int(version)


# --- adding ------------------------------------------------------------------------------------


def add_version(db: Database, settings: Settings, name: str, filename: str, source_path: Path) -> dict[str, Any]:
    """Store the file at `source_path` (a temporary file inside the datasets root) as a version of `name`.

    The file is moved to its content address, or deleted when it is refused or already stored."""
    root = datasets_root(settings).resolve()
    source = Path(source_path).resolve()
    if root not in source.parents:  # never touch (or delete) a file outside the root
        raise Invalid("the uploaded file must be inside the datasets folder", "file")
    try:
        name = check_dataset_name(name)
        filename = io.clean_filename(filename)
        fmt = io.format_of(filename)
        size = source.stat().st_size
        if size == 0:
            raise Invalid("file is empty", "file")
        sha256 = io.sha256_of(source)
        existing = _find_by_sha(db, name, sha256)
        if existing is None:
            frame = io.read_frame(source, fmt, max_columns=settings.max_columns)
            schema, stats = schema_of(frame), column_stats(frame)
    except BaseException:
        source.unlink(missing_ok=True)
        raise
    if existing is not None:
        source.unlink(missing_ok=True)
        return {**get_version(db, existing["ref"]), "created": False}
    target = root / f"{sha256}.{io.EXTENSIONS[fmt]}"
    os.replace(source, target)  # same bytes under another name: the same file
    try:
        with db.write() as conn:
            dataset_id = _dataset_id(conn, name)
            found = conn.execute("SELECT version FROM dataset_versions WHERE dataset_id = ? AND sha256 = ?",
                                 (dataset_id, sha256)).fetchone()
            if found is None:
                version = conn.execute("SELECT coalesce(max(version), 0) + 1 FROM dataset_versions "
                                       "WHERE dataset_id = ?", (dataset_id,)).fetchone()[0]
                conn.execute(
                    "INSERT INTO dataset_versions (dataset_id, version, sha256, format, filename, size_bytes, rows, "
                    "schema_json, stats_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (dataset_id, version, sha256, fmt, filename, size, len(frame), json.dumps(schema),
                     json.dumps(stats, allow_nan=False), now_ms()),
                )
            else:
                version = found[0]
    finally:
        if not _referenced(db, sha256):  # nothing refers to the file (the insert failed): drop it
            target.unlink(missing_ok=True)
    record = get_version(db, f"{name}@{version}")
    return {**record, "created": found is None}


def _dataset_id(conn: sqlite3.Connection, name: str) -> int:
    found = conn.execute("SELECT id FROM datasets WHERE name = ?", (name,)).fetchone()
    if found is not None:
        return int(found[0])
    cursor = conn.execute("INSERT INTO datasets (name, created_at) VALUES (?, ?)", (name, now_ms()))
    return int(cursor.lastrowid)  # type: ignore[arg-type]


def _referenced(db: Database, sha256: str) -> bool:
    with db.read() as conn:
        return conn.execute("SELECT 1 FROM dataset_versions WHERE sha256 = ? LIMIT 1", (sha256,)).fetchone() is not None


def _find_by_sha(db: Database, name: str, sha256: str) -> dict[str, Any] | None:
    with db.read() as conn:
        found = one(conn.execute(
            f"SELECT {_VERSION_COLUMNS} FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id "
            "WHERE d.name = ? AND v.sha256 = ?", (name, sha256)))
    return _record(found, None) if found else None


# --- reading -----------------------------------------------------------------------------------


def _record(row: dict[str, Any], stats_json: str | None) -> dict[str, Any]:
    record = {
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
    if stats_json is not None:
        record["stats"] = json.loads(stats_json)
    return record


def get_version(db: Database, ref: str, with_stats: bool = True) -> dict[str, Any]:
    """A version by ref: "name" (the latest) or "name@3"; 404 naming "dataset" when missing."""
    name, version = parse_ref(ref)
    columns = _VERSION_COLUMNS + (", v.stats_json" if with_stats else "")
    with db.read() as conn:
        if version is None:
            found = one(conn.execute(
                f"SELECT {columns} FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id "
                "WHERE d.name = ? ORDER BY v.version DESC LIMIT 1", (name,)))
        else:
            found = one(conn.execute(
                f"SELECT {columns} FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id "
                "WHERE d.name = ? AND v.version = ?", (name, version)))
    if found is None:
        what = f"dataset {name!r}" if version is None else f"dataset version {name}@{version}"
        raise NotFound(f"{what} not found", "dataset")
    return _record(found, found.get("stats_json") if with_stats else None)


_DATASETS = (
    "SELECT d.name, d.description, d.created_at, count(v.version) AS version_count, "
    "max(v.version) AS latest_version, "
    "(SELECT l.rows FROM dataset_versions l WHERE l.dataset_id = d.id ORDER BY l.version DESC LIMIT 1) "
    "AS latest_rows, max(v.created_at) AS updated_at "
    "FROM datasets d LEFT JOIN dataset_versions v ON v.dataset_id = d.id "
)


def list_datasets(db: Database) -> list[dict[str, Any]]:
    """Every dataset with its version count and its latest version's number, rows and time."""
    with db.read() as conn:
        return rows(conn.execute(_DATASETS + "GROUP BY d.id ORDER BY d.name"))


def get_dataset(db: Database, name: str) -> dict[str, Any]:
    """The dataset with its versions (newest first, without stats)."""
    name = check_dataset_name(name)
    with db.read() as conn:
        found = one(conn.execute(_DATASETS + "WHERE d.name = ? GROUP BY d.id", (name,)))
    if found is None:
        raise NotFound(f"dataset {name!r} not found", "dataset")
    return {**found, "versions": list_versions(db, name)}


def list_versions(db: Database, name: str) -> list[dict[str, Any]]:
    """The versions of `name`, newest first, without stats; 404 naming "dataset" when unknown."""
    name = check_dataset_name(name)
    with db.read() as conn:
        if conn.execute("SELECT 1 FROM datasets WHERE name = ?", (name,)).fetchone() is None:
            raise NotFound(f"dataset {name!r} not found", "dataset")
        found = rows(conn.execute(
            f"SELECT {_VERSION_COLUMNS} FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id "
            "WHERE d.name = ? ORDER BY v.version DESC", (name,)))
    return [_record(row, None) for row in found]


def frame_path(settings: Settings, record: dict[str, Any]) -> Path:
    """The version's stored file, resolved and kept inside the datasets root."""
    sha256, fmt = str(record.get("sha256", "")), str(record.get("format", ""))
    if not _SHA.match(sha256) or fmt not in io.EXTENSIONS:
        raise Invalid("dataset version record is malformed", "dataset")
    root = datasets_root(settings).resolve()
    path = (root / f"{sha256}.{io.EXTENSIONS[fmt]}").resolve()
    if root not in path.parents:
        raise Invalid("dataset file leaves the datasets folder", "dataset")
    if not path.is_file():
        raise NotFound(f"the file of dataset version {record.get('ref')} is missing", "dataset")
    return path


def load_frame(db: Database, settings: Settings, ref: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The version's table, read back from its stored file, and its record (with stats)."""
    record = get_version(db, ref)
    return io.read_frame(frame_path(settings, record), record["format"]), record


def runs_for_version(db: Database, name: str, version: int) -> list[dict[str, Any]]:
    """Active runs tagged `mlops.dataset = name@version`, newest first (the lineage data -> runs)."""
    record = get_version(db, f"{check_dataset_name(name)}@{version}", with_stats=False)
    with db.read() as conn:
        found = rows(conn.execute(
            f"SELECT {RUN_COLUMNS} FROM tags t JOIN runs r ON r.id = t.run_id "
            "WHERE t.key = ? AND t.value = ? AND r.lifecycle_stage = 'active' "
            "ORDER BY r.start_time DESC LIMIT ?", (DATASET_TAG, record["ref"], MAX_RUNS)))
        attach_details(conn, found)
    return found


# --- diff --------------------------------------------------------------------------------------


def diff(db: Database, name: str, a: int, b: int, settings: Settings | None = None) -> dict[str, Any]:
    """What changed from version `a` to version `b` of `name`: columns added and removed, dtype changes,
    row counts, and per shared column a shift score (PSI, see `backend.datasets.drift`; `shifted`
    when above 0.2, and only when both versions have `drift.MIN_ROWS` rows). Version b's numeric
    values are read back from its stored file and binned into version a's histogram edges (its
    histogram stands in when the file is gone); both files give the KS p-value."""
    name = check_dataset_name(name)
    old, new = get_version(db, f"{name}@{a}"), get_version(db, f"{name}@{b}")
    schema_a, schema_b = old["schema"], new["schema"]
    shared = [c for c in schema_a if c in schema_b]
    numeric = any(old["stats"][c]["kind"] == new["stats"][c]["kind"] == "numeric" for c in shared)
    settings = settings or Settings(home=db.path.parent)
    frame_a, frame_b = (_stored_frame(settings, old), _stored_frame(settings, new)) if numeric else (None, None)
    columns = drift.compare(old["stats"], new["stats"], frame_b, frame_a)
    judged = drift.judged(old["stats"], new["stats"])
    return {
        "name": name,
        "a": _summary(old), "b": _summary(new),
        "rows_a": old["rows"], "rows_b": new["rows"], "rows_change": new["rows"] - old["rows"],
        "added_columns": [c for c in schema_b if c not in schema_a],
        "removed_columns": [c for c in schema_a if c not in schema_b],
        "dtype_changes": [{"column": c, "a": schema_a[c], "b": schema_b[c]} for c in shared
                          if schema_a[c] != schema_b[c]],
        "columns": columns,
        "shifted_columns": [c["column"] for c in columns if c["shifted"]],
        "threshold": drift.SHIFT_THRESHOLD,
        "min_rows": drift.MIN_ROWS,
        "judged": judged,
        "verdict": ("shifted" if any(c["shifted"] for c in columns) else "stable") if judged
        else f"too few rows to judge (fewer than {drift.MIN_ROWS:,} in a version)",
        "same_content": old["sha256"] == new["sha256"],
    }


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in ("ref", "version", "sha256", "rows", "created_at")}


def _stored_frame(settings: Settings, record: dict[str, Any]) -> pd.DataFrame | None:
    try:
        return io.read_frame(frame_path(settings, record), record["format"])
    except (NotFound, Invalid):  # the file is gone: fall back on the stored histogram
        return None
