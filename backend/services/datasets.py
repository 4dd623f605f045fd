"""Dataset versions: uploads stored under their content address, statistics, diffs and lineage.

A version's file lives at `<home>/datasets/<sha256>.<csv|parquet>`; the same bytes under the same
name are one version (adding them again answers the existing version with `created: False`).
Refs are `name` (the latest version) or `name@N`. Runs record the version they trained on in the
tag `mlops.dataset` (`name@N`), which is how lineage run -> data is found.
"""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pandas as pd
from anyio import to_thread

from mlops_tui.contract.atomic import commit

from ..datasets import drift, io, schema
from ..datasets.stats import column_stats, schema_of
from ..db import Database
from ..errors import Invalid, NotFound
from ..paths import resolve_inside
from ..settings import Settings
from ..store import datasets as store
from ..store.rows import DatasetDetail, DatasetSummary, DatasetVersion, RunRow
from ..validation import check_name

MAX_VERSION = 2**31 - 1
_SHA = re.compile(r"^[0-9a-f]{64}$")


class AddedVersion(DatasetVersion):
    created: bool


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


def _version_ref(name: str, version: str) -> str:
    """A route's `{name}` and `{version}` (a number or "latest") as a ref."""
    check_dataset_name(name)
    if version == "latest":
        return name
    if not (version.isascii() and version.isdigit()) or not 1 <= int(version) <= MAX_VERSION:
        raise Invalid(f"version must be a number from 1 to {MAX_VERSION}, or 'latest'", "version")
    return f"{name}@{int(version)}"


# --- adding ------------------------------------------------------------------------------------


async def _receive(settings: Settings, filename: str, stream: AsyncIterator[bytes]) -> Path:
    """The body in a temporary file inside the datasets root, after checking the file name."""
    io.format_of(filename)
    path, size = await io.receive_upload(datasets_root(settings), stream, settings.max_body_bytes)
    if size == 0:
        path.unlink(missing_ok=True)
        raise Invalid("body is empty: send the file's bytes", "body")
    return path


async def upload_version(db: Database, settings: Settings, name: str, filename: str,
                         stream: AsyncIterator[bytes]) -> AddedVersion:
    """Receive an uploaded file and add it as a version of `name` (parsing runs in a worker thread)."""
    check_dataset_name(name)
    path = await _receive(settings, filename, stream)
    return await to_thread.run_sync(add_version, db, settings, name, filename, path)


def add_version(db: Database, settings: Settings, name: str, filename: str, source_path: Path) -> AddedVersion:
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
        existing = store.find_by_sha(db, name, sha256)
        if existing is None:
            frame = io.read_frame(source, fmt, max_columns=settings.max_columns)
            columns_schema, stats = schema_of(frame), column_stats(frame)
    except BaseException:
        source.unlink(missing_ok=True)
        raise
    if existing is not None:
        source.unlink(missing_ok=True)
        return {**store.get_version(db, name, existing["version"]), "created": False}
    target = root / f"{sha256}.{io.EXTENSIONS[fmt]}"
    commit(source, target)  # same bytes under another name (the same file), the rename made durable
    try:
        version, created = store.insert_version(db, name, sha256, fmt, filename, size, len(frame), columns_schema,
                                                stats)
    finally:
        if not store.is_referenced(db, sha256):  # nothing refers to the file (the insert failed): drop it
            target.unlink(missing_ok=True)
    return {**store.get_version(db, name, version), "created": created}


async def propose_rules(settings: Settings, filename: str, stream: AsyncIterator[bytes]) -> dict[str, Any]:
    """`[validation]` rules proposed for an uploaded file (nothing is stored):
    `{"validation": {...}, "toml": "[validation]\\n..."}`."""
    path = await _receive(settings, filename, stream)
    try:
        return await to_thread.run_sync(_proposed_rules, path, io.format_of(filename), settings.max_columns)
    finally:
        path.unlink(missing_ok=True)


