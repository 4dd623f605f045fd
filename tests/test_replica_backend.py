"""The backend's side of replicas: the alias long poll (`GET .../aliases/{alias}?known_version=&wait_seconds=`)
and the records route replicas ship to (`POST /api/v1/monitoring/records`), on the session's live backend."""
from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import LiveServer, unique
from replica_support import register_model

from mlops_tui import Client
from mlops_tui.client import MlopsError
from mlops_tui.contract.monitoring import PredictionRecord, RecordBatch, RecordStatus


def test_the_alias_long_poll_answers_when_the_alias_moves_or_after_the_wait(live_client: Client,
                                                                           tmp_path: Path) -> None:
    model = register_model(live_client, tmp_path)
    started = time.monotonic()
    assert live_client.get_alias(model.name, "production", known_version=2, wait_seconds=5).version == 1
    assert time.monotonic() - started < 1.5, "an alias that is not the known version answers at once"
    started = time.monotonic()
    assert live_client.get_alias(model.name, "production", known_version=1, wait_seconds=1).version == 1
    assert time.monotonic() - started >= 0.9, "an alias that did not move answers after the wait"

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(live_client.get_alias, model.name, "production", 1, 30.0)
        time.sleep(0.5)
        assert not waiting.done()
        moved = time.monotonic()
        live_client.promote(model.name, 2, "production", force=True, reason="long poll test")
        assert waiting.result(timeout=10).version == 2
        assert time.monotonic() - moved < 2, "the long poll answers soon after the move"
    with pytest.raises(MlopsError) as refused:
        live_client.get_alias(model.name, "production", known_version=1, wait_seconds=61)
    assert refused.value.status == 422 and refused.value.field == "wait_seconds"
    with pytest.raises(MlopsError) as nowhere:
        live_client.get_alias(model.name, "nowhere", known_version=1, wait_seconds=5)
    assert nowhere.value.status == 404


def test_a_replicas_records_are_queued_for_the_recorder_with_its_dropped_count(live_client: Client,
                                                                              live_server: LiveServer) -> None:
    name = unique("shipped")
    records = [PredictionRecord(request_id=unique("r"), time=int(time.time() * 1000), name=name, version=1,
                                alias="production", latency_ms=1.5, rows=2, first=i == 0, inputs={"a": i},
                                output=i % 2) for i in range(2)]
    records.append(PredictionRecord(request_id=unique("r"), time=int(time.time() * 1000), name=name, version=1,
                                    latency_ms=0.4, status=RecordStatus.ERROR, error="row 0, column 'b': missing"))
    before = live_client.send_records(RecordBatch(source="probe", records=[])).dropped_total
    ack = live_client.send_records(RecordBatch(source="replica-x", records=records, dropped=7))
    assert (ack.accepted, ack.dropped_total) == (3, before + 7)
    again = live_client.send_records(RecordBatch(source="replica-x", records=records[:1]))  # a batch sent twice
    assert again.accepted == 1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with sqlite3.connect(live_server.db_path) as conn:
            stored = conn.execute("SELECT source, status, inputs_json FROM predictions WHERE name = ? ORDER BY id",
                                  (name,)).fetchall()
        if len(stored) == 3:
            break
        time.sleep(0.1)
    assert stored == [("replica-x", "ok", '{"a": 0}'), ("replica-x", "ok", '{"a": 1}'), ("replica-x", "error", None)]

    with pytest.raises(MlopsError) as refused:
        live_client.send_records(RecordBatch.model_construct(source="", records=[], dropped=0))
    assert refused.value.status == 422 and refused.value.field == "source"
