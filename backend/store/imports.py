"""Imported runs in SQL: a batch of whole runs from another tracker, upserted in one transaction.

Everything is matched so that sending the same batch twice adds nothing: experiments by name, runs
by id, params by (run, key), points by (series, step, timestamp, value) (the points table's key),
inputs by (run, name, digest). Reads are per table for the whole batch, never per item.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..clock import now_ms
from ..db import Database
from .common import placeholders
from .runs import Columns, _write_points

Refusal = dict[str, Any]
"""`{"run_id"|"experiment", "field", "message"}`: an item of the batch left out, and why."""


def import_batch(db: Database, experiments: list[dict[str, Any]], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Store the batch (checked plain values: see `services.imports`); answer the counts of what is new."""
    answer: dict[str, Any] = {"experiments_new": 0, "runs_new": 0, "runs_existing": 0, "points_new": 0,
                              "params_new": 0, "inputs_new": 0, "refused": []}
    with db.write() as conn:
        ids = _experiments(conn, experiments, {run["experiment"] for run in runs}, answer)
        runs = _runs(conn, runs, ids, answer)
        _params(conn, runs, answer)
        conn.executemany(
            "INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
            [(run["id"], key, value) for run in runs for key, value in run["tags"].items()])
        for run in runs:
            answer["points_new"] += _points(conn, run["id"], run["series"])
        answer["inputs_new"] = _inputs(conn, runs)
    return answer


def _experiments(conn: sqlite3.Connection, experiments: list[dict[str, Any]], used: set[str],
                 answer: dict[str, Any]) -> dict[str, int]:
    """The id of every experiment named, created (with its tags, stage and creation time) when missing;
    tags of an existing one are brought up to date, its stage is left as it is here."""
    given = {e["name"]: e for e in experiments}
    names = sorted(set(given) | used)
    ids: dict[str, int] = {}
    for start in range(0, len(names), 500):
        chunk = names[start:start + 500]
        ids.update(conn.execute(f"SELECT name, id FROM experiments WHERE name IN ({placeholders(len(chunk))})",
                                chunk).fetchall())
    for name in names:
        if name in ids:
            continue
        experiment = given.get(name, {})
        ids[name] = int(conn.execute(
            "INSERT INTO experiments (name, created_at, lifecycle_stage) VALUES (?, ?, ?)",
            (name, experiment.get("created_at") or now_ms(), experiment.get("lifecycle_stage", "active")),
        ).lastrowid or 0)
        answer["experiments_new"] += 1
    conn.executemany(
        "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
        [(ids[e["name"]], key, value) for e in experiments for key, value in e["tags"].items()])
    return ids


def _runs(conn: sqlite3.Connection, runs: list[dict[str, Any]], ids: dict[str, int],
          answer: dict[str, Any]) -> list[dict[str, Any]]:
    """Insert the new runs and bring the known ones up to date (name, status, times, stage, user, parent);
    a run id this store already holds in another experiment is refused. Answers the runs kept."""
    run_ids = [run["id"] for run in runs]
    held = dict(conn.execute(f"SELECT id, experiment_id FROM runs WHERE id IN ({placeholders(len(run_ids))})",
                             run_ids).fetchall()) if run_ids else {}
    kept, fresh, known = [], [], []
    for run in runs:
        experiment_id = ids[run["experiment"]]
        values = (run["name"], run["status"], run["start_time"], run["end_time"], run["lifecycle_stage"],
                  run["parent_id"], run["user_id"])
        if run["id"] not in held:
            fresh.append((run["id"], experiment_id, *values))
        elif held[run["id"]] == experiment_id:
            known.append((*values, run["id"]))
        else:
            answer["refused"].append({
                "run_id": run["id"], "field": "experiment",
                "message": f"run {run['id']} is already here in another experiment (id {held[run['id']]}); "
                           "left as it is", "left_out": True})
            continue
        held[run["id"]] = experiment_id  # the same run twice in a batch is one run
        kept.append(run)
    conn.executemany(
        "INSERT INTO runs (id, experiment_id, name, status, start_time, end_time, lifecycle_stage, parent_id, "
        "user_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", fresh)
    conn.executemany(
        "UPDATE runs SET name = ?, status = ?, start_time = ?, end_time = ?, lifecycle_stage = ?, parent_id = ?, "
        "user_id = ? WHERE id = ?", known)
    answer["runs_new"] += len(fresh)
    answer["runs_existing"] += len(known)
    return kept


def _params(conn: sqlite3.Connection, runs: list[dict[str, Any]], answer: dict[str, Any]) -> None:
    """New params are added; a param already here with another value keeps its value (params never
    change) and the difference is reported."""
    run_ids = [run["id"] for run in runs]
    stored: dict[tuple[str, str], str] = {}
    for start in range(0, len(run_ids), 500):
        chunk = run_ids[start:start + 500]
        stored.update(((run_id, key), value) for run_id, key, value in conn.execute(
            f"SELECT run_id, key, value FROM params WHERE run_id IN ({placeholders(len(chunk))})", chunk))
    new = []
    for run in runs:
        for key, value in run["params"].items():
            here = stored.get((run["id"], key))
            if here is None:
                new.append((run["id"], key, value))
                stored[(run["id"], key)] = value
            elif here != value:
                answer["refused"].append({
                    "run_id": run["id"], "field": f"params.{key}",
                    "message": f"param {key!r} is {here!r} here and {value!r} at the source; kept {here!r}",
                    "left_out": False})
    conn.executemany("INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)", new)
    answer["params_new"] += len(new)


def _points(conn: sqlite3.Connection, run_id: str, series: dict[str, Columns]) -> int:
    """Add the points of each series that are not stored yet (the rest are the ones a previous import
    stored); the series' latest value, min/max, count and rollups move as for logged points."""
    fresh: dict[str, Columns] = {}
    for key, (steps, values, stamps) in series.items():
        found = conn.execute("SELECT id FROM series WHERE run_id = ? AND key = ?", (run_id, key)).fetchone()
        seen: set[tuple[int, int, float]] = set()
        if found is not None and steps:
            seen = set(conn.execute(
                "SELECT step, timestamp, value FROM points WHERE series_id = ? AND step BETWEEN ? AND ?",
                (found[0], min(steps), max(steps))).fetchall())
        columns: Columns = ([], [], [])
        for point in zip(steps, stamps, values, strict=True):
            if point not in seen:
                seen.add(point)
                columns[0].append(point[0])
                columns[1].append(point[2])
                columns[2].append(point[1])
        if columns[1]:
            fresh[key] = columns
    _write_points(conn, run_id, fresh)
    return sum(len(values) for _, values, _ in fresh.values())


def _inputs(conn: sqlite3.Connection, runs: list[dict[str, Any]]) -> int:
    rows = [(run["id"], i["name"], i["digest"], i["source_type"], i["source"], i["dataset_schema"], i["profile"],
             i["context"], json.dumps(i["tags"], sort_keys=True))
            for run in runs for i in run["inputs"]]
    before = conn.total_changes
    conn.executemany(
        "INSERT OR IGNORE INTO run_inputs (run_id, name, digest, source_type, source, schema, profile, context, "
        "tags_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return conn.total_changes - before


def reserve_versions(db: Database, name: str, below: int) -> None:
    """Let the model's next registered version be `below + 1` (or later): an imported version keeps its
    number when the source skipped some (versions deleted there). The model must exist."""
    with db.write() as conn:
        conn.execute("UPDATE models SET latest_version = max(latest_version, ?) WHERE name = ?", (below, name))
