"""Feedback, live performance (against sklearn.metrics), monitor windows, the default alias and the
overview's health lines, on the real app with a real SQLite file and a registered real pipeline;
records are submitted to the recorder as the predict route leaves them."""
from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import CLIENT_HEADERS, unique
from fastapi.testclient import TestClient
from monitoring_support import MINUTE, register_model, request
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, roc_auc_score

from backend import Settings, create_app
from backend.monitoring import recorder as recorder_module
from backend.monitoring.latency import Traffic
from backend.monitoring.performance import Labeled, live_metrics
from backend.monitoring.recorder import FLUSH_SECONDS, Recorder
from backend.monitoring.rollup import minute_of
from backend.services import monitoring as monitoring_service
from mlops_tui.contract import now_ms
from mlops_tui.contract.monitoring import PredictionRecord


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    home = tmp_path_factory.mktemp("monitor-home")
    app = create_app(Settings(home=home, token=None))
    with TestClient(app, raise_server_exceptions=False, headers=CLIENT_HEADERS) as client:
        yield client


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model")


def record(client: TestClient, records: list[PredictionRecord]) -> None:
    recorder: Recorder = client.app.state.recorder  # type: ignore[attr-defined]
    recorder.submit(records)
    assert recorder.flush()


# --- performance against sklearn ------------------------------------------------------------------


def test_binary_performance_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 300)
    proba = np.clip(truth * 0.4 + rng.uniform(0, 0.6, 300), 0, 1)
    predicted = (proba > 0.5).astype(int)
    rows = [Labeled(int(p), [1 - float(s), float(s)], int(t)) for p, s, t in zip(predicted, proba, truth, strict=True)]
    found = live_metrics(rows, "classification")
    assert found["accuracy"] == pytest.approx(accuracy_score(truth, predicted), abs=1e-12)
    assert found["f1"] == pytest.approx(f1_score(truth, predicted, pos_label=1), abs=1e-12)
    assert found["roc_auc"] == pytest.approx(roc_auc_score(truth, proba), abs=1e-12)
    as_zero = live_metrics(rows, "classification", pos_label=0)  # the pipeline's evaluate.pos_label
    assert as_zero["f1"] == pytest.approx(f1_score(truth, predicted, pos_label=0), abs=1e-12)


def test_multiclass_performance_is_macro_and_one_vs_rest() -> None:
    rng = np.random.default_rng(2)
    classes = ["a", "b", "c"]
    scores = rng.dirichlet([1, 1, 1], 400)
    truth = [classes[int(np.argmax(s + rng.normal(0, 0.3, 3)))] for s in scores]
    predicted = [classes[int(np.argmax(s))] for s in scores]
    rows = [Labeled(p, list(map(float, s)), t) for p, s, t in zip(predicted, scores, truth, strict=True)]
    found = live_metrics(rows, "classification", classes=classes)
    assert found["f1"] == pytest.approx(f1_score(truth, predicted, average="macro"), abs=1e-12)
    assert found["roc_auc"] == pytest.approx(roc_auc_score(truth, scores, multi_class="ovr", labels=classes),
                                             abs=1e-12)
    without_proba = live_metrics([Labeled(r.output, None, r.label) for r in rows], "classification")
    assert "roc_auc" not in without_proba and without_proba["accuracy"] == found["accuracy"]


def test_regression_performance_matches_sklearn() -> None:
    rng = np.random.default_rng(3)
    truth, predicted = rng.normal(10, 3, 200), rng.normal(10, 3, 200)
    found = live_metrics([Labeled(float(p), None, float(t)) for p, t in zip(predicted, truth, strict=True)],
                         "regression")
    assert found == pytest.approx({"rmse": math.sqrt(mean_squared_error(truth, predicted)),
                                   "mae": mean_absolute_error(truth, predicted)}, abs=1e-12)


# --- feedback -------------------------------------------------------------------------------------


