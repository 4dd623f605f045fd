"""The SQLite store on a real database file: experiments, runs, params, series, schema and pragmas."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.app import error_status
from backend.db import MIGRATIONS, Database, migrate
from backend.errors import Conflict, Invalid, NotFound
from backend.store import experiments, metrics, runs
from backend.store.experiments import ensure_default


def columns(*points: tuple[str, float, int, int]) -> dict[str, tuple[list[int], list[float], list[int]]]:
    """Points given as (key, value, step, timestamp), in the store's per-key column form."""
    found: dict[str, tuple[list[int], list[float], list[int]]] = {}
    for key, value, step, timestamp in points:
        steps, values, stamps = found.setdefault(key, ([], [], []))
        steps.append(step)
        values.append(value)
        stamps.append(timestamp)
    return found


def pt(key: str, value: float, step: int, timestamp: int) -> tuple[str, float, int, int]:
    return (key, value, step, timestamp)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "mlops.db")
    ensure_default(database)
    yield database
    database.close()


def count(db: Database, sql: str, *args: object) -> int:
    with db.read() as conn:
        return int(conn.execute(sql, args).fetchone()[0])


# --- experiments -------------------------------------------------------------------------------

def test_default_experiment_exists(db: Database) -> None:
    default = experiments.get(db, "0")
    assert default["name"] == "Default"
    assert experiments.get(db, "Default")["id"] == "0"


def test_experiment_create_and_get_by_id_and_name(db: Database) -> None:
    created = experiments.create(db, "vision", {"team": "cv"})
    assert created["name"] == "vision"
    assert created["lifecycle_stage"] == "active"
    assert created["tags"] == {"team": "cv"}
    by_id = experiments.get(db, created["id"])
    by_name = experiments.get(db, "vision")
    assert by_id == by_name == created
    assert created["id"] != "0"


def test_experiment_unknown_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound) as caught:
        experiments.get(db, "missing")
    assert error_status(caught.value)[0] == 404
    assert caught.value.field == "experiment"
    with pytest.raises(NotFound):
        experiments.get(db, "424242")


def test_experiment_duplicate_name_is_conflict(db: Database) -> None:
    experiments.create(db, "dup")
    with pytest.raises(Conflict) as caught:
        experiments.create(db, "dup")
    assert error_status(caught.value)[0] == 409
    assert caught.value.field == "name"
    assert count(db, "SELECT count(*) FROM experiments WHERE name = 'dup'") == 1


def test_experiment_soft_delete_and_restore(db: Database) -> None:
    created = experiments.create(db, "temp")
    run = runs.create(db, created["id"], name="r1")
    deleted = experiments.delete(db, "temp")
    assert deleted["lifecycle_stage"] == "deleted"
    # soft: the rows stay, hidden from the default listing, runs hidden too
    assert count(db, "SELECT count(*) FROM experiments WHERE id = ?", int(created["id"])) == 1
    assert "temp" not in [e["name"] for e in experiments.list_all(db)]
    assert "temp" in [e["name"] for e in experiments.list_all(db, include_deleted=True)]
    assert runs.get(db, run["id"])["lifecycle_stage"] == "deleted"
    # a deleted name is still taken, and creating runs in it is refused
    with pytest.raises(Conflict):
        experiments.create(db, "temp")
    with pytest.raises(Conflict):
        runs.create(db, created["id"])
    restored = experiments.restore(db, created["id"])
    assert restored["lifecycle_stage"] == "active"
    assert runs.get(db, run["id"])["lifecycle_stage"] == "active"
    assert experiments.get(db, "temp")["run_count"] == 1


# --- runs --------------------------------------------------------------------------------------

def test_run_create_get_and_defaults(db: Database) -> None:
    experiment = experiments.create(db, "e")
    run = runs.create(db, experiment["id"], tags={"owner": "ana"}, start_time=1_700_000_000_000)
    assert len(run["id"]) == 32
    assert run["status"] == "RUNNING"
    assert run["end_time"] is None
    assert run["start_time"] == 1_700_000_000_000
    assert run["name"]  # a generated name
    assert run["experiment_id"] == experiment["id"]
    assert run["tags"] == {"owner": "ana", "mlflow.runName": run["name"]}
    fetched = runs.get(db, run["id"])
    assert fetched == run
    assert runs.get(db, run["id"][:8])["id"] == run["id"]  # a unique prefix finds it