def _proposed_rules(path: Path, fmt: str, max_columns: int) -> dict[str, Any]:
    """Parsing and inference, all in one worker thread: never on the event loop."""
    section = schema.infer(io.read_frame(path, fmt, max_columns=max_columns))
    return {"validation": section, "toml": schema.to_toml(section)}


# --- reading -----------------------------------------------------------------------------------


def list_datasets(db: Database) -> list[DatasetSummary]:
    return store.list_datasets(db)


def get_dataset(db: Database, name: str) -> DatasetDetail:
    """The dataset and its versions, newest first (without statistics)."""
    return store.get_dataset(db, check_dataset_name(name))


def get_version(db: Database, ref: str, with_stats: bool = True) -> DatasetVersion:
    """A version by ref: "name" (the latest) or "name@3"; NotFound naming "dataset" when missing."""
    name, version = parse_ref(ref)
    return store.get_version(db, name, version, with_stats)


def version_of(db: Database, name: str, version: str) -> DatasetVersion:
    """A route's version (a number or "latest") of `name`, with its schema and statistics."""
    return get_version(db, _version_ref(name, version))


def version_runs(db: Database, name: str, version: str) -> dict[str, Any]:
    """`{"ref", "runs"}`: the runs that trained on this version (tag `mlops.dataset`), newest first."""
    record = get_version(db, _version_ref(name, version), with_stats=False)
    runs: list[RunRow] = store.runs_for_version(db, record["ref"])
    return {"ref": record["ref"], "runs": runs}


def frame_path(settings: Settings, record: DatasetVersion | dict[str, Any]) -> Path:
    """The version's stored file, resolved and kept inside the datasets root."""
    sha256, fmt = str(record.get("sha256", "")), str(record.get("format", ""))
    if not _SHA.match(sha256) or fmt not in io.EXTENSIONS:
        raise Invalid("dataset version record is malformed", "dataset")
    path = resolve_inside(datasets_root(settings), f"{sha256}.{io.EXTENSIONS[fmt]}", "dataset",
                          "the datasets folder")
    if not path.is_file():
        raise NotFound(f"the file of dataset version {record.get('ref')} is missing", "dataset")
    return path


def load_frame(db: Database, settings: Settings, ref: str) -> tuple[pd.DataFrame, DatasetVersion]:
    """The version's table, read back from its stored file, and its record (with stats)."""
    record = get_version(db, ref)
    return io.read_frame(frame_path(settings, record), record["format"]), record


# --- diff --------------------------------------------------------------------------------------


def diff(db: Database, settings: Settings, name: str, a: int, b: int) -> dict[str, Any]:
    """What changed from version `a` to version `b` of `name`: columns added and removed, dtype changes,
    row counts, and per shared column a shift score (PSI, see `backend.datasets.drift`; `shifted`
    when above 0.2, and only when both versions have `drift.MIN_ROWS` rows). Version b's numeric
    values are read back from its stored file and binned into version a's histogram edges (its
    histogram stands in when the file is gone); both files give the KS p-value."""
    name = check_dataset_name(name)
    old, new = store.get_version(db, name, a), store.get_version(db, name, b)
    schema_a, schema_b = old["schema"], new["schema"]
    stats_a, stats_b = old.get("stats", {}), new.get("stats", {})
    shared = [c for c in schema_a if c in schema_b]
    numeric = any(stats_a[c]["kind"] == stats_b[c]["kind"] == "numeric" for c in shared)
    frame_a, frame_b = (_stored_frame(settings, old), _stored_frame(settings, new)) if numeric else (None, None)
    columns = drift.compare(stats_a, stats_b, frame_b, frame_a)
    judged = drift.judged(stats_a, stats_b)
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


def _summary(record: DatasetVersion) -> dict[str, Any]:
    return {k: record[k] for k in ("ref", "version", "sha256", "rows", "created_at")}  # type: ignore[literal-required]


def _stored_frame(settings: Settings, record: DatasetVersion) -> pd.DataFrame | None:
    try:
        return io.read_frame(frame_path(settings, record), record["format"])
    except (NotFound, Invalid):  # the file is gone: fall back on the stored histogram
        return None