def test_feedback_gives_live_performance_over_the_window(client: TestClient, folder: Path) -> None:
    name = register_model(client, folder)
    other = register_model(client, folder)
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 2, 60)
    proba = np.clip(truth * 0.3 + rng.uniform(0, 0.7, 60), 0, 1)
    predicted = (proba > 0.5).astype(int).tolist()
    records = request(name, 3.0, rows=60, outputs=predicted, probabilities=[[1 - p, p] for p in proba.tolist()],
                      inputs=[{"a": 0.0, "b": 0.0}] * 60)
    unsampled = request(name, 3.0, rows=5)  # counted in traffic, not kept: a label for it is stored, not scored
    elsewhere = request(other, 3.0)
    record(client, records + unsampled + elsewhere)
    labels = [{"request_id": r.request_id, "label": int(t)} for r, t in zip(records, truth, strict=True)]
    labels += [{"request_id": r.request_id, "label": 1} for r in unsampled]
    labels += [{"request_id": elsewhere[0].request_id, "label": 1}, {"request_id": "nobody", "label": 0}]
    answer = client.post(f"/api/v1/models/{name}/feedback", json={"labels": labels})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 65, "unknown": [elsewhere[0].request_id, "nobody"]}

    status = client.get(f"/api/v1/models/{name}/monitor", params={"window": "15m"}).json()
    performance = status["performance"]
    assert performance["task"] == "classification" and performance["labeled"] == 60
    assert performance["actual"] == pytest.approx({
        "accuracy": accuracy_score(truth, predicted), "f1": f1_score(truth, predicted),
        "roc_auc": roc_auc_score(truth, proba)}, abs=1e-12)
    assert (status["requests"], status["rows"], status["sampled_rows"]) == (2, 65, 60)