def test_run_unknown_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound) as caught:
        runs.get(db, "f" * 32)
    assert caught.value.field == "run_id"
    with pytest.raises(NotFound):
        runs.create(db, "987654")


@pytest.mark.parametrize("status", ["FINISHED", "FAILED", "KILLED"])
def test_run_update_to_terminal_status_sets_end_time(db: Database, status: str) -> None:
    run = runs.create(db, "0", start_time=1000)
    updated = runs.update(db, run["id"], status=status)
    assert updated["status"] == status
    assert isinstance(updated["end_time"], int) and updated["end_time"] >= run["start_time"]
    explicit = runs.update(db, run["id"], status=status, end_time=5000)
    assert explicit["end_time"] == 5000


def test_run_update_back_to_running_clears_end_time(db: Database) -> None:
    run = runs.create(db, "0")
    runs.update(db, run["id"], status="FINISHED")
    again = runs.update(db, run["id"], status="RUNNING")
    assert again["status"] == "RUNNING"
    assert again["end_time"] is None


def test_run_update_rejects_unknown_status(db: Database) -> None:
    run = runs.create(db, "0")
    with pytest.raises(Invalid) as caught:
        runs.update(db, run["id"], status="DONE")
    assert caught.value.field == "status"
    assert runs.get(db, run["id"])["status"] == "RUNNING"


def test_run_soft_delete_and_restore(db: Database) -> None:
    run = runs.create(db, "0")
    runs.delete(db, run["id"])
    assert runs.get(db, run["id"])["lifecycle_stage"] == "deleted"
    with pytest.raises(Conflict):
        runs.log_batch(db, run["id"], params={"a": "1"})
    runs.restore(db, run["id"])
    assert runs.get(db, run["id"])["lifecycle_stage"] == "active"


# --- params ------------------------------------------------------------------------------------

def test_param_same_value_is_accepted(db: Database) -> None:
    run = runs.create(db, "0")
    runs.log_batch(db, run["id"], params={"lr": "0.1", "depth": "3"})
    runs.log_batch(db, run["id"], params={"lr": "0.1"})
    assert runs.get(db, run["id"])["params"] == {"lr": "0.1", "depth": "3"}


def test_param_change_is_conflict_and_stores_nothing_from_the_batch(db: Database) -> None:
    run = runs.create(db, "0")
    runs.log_batch(db, run["id"], params={"lr": "0.1"}, metrics=columns(pt("loss", 1.0, 0, 10)))
    with pytest.raises(Conflict) as caught:
        runs.log_batch(
            db, run["id"],
            params={"new_param": "x", "lr": "0.2"},
            metrics=columns(pt("loss", 0.5, 1, 20), pt("acc", 0.9, 1, 20)),
            tags={"stage": "bad"},
        )
    assert error_status(caught.value)[0] == 409
    assert caught.value.field == "params.lr"
    after = runs.get(db, run["id"])
    assert after["params"] == {"lr": "0.1"}
    assert after["tags"] == {"mlflow.runName": after["name"]}
    assert after["metrics"] == {"loss": 1.0}
    assert after["metric_stats"]["loss"]["count"] == 1
    assert count(db, "SELECT count(*) FROM points") == 1
    assert count(db, "SELECT count(*) FROM series WHERE key = 'acc'") == 0


# --- series ------------------------------------------------------------------------------------

