"""Per-minute drift summaries written by the app's recorder: merged minutes give the same PSI, chi-square
and Jensen–Shannon as the rows they summarize; only sampled, successful rows of a version with a
profile count; a training job leaves the profile and registration stores it."""
from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from conftest import CLIENT_HEADERS, LiveServer, unique
from drift_support import classifier, population
from fastapi.testclient import TestClient
from registry_support import CHURN, train

from backend.app import create_app
from backend.db import Database
from backend.monitoring import profile, summaries
from backend.monitoring.drift import assess, prediction_drift
from backend.settings import Settings
from backend.store import registry as registry_store
from backend.store.monitoring import version_profile
from mlops_tui import Client
from mlops_tui.contract.monitoring import PredictionRecord, RecordStatus

MINUTE = 60_000
START = 1_700_000_040_000  # a minute's start


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    x, y = population(6_000, seed=2)
    model = classifier(x[:5_000], y[:5_000])
    return {"model": model, "profile": profile.build(x[:5_000], x[5_000:], y[5_000:], model, "classification")}


@pytest.fixture
def app(tmp_path: Path, built: dict[str, Any]) -> Iterator[TestClient]:
    client = TestClient(create_app(Settings(home=tmp_path / "home", token=None)), headers=CLIENT_HEADERS)
    with client:
        db: Database = client.app.state.db  # type: ignore[attr-defined]
        for text in (json.dumps(built["profile"]), None):
            registry_store.insert_version(db, "churn", {"run_id": "r", "model_path": "model/model.skops",
                                                        "sha256": "0" * 64, "size_bytes": 1, "profile_json": text},
                                         "test")
        yield client


def records(frame: pd.DataFrame, outputs: list[Any], version: int, first_time: int) -> list[PredictionRecord]:
    """One record per row, a row every 200 ms from `first_time`, inputs as JSON sends them (NaN → null)."""
    rows = json.loads(frame.to_json(orient="records"))
    return [PredictionRecord(request_id=f"{version}-{first_time}-{i}", time=first_time + 200 * i, name="churn",
                             version=version, latency_ms=1.0, inputs=row, output=output)
            for i, (row, output) in enumerate(zip(rows, outputs, strict=True))]


def test_merged_minutes_give_the_statistics_of_the_rows_they_summarize(app: TestClient,
                                                                        built: dict[str, Any]) -> None:
    recorder = app.app.state.recorder  # type: ignore[attr-defined]
    db = app.app.state.db  # type: ignore[attr-defined]
    frame, _ = population(1_200, seed=7, age_shift=4.0)
    outputs = [int(v) for v in built["model"].predict(frame)]
    sent = records(frame, outputs, 1, START)  # 1,200 rows over 4 minutes
    for start in range(0, len(sent), 250):  # several batches: counts of one minute add up across them
        recorder.submit(sent[start:start + 250])
        assert recorder.flush()
    counts, predicted = summaries.merged(db, "churn", 1, START)
    with db.read() as conn:
        minutes = {row[0] for row in conn.execute("SELECT DISTINCT minute FROM drift_minutes")}
    assert minutes == {START + i * MINUTE for i in range(4)}
    from_rows = {item.feature: item for item in assess(built["profile"], frame)}
    from_counts = {item.feature: item for item in assess(built["profile"], counts=counts)}
    for name, item in from_rows.items():
        assert from_counts[name].rows == item.rows == 1_200
        assert from_counts[name].psi == pytest.approx(item.psi, abs=1e-12)
        assert from_counts[name].status == item.status
        if item.kind == "categorical":
            assert (from_counts[name].p_value, from_counts[name].distance) == (item.p_value, item.distance)
    assert predicted is not None and prediction_drift(built["profile"], counts=predicted)[0].psi == \
        pytest.approx(prediction_drift(built["profile"], outputs)[0].psi, abs=1e-12)  # type: ignore[index]
    later, _ = summaries.merged(db, "churn", 1, START + 2 * MINUTE)
    assert later["age"].sum() == 600, "a window merges only its own minutes"


def test_only_sampled_successful_rows_of_a_version_with_a_profile_are_summarized(app: TestClient) -> None:
    recorder = app.app.state.recorder  # type: ignore[attr-defined]
    db = app.app.state.db  # type: ignore[attr-defined]
    frame, _ = population(10, seed=8)
    kept = records(frame, [0] * 10, 1, START)
    unsampled = [r.model_copy(update={"inputs": None, "output": None, "request_id": r.request_id + "u"})
                 for r in kept]
    failed = [r.model_copy(update={"status": RecordStatus.ERROR, "request_id": r.request_id + "f"}) for r in kept]
    without_profile = records(frame, [0] * 10, 2, START)
    recorder.submit([*kept, *unsampled, *failed, *without_profile])
    assert recorder.flush()
    counts, predicted = summaries.merged(db, "churn", 1, 0)
    assert {name: int(c.sum()) for name, c in counts.items()} == dict.fromkeys(frame.columns, 10)
    assert predicted is not None and predicted.tolist()[:2] == [10, 0]
    assert summaries.merged(db, "churn", 2, 0) == ({}, None)
    with db.read() as conn:
        assert conn.execute("SELECT count(*) FROM predictions").fetchone()[0] == 40


def test_a_training_job_leaves_the_profile_and_registration_stores_it(live_server: LiveServer) -> None:
    with Client(live_server.url, token="", user="drift") as client:
        dataset, model = unique("churn"), unique("churn-drift")
        client.add_dataset_version(dataset, "churn.csv", CHURN.read_bytes())
        train(client, dataset, f'[register]\nname = "{model}"\n[monitor]\nmin_rows = 50\n')
        answer = httpx.get(f"{live_server.url}/api/v1/models/{model}/versions/1")
        assert answer.status_code == 200 and "profile_json" not in answer.json(), "the profile is read on its own"
    db = Database(live_server.db_path)
    with db.read() as conn:
        text = version_profile(conn, model, 1)
    assert text is not None
    stored = json.loads(text)
    churn = pd.read_csv(CHURN)
    assert {"tenure_months", "plan", "monthly_charges"} <= set(stored["features"])
    assert stored["features"]["plan"]["values"][:3] and set(stored["features"]["plan"]["values"]) <= \
        set(churn["plan"].dropna().astype(str))
    assert stored["reference_rows"] + stored["holdout_rows"] == len(churn)
    assert sum(stored["features"]["tenure_months"]["counts"]) == stored["reference_rows"]
    assert stored["calibration"]["confidence"]["x"] and math.isclose(
        sum(stored["prediction"]["counts"]), stored["holdout_rows"])
    assert np.all(np.diff(stored["calibration"]["confidence"]["y"]) >= 0)