def test_a_label_sent_right_after_its_prediction_is_found(client: TestClient, folder: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The recorder's next beat is far away: the records are still queued when their labels arrive."""
    name = register_model(client, folder)
    monkeypatch.setattr(recorder_module, "FLUSH_SECONDS", 60.0)
    time.sleep(FLUSH_SECONDS + 0.2)  # the writer thread is now in a 60 s wait
    records = request(name, 1.0, rows=3, outputs=[1, 0, 1])
    client.app.state.recorder.submit(records)  # type: ignore[attr-defined]
    answer = client.post(f"/api/v1/models/{name}/feedback",
                         json={"labels": [{"request_id": r.request_id, "label": 1} for r in records]})
    assert answer.json() == {"accepted": 3, "unknown": []}


@pytest.mark.parametrize("label", [None, {"a": 1}, [1], "x" * 201])
def test_a_label_that_is_not_a_class_or_number_is_refused(client: TestClient, folder: Path, label: object) -> None:
    name = register_model(client, folder)
    answer = client.post(f"/api/v1/models/{name}/feedback",
                         json={"labels": [{"request_id": "r1", "label": 1}, {"request_id": "r2", "label": label}]})
    assert answer.status_code == 422 and answer.json()["field"] == "labels[1].label"


def test_feedback_for_a_model_that_does_not_exist_is_404(client: TestClient) -> None:
    answer = client.post(f"/api/v1/models/{unique('nope')}/feedback",
                         json={"labels": [{"request_id": "r", "label": 1}]})
    assert answer.status_code == 404 and answer.json()["field"] == "name"


# --- windows --------------------------------------------------------------------------------------


def test_windows_count_their_own_traffic(client: TestClient, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = register_model(client, folder)
    now = now_ms()
    monkeypatch.setattr(monitoring_service, "now_ms", lambda: now)  # no minute boundary passes mid-test
    old = request(name, 40.0, rows=2, time=now - 30 * MINUTE)
    recent = request(name, 5.0, time=now - 5 * MINUTE) + request(name, 7.0, time=now - 5 * MINUTE, failed=True)
    latest = request(name, 9.0, rows=3, time=now)
    record(client, old + recent + latest)

    def status(window: str) -> dict[str, object]:
        answer = client.get(f"/api/v1/models/{name}/monitor", params={"window": window})
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    short, hour, rows = status("15m"), status("1h"), status("4r")
    assert (short["requests"], short["errors"], short["rows"]) == (3, 1, 4)
    assert (hour["requests"], hour["errors"], hour["rows"]) == (4, 1, 6)
    assert short["since"] == minute_of(now - 15 * MINUTE) and short["window"] == "15m"
    assert (rows["requests"], rows["errors"], rows["rows"]) == (3, 1, 4)  # the last 4 rows: latest's 3 + the failed
    expected = Traffic()
    for latency in (5.0, 7.0, 9.0):
        expected.add(latency, 1, False)
    assert short["latency_ms"] == {"p50": expected.quantile(0.5), "p95": expected.quantile(0.95),
                                   "p99": expected.quantile(0.99)}
    assert hour["requests_per_second"] == pytest.approx(4 / ((now - hour["since"]) / 1000))  # type: ignore[operator]
    series = hour["series"]
    assert isinstance(series, list) and len(series) == 60
    assert [p["minute"] for p in series] == [minute_of(now) - (59 - i) * MINUTE for i in range(60)]
    by_minute = {p["minute"]: p for p in series}
    assert by_minute[minute_of(now - 30 * MINUTE)]["requests"] == 1
    assert by_minute[minute_of(now - 30 * MINUTE)]["p50"] == pytest.approx(40.0, rel=0.1)
    assert by_minute[minute_of(now - 5 * MINUTE)]["errors"] == 1
    assert sum(p["requests"] for p in series) == 4
    quiet = by_minute[minute_of(now - 20 * MINUTE)]
    assert (quiet["requests"], quiet["errors"], quiet["p95"]) == (0, 0, None)


@pytest.mark.parametrize("window", ["15", "0m", "1w", "-1h", "1234567m", "m"])
def test_a_bad_window_is_422_naming_window(client: TestClient, folder: Path, window: str) -> None:
    name = register_model(client, folder)
    answer = client.get(f"/api/v1/models/{name}/monitor", params={"window": window})
    assert answer.status_code == 422 and answer.json()["field"] == "window"


def test_the_default_alias_is_production_else_the_only_one(client: TestClient, folder: Path) -> None:
    both = register_model(client, folder, aliases=("staging", "production"))
    record(client, request(both, 1.0, alias="staging"))
    assert client.get(f"/api/v1/models/{both}/monitor").json()["alias"] == "production"
    staged = client.get(f"/api/v1/models/{both}/monitor", params={"alias": "staging"}).json()
    assert (staged["alias"], staged["requests"]) == ("staging", 1)
    only = register_model(client, folder, aliases=("canary",))
    assert client.get(f"/api/v1/models/{only}/monitor").json()["alias"] == "canary"
    several = register_model(client, folder, aliases=("canary", "staging"))
    answer = client.get(f"/api/v1/models/{several}/monitor")
    assert answer.status_code == 422 and answer.json()["field"] == "alias"
    bare = register_model(client, folder, aliases=())
    answer = client.get(f"/api/v1/models/{bare}/monitor")
    assert answer.status_code == 422 and answer.json()["field"] == "alias"
    answer = client.get(f"/api/v1/models/{only}/monitor", params={"alias": "production"})
    assert answer.status_code == 404 and answer.json()["field"] == "alias"
    answer = client.get(f"/api/v1/models/{unique('nope')}/monitor")
    assert answer.status_code == 404 and answer.json()["field"] == "name"


def test_health_lines_cover_the_last_five_minutes(client: TestClient, folder: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    name = register_model(client, folder)
    now = now_ms()
    monkeypatch.setattr(monitoring_service, "now_ms", lambda: now)
    record(client, request(name, 100.0, time=now - 30 * MINUTE) + request(name, 2.0, time=now)
           + request(name, 4.0, time=now - MINUTE) + request(name, 6.0, time=now, failed=True))
    lines = {(h["model"], h["alias"]): h for h in client.get("/api/v1/monitoring/health").json()["models"]}
    line = lines[(name, "production")]
    assert line["version"] == 1 and line["error_rate"] == pytest.approx(1 / 3)
    expected = Traffic()
    for latency in (2.0, 4.0, 6.0):
        expected.add(latency, 1, False)
    assert line["p95_ms"] == expected.quantile(0.95)
    since = minute_of(now) - 4 * MINUTE
    assert line["requests_per_second"] == pytest.approx(3 / ((now - since) / 1000))
    assert line["drifting"] == 0