def test_series_stats_across_batches_with_out_of_order_steps(db: Database) -> None:
    run = runs.create(db, "0")
    rid = run["id"]
    first = zip(range(5, 10), [5, 4, 3, 2, 1], strict=False)
    runs.log_batch(db, rid, metrics=columns(*[pt("loss", v, s, 100 + s) for s, v in first]))
    stats = runs.get(db, rid)["metric_stats"]["loss"]
    assert (stats["value"], stats["step"], stats["min"], stats["max"], stats["count"]) == (1, 9, 1, 5, 5)
    # older steps arrive later, with a new lowest and highest value: the latest stays step 9
    late = zip(range(0, 5), [9, 8, -3, 7, 6], strict=False)
    runs.log_batch(db, rid, metrics=columns(*[pt("loss", v, s, 200 + s) for s, v in late]))
    stats = runs.get(db, rid)["metric_stats"]["loss"]
    assert (stats["value"], stats["step"], stats["min"], stats["max"], stats["count"]) == (1, 9, -3, 9, 10)
    # a batch whose own points are unordered: its highest step wins
    runs.log_batch(db, rid, metrics=columns(pt("loss", 0.7, 12, 300), pt("loss", 0.9, 10, 301),
                                            pt("loss", 0.8, 11, 302)))
    stats = runs.get(db, rid)["metric_stats"]["loss"]
    assert (stats["value"], stats["step"], stats["min"], stats["max"], stats["count"]) == (0.7, 12, -3, 9, 13)
    assert runs.get(db, rid)["metrics"] == {"loss": 0.7}
    history = metrics.history(db, rid, "loss")
    assert [step for step, _, _ in history] == list(range(13))


def test_series_same_step_later_timestamp_is_latest(db: Database) -> None:
    run = runs.create(db, "0")
    runs.log_batch(db, run["id"], metrics=columns(pt("acc", 0.5, 3, 1000)))
    runs.log_batch(db, run["id"], metrics=columns(pt("acc", 0.6, 3, 2000)))
    runs.log_batch(db, run["id"], metrics=columns(pt("acc", 0.1, 3, 1500)))
    stats = runs.get(db, run["id"])["metric_stats"]["acc"]
    assert stats["value"] == 0.6 and stats["timestamp"] == 2000
    assert stats["count"] == 3 and stats["min"] == 0.1 and stats["max"] == 0.6


def test_series_keys_are_independent(db: Database) -> None:
    run = runs.create(db, "0")
    runs.log_batch(db, run["id"], metrics=columns(pt("a", 1.0, 0, 1), pt("b", 10.0, 0, 1), pt("a", 2.0, 1, 2)))
    found = runs.get(db, run["id"])
    assert found["metrics"] == {"a": 2.0, "b": 10.0}
    assert found["metric_stats"]["a"]["count"] == 2
    assert found["metric_stats"]["b"]["count"] == 1
    assert metrics.keys(db, run["id"]) == ["a", "b"]


def test_an_identical_point_is_stored_once_and_counted_once(db: Database) -> None:
    run = runs.create(db, "0")
    rid = run["id"]
    batch = columns(pt("loss", 0.5, 1, 1000), pt("loss", 0.4, 2, 1000))
    runs.log_batch(db, rid, metrics=batch)
    runs.log_batch(db, rid, metrics=batch)  # a retried batch: the same points again
    runs.log_batch(db, rid, metrics=columns(pt("loss", 0.4, 2, 1000), pt("loss", 0.4, 2, 1000)))
    assert count(db, "SELECT count(*) FROM points") == 2
    assert runs.get(db, rid)["metric_stats"]["loss"]["count"] == 2
    assert metrics.history(db, rid, "loss") == [(1, 0.5, 1000), (2, 0.4, 1000)]
    # the same step with another value or timestamp is a new point
    runs.log_batch(db, rid, metrics=columns(pt("loss", 0.3, 2, 1000), pt("loss", 0.4, 2, 2000)))
    assert runs.get(db, rid)["metric_stats"]["loss"]["count"] == 4
    assert count(db, "SELECT count(*) FROM points") == 4


def test_rollups_merge_across_batches_so_a_late_spike_survives_downsampling(db: Database) -> None:
    """Batches of 10 points straddle the 64-point rollup blocks: a spike or a dip in a later batch
    lands in a block an earlier batch started, and must still show in the downsampled history."""
    run = runs.create(db, "0")
    rid = run["id"]
    spikes = {70: 1000.0, 133: -1000.0, 455: 500.0}  # each in a block begun by the batch before
    for start in range(0, 1000, 10):
        steps = list(range(start, start + 10))
        runs.log_batch(db, rid, metrics={"loss": (steps, [spikes.get(s, 1.0 + (s % 7) / 100) for s in steps],
                                                  [10_000 + s for s in steps])})
    with db.read() as conn:  # the downsample below reads rollups, not points
        assert conn.execute("SELECT count(*) FROM rollups").fetchone()[0] == 16
    kept = metrics.history(db, rid, "loss", max_points=10)
    assert len(kept) <= 10
    assert {(step, value) for step, value, _ in kept} >= set(spikes.items())
    stats = runs.get(db, rid)["metric_stats"]["loss"]
    assert (stats["min"], stats["max"], stats["count"]) == (-1000.0, 1000.0, 1000)


