"""The prediction recorder on the real app and a real SQLite file: per-minute rollups and their
latency sketch (against numpy), merging minutes, replicas' batches counted once, retention by
days and by rows, and the proof that recording never waits for the database."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import CLIENT_HEADERS
from fastapi.testclient import TestClient
from monitoring_support import MINUTE, record_json, request

from backend import Settings, create_app
from backend.monitoring.latency import BOUNDS_MS, Traffic, bucket_of, bucket_range
from backend.monitoring.recorder import Recorder
from backend.monitoring.rollup import minute_of
from mlops_tui.contract import now_ms
from mlops_tui.contract.monitoring import PredictionRecord


def app_with(home: Path, **settings: object) -> TestClient:
    return TestClient(create_app(Settings(home=home, token=None, **settings)),  # type: ignore[arg-type]
                      raise_server_exceptions=False, headers=CLIENT_HEADERS)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with app_with(tmp_path / "home") as client:
        yield client


def recorder_of(client: TestClient) -> Recorder:
    return client.app.state.recorder  # type: ignore[attr-defined,no-any-return]


def record(client: TestClient, records: list[PredictionRecord]) -> None:
    recorder = recorder_of(client)
    recorder.submit(records)
    assert recorder.flush()


def minutes(client: TestClient) -> list[dict[str, object]]:
    with sqlite3.connect(client.app.state.settings.db_path) as conn:  # type: ignore[attr-defined]
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM prediction_minutes ORDER BY minute, alias")]


def prediction_count(client: TestClient) -> int:
    with sqlite3.connect(client.app.state.settings.db_path) as conn:  # type: ignore[attr-defined]
        return int(conn.execute("SELECT count(*) FROM predictions").fetchone()[0])


# --- the latency sketch -------------------------------------------------------------------------


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99])
def test_sketch_quantiles_fall_in_the_true_quantiles_bucket(q: float) -> None:
    latencies = np.random.default_rng(7).lognormal(mean=1.0, sigma=1.2, size=20_000)
    traffic = Traffic()
    for latency in latencies:
        traffic.add(float(latency), 1, False)
    true = float(np.quantile(latencies, q, method="inverted_cdf"))
    lower, upper = bucket_range(bucket_of(true))
    estimate = traffic.quantile(q)
    assert estimate is not None and lower <= estimate <= upper
    assert abs(estimate - true) <= upper - lower <= 0.1 * true + 1e-9  # the documented bound: 10 % of the value


def test_sketch_buckets_are_fixed_and_contiguous() -> None:
    assert BOUNDS_MS[0] == 0.1 and BOUNDS_MS[-1] >= 60_000
    assert all(abs(b / a - 1.1) < 1e-4 for a, b in zip(BOUNDS_MS, BOUNDS_MS[1:], strict=False))
    assert bucket_of(0.1) == 0 and bucket_of(0.1000001) == 1 and bucket_of(10**9) == len(BOUNDS_MS)
    assert Traffic().quantile(0.5) is None


# --- rollups ------------------------------------------------------------------------------------


def test_rollups_count_requests_rows_errors_and_latency_per_minute(client: TestClient) -> None:
    start = minute_of(now_ms()) - 5 * MINUTE
    records = (request("m", 2.0, rows=3, time=start + 1_000) + request("m", 4.0, time=start + 59_999)
               + request("m", 8.0, rows=2, time=start + 60_000, failed=True)
               + request("m", 1.0, time=start + 2_000, alias="staging")
               + request("m", 3.0, time=start + 3_000, alias=None, version=2))
    record(client, records)
    found = {(r["minute"], r["alias"], r["version"]): r for r in minutes(client)}
    assert set(found) == {(start, "production", 1), (start + MINUTE, "production", 1), (start, "staging", 1),
                          (start, "", 2)}
    first = found[(start, "production", 1)]
    assert (first["requests"], first["rows"], first["errors"], first["latency_sum"]) == (2, 4, 0, 6.0)
    assert json.loads(str(first["latency_buckets"])) == [[bucket_of(2.0), 1], [bucket_of(4.0), 1]]
    failed = found[(start + MINUTE, "production", 1)]
    assert (failed["requests"], failed["rows"], failed["errors"]) == (1, 0, 1)
    assert prediction_count(client) == len(records)


def test_a_minute_written_in_several_batches_merges_to_the_same_sketch(client: TestClient) -> None:
    minute = minute_of(now_ms()) - 2 * MINUTE
    latencies = np.random.default_rng(3).exponential(5.0, size=600)
    direct = Traffic()
    for index, latency in enumerate(latencies):
        recorder_of(client).submit(request("m", float(latency), time=minute + index * 50))
        direct.add(float(latency), 1, False)
        if index % 100 == 99:
            assert recorder_of(client).flush()  # six batches into the same minute
    (stored,) = minutes(client)
    assert stored["requests"] == 600 and stored["latency_sum"] == pytest.approx(float(latencies.sum()))
    merged = Traffic.from_stored(600, 600, 0, 0.0, json.loads(str(stored["latency_buckets"])))
    assert merged.buckets == direct.buckets
    assert merged.quantile(0.95) == direct.quantile(0.95)


def test_a_replica_batch_sent_twice_is_counted_once(client: TestClient) -> None:
    records = request("m", 5.0, rows=4)
    body = {"source": "replica-1:8080", "records": record_json(records), "dropped": 2}
    first = client.post("/api/v1/monitoring/records", json=body)
    assert first.status_code == 200 and first.json() == {"accepted": 4, "dropped_total": 2}
    again = client.post("/api/v1/monitoring/records", json={**body, "dropped": 0})
    assert again.json() == {"accepted": 4, "dropped_total": 2}
    assert recorder_of(client).flush()
    (stored,) = minutes(client)
    assert (stored["requests"], stored["rows"]) == (1, 4)
    assert prediction_count(client) == 4


@pytest.mark.parametrize(("field", "value"), [("latency_ms", -1), ("latency_ms", "2"), ("time", "3"), ("time", True),
                                            ("version", 1.5), ("first", 1), ("probabilities", [True])])
def test_a_bad_record_is_refused_naming_the_field(client: TestClient, field: str, value: object) -> None:
    bad = record_json(request("m", 1.0))
    bad[0][field] = value
    answer = client.post("/api/v1/monitoring/records", json={"source": "r", "records": bad})
    assert answer.status_code == 422 and answer.json()["field"].startswith(f"records[0].{field}"), answer.text
    assert recorder_of(client).flush() and prediction_count(client) == 0


def test_a_dropped_count_must_be_a_whole_number(client: TestClient) -> None:
    answer = client.post("/api/v1/monitoring/records", json={"source": "r", "records": [], "dropped": False})
    assert answer.status_code == 422 and answer.json()["field"] == "dropped"


# --- retention ----------------------------------------------------------------------------------


def test_retention_deletes_rows_and_rollups_older_than_the_days_setting(tmp_path: Path) -> None:
    with app_with(tmp_path / "home", monitor_retention_days=1.0) as client:
        now = now_ms()
        old = request("m", 1.0, rows=3, time=now - 2 * 86_400_000)
        fresh = request("m", 1.0, rows=2, time=now - 3_600_000)
        record(client, old + fresh)
        assert len(minutes(client)) == 2
        assert recorder_of(client).prune(now) == 3 + 1
        assert prediction_count(client) == 2
        assert [m["minute"] for m in minutes(client)] == [minute_of(now - 3_600_000)]


def test_retention_keeps_the_newest_rows_under_the_rows_setting(tmp_path: Path) -> None:
    with app_with(tmp_path / "home", monitor_retention_rows=5) as client:
        first = request("m", 1.0, rows=4)
        record(client, first)
        last = request("m", 1.0, rows=3)
        record(client, last)
        recorder_of(client).prune()
        with sqlite3.connect(client.app.state.settings.db_path) as conn:  # type: ignore[attr-defined]
            kept_ids = {r[0] for r in conn.execute("SELECT request_id FROM predictions")}
        assert kept_ids == {r.request_id for r in first[2:] + last}
        assert minutes(client)[0]["requests"] == 2  # rollups are kept by days only


# --- never on the request path ------------------------------------------------------------------


def test_submit_never_waits_for_the_database(client: TestClient) -> None:
    """While another thread holds the backend's database connection (and keeps it until the end of the
    test), submitting still returns: it never waits for the database."""
    recorder = recorder_of(client)
    held, release = threading.Event(), threading.Event()
    submitted: list[int] = []

    def hold() -> None:
        with recorder.db.write():
            held.set()
            release.wait()

    holder = threading.Thread(target=hold)
    submitter = threading.Thread(target=lambda: submitted.append(recorder.submit(request("m", 1.0, rows=2_000))))
    holder.start()
    try:
        assert held.wait(30)
        submitter.start()
        submitter.join(60)  # a submit that waited for the database would still be waiting
        assert not submitter.is_alive() and submitted == [2_000]
        assert recorder.pending == 2_000  # nothing written while the database is held
    finally:
        release.set()
        holder.join()
        submitter.join()
    assert recorder.flush() and prediction_count(client) == 2_000


def test_replica_records_are_answered_while_the_database_is_locked(client: TestClient) -> None:
    """Another process holds SQLite's write lock: the records route still answers at once."""
    locker = sqlite3.connect(client.app.state.settings.db_path, timeout=30)  # type: ignore[attr-defined]
    locker.execute("BEGIN IMMEDIATE")
    try:
        started = time.perf_counter()
        answer = client.post("/api/v1/monitoring/records",
                             json={"source": "r", "records": record_json(request("m", 1.0, rows=50))})
        assert answer.status_code == 200 and answer.json()["accepted"] == 50
        assert time.perf_counter() - started < 10.0  # a write would wait for SQLite's 30 s busy timeout
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert recorder_of(client).flush() and prediction_count(client) == 50


def test_monitoring_off_records_nothing(tmp_path: Path) -> None:
    with app_with(tmp_path / "home", monitoring=False) as client:
        assert recorder_of(client).submit(request("m", 1.0)) == 0
        assert recorder_of(client).flush() and prediction_count(client) == 0