# --- schema and pragmas ------------------------------------------------------------------------

def test_schema_version_recorded_and_migrate_idempotent_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "mlops.db"
    first = Database(path)
    assert first.schema_version == len(MIGRATIONS)
    ensure_default(first)
    experiment = experiments.create(first, "kept")
    runs.create(first, experiment["id"], name="kept-run")
    first.close()

    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    raw.close()

    second = Database(path)  # reopening runs migrate() again
    assert second.schema_version == len(MIGRATIONS)
    assert migrate(second.conn) == len(MIGRATIONS)  # and once more, explicitly
    assert experiments.get(second, "kept")["run_count"] == 1
    with second.read() as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"experiments", "runs", "params", "tags", "series", "points"} <= tables
    second.close()


def test_wal_journal_mode_and_foreign_keys(db: Database) -> None:
    with db.read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    raw = sqlite3.connect(db.path)  # WAL is a property of the file, seen by other connections too
    assert raw.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    raw.close()


# --- the metric-history cache ------------------------------------------------------------------

def _drop_points_behind_the_stores_back(db: Database, run_id: str) -> None:
    """Delete a run's points without touching its series rows: only a cached answer still shows them."""
    with db.write() as conn:
        conn.execute("DELETE FROM points WHERE series_id IN (SELECT id FROM series WHERE run_id = ?)", (run_id,))


def test_a_history_is_answered_from_the_cache_until_its_series_changes(db: Database) -> None:
    run = runs.create(db, "0")
    runs.log_batch(db, run["id"], metrics=columns(pt("loss", 0.5, 1, 1000), pt("loss", 0.4, 2, 1000)))
    first = metrics.history_json(db, run["id"], "loss")
    _drop_points_behind_the_stores_back(db, run["id"])
    assert metrics.history_json(db, run["id"], "loss") == first  # no query: the rendered answer is kept
    runs.log_batch(db, run["id"], metrics=columns(pt("loss", 0.3, 3, 1000)))  # a new point: a new answer
    assert metrics.history(db, run["id"], "loss") == [(3, 0.3, 1000)]


def test_the_cache_keeps_no_answer_over_a_quarter_of_its_bound_and_stays_within_it(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "MAX_CACHE_BYTES", 2000)
    run = runs.create(db, "0")
    runs.log_batch(db, run["id"], metrics=columns(*[pt("big", float(s), s, 1000) for s in range(20)],
                                                  *[pt(f"k{i}", 1.0, 0, 1000) for i in range(40)]))
    for index in range(40):
        metrics.history_json(db, run["id"], f"k{index}")  # ~70 bytes each: more than the bound in all
    assert 0 < metrics._cache(db).currsize <= 2000
    assert 500 < len(metrics.history_json(db, run["id"], "big")) < 2000
    _drop_points_behind_the_stores_back(db, run["id"])
    assert metrics.history(db, run["id"], "big") == []  # it was not kept: read again
    assert metrics.history(db, run["id"], "k39") == [(0, 1.0, 1000)]  # the most recent answers are kept


def test_sqlite_utils_writes_join_the_store_transaction(db: Database) -> None:
    """The simple tables are written through sqlite-utils inside `Database.write()`: a failure later in
    the same transaction takes those writes back too (nothing half-written)."""
    with pytest.raises(RuntimeError), db.write():
        db.table("experiments").insert({"name": "half", "created_at": 1})
        db.table("experiment_tags").insert_all([{"experiment_id": 0, "key": "k", "value": "v"}])
        raise RuntimeError("a later step fails")
    assert count(db, "SELECT count(*) FROM experiments WHERE name = 'half'") == 0
    assert count(db, "SELECT count(*) FROM experiment_tags") == 0
