"""Shadow deployments on the real app (its SQLite file, its recorder and shadow threads) with real churn
classifiers trained the way a training job trains them: the alias answers exactly as without a shadow;
the shadow's rows are stored off the request path and compared (agreement, latency, errors, actual
performance from feedback); a full queue drops without failing a request; `judge` says waiting, ok or
regressed and why."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from conftest import CLIENT_HEADERS, unique
from fastapi.testclient import TestClient
from registry_support import run_with_files, tiny_model_files
from serving_support import CHURN_MODEL, CHURN_TOML, Trained, register, train
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from backend import Settings, create_app
from backend.monitoring import profile as monitoring_profile
from backend.pipelines import model_io
from backend.services import shadow
from backend.serving import shadow as served
from mlops_tui import Client

OTHER_MODEL = '[[models]]\nestimator = "LogisticRegression"\nparams = { C = [0.001], max_iter = 500 }\ncv = 0\n'
"""Heavily regularised: it disagrees with CHURN_MODEL on about a quarter of the holdout rows."""
BATCH = 10


@dataclass
class Shadowed:
    http: TestClient
    client: Client
    champion: Trained
    other: Trained
    tiny: dict[str, bytes]

    @property
    def db(self) -> Any:
        return self.http.app.state.db  # type: ignore[attr-defined]

    @property
    def runner(self) -> served.ShadowRunner:
        return self.http.app.state.serving.shadows  # type: ignore[attr-defined, no-any-return]

    def model(self, *versions: Trained | dict[str, bytes]) -> str:
        """A new model: version 1 the champion (in production), then `versions` in order."""
        name, _ = register(self.client, self.champion, unique("shadowed"))
        self.client.promote(name, 1, "production", force=True, reason="shadow tests")
        for found in versions:
            files = found if isinstance(found, dict) else found.files
            self.client.register_version(name, run_with_files(self.client, files))
        return name

    def send(self, name: str, frame: pd.DataFrame, proba: bool = False) -> list[dict[str, Any]]:
        """The frame's rows through `name@production`, `BATCH` a request: the answers."""
        answers = []
        for start in range(0, len(frame), BATCH):
            response = post_rows(self.http, name, frame.iloc[start:start + BATCH], proba)
            assert response.status_code == 200, response.text
            answers.append(response.json())
        return answers

    def compared(self, name: str) -> Any:
        assert self.runner.flush(timeout=30)
        return self.client.shadow(name)


@contextmanager
def churn_app(folder: Path) -> Iterator[tuple[TestClient, Settings, Trained, Trained]]:
    """The started app on a fresh home (its timers off: tests run their rounds), every row's inputs and
    outputs kept, and two real churn classifiers: CHURN_MODEL's and OTHER_MODEL's."""
    champion = train(CHURN_TOML, CHURN_MODEL, folder / "champion")
    other = train(CHURN_TOML, OTHER_MODEL, folder / "other")
    settings = Settings(home=folder / "home", token=None, automation=False, monitor_full_rate=1e9)
    with TestClient(create_app(settings), raise_server_exceptions=False, headers=CLIENT_HEADERS) as http:
        yield http, settings, champion, other


def post_rows(http: TestClient, name: str, rows: pd.DataFrame, proba: bool = False) -> Any:
    """The rows through `name@production` in one request (dataframe_split)."""
    payload = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
    return http.post(f"/api/v1/models/{name}/aliases/production/predict" + ("?proba=true" if proba else ""),
                     content=orjson.dumps(payload), headers={"content-type": "application/json"})


@pytest.fixture(scope="module")
def shadowed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shadowed]:
    folder = tmp_path_factory.mktemp("shadow")
    with churn_app(folder) as (http, _, champion, other):
        client = Client(url="http://testserver", transport=http._transport)
        yield Shadowed(http, client, champion, other, tiny_model_files(folder / "tiny"))


def predictions(answers: list[dict[str, Any]]) -> list[Any]:
    return [value for answer in answers for value in answer["predictions"]]


def test_the_alias_answers_the_same_with_a_shadow_and_the_same_model_agrees(shadowed: Shadowed) -> None:
    name = shadowed.model(shadowed.champion)
    rows = shadowed.champion.x_test.iloc[:200]
    before = shadowed.send(name, rows, proba=True)
    shadow.start(shadowed.db, name, 2)
    during = shadowed.send(name, rows, proba=True)
    assert [(a["predictions"], a["probabilities"], a["model_version"]) for a in during] == \
        [(a["predictions"], a["probabilities"], a["model_version"]) for a in before]
    assert predictions(during) == shadowed.champion.pipeline.predict(rows).tolist()
    found = shadowed.compared(name)
    assert (found.alias, found.shadow_alias, found.champion.version, found.shadow.version) == \
        ("production", "staging", 1, 2)
    assert found.rows == 200 and found.champion.rows == 200 and found.shadow.rows == 200
    assert found.agreement == 1.0
    assert found.champion.errors == 0 and found.shadow.errors == 0
    assert found.champion.latency_p50_ms is not None and found.shadow.latency_p95_ms is not None
    assert found.verdict == "ok", found.reason  # 200 rows >= the default shadow_min_rows (100)
    with shadowed.db.read() as conn:  # the champion's answers, stored beside the shadow's, by request id
        stored = dict(conn.execute("SELECT request_id, champion_output FROM shadow_rows").fetchall())
    assert [json.loads(stored[i]) for a in during for i in a["request_ids"]] == predictions(during)
    shadow.stop(shadowed.db, name)
    shadowed.send(name, rows.iloc[:20])  # no longer shadowed: nothing more is stored
    assert shadowed.runner.flush(timeout=30)
    with shadowed.db.read() as conn:
        assert conn.execute("SELECT count(*) FROM shadow_rows").fetchone()[0] == len(stored)
    missing = shadowed.http.get(f"/api/v1/models/{name}/shadow")
    assert missing.status_code == 404 and missing.json()["field"] == "alias"


def test_a_different_model_disagrees_and_labels_give_both_sides_actual_performance(shadowed: Shadowed) -> None:
    name = shadowed.model(shadowed.other)
    shadow.start(shadowed.db, name, 2, retrain_id="r-1")
    rows = shadowed.champion.x_test.iloc[:300]
    answers = shadowed.send(name, rows)
    theirs = shadowed.other.pipeline.predict(rows).tolist()
    ours = predictions(answers)
    expected = sum(a == b for a, b in zip(ours, theirs, strict=True)) / len(ours)
    found = shadowed.compared(name)
    assert found.agreement == pytest.approx(expected) and found.agreement < 0.95
    assert found.champion.actual == {} and found.shadow.labeled == 0
    assert found.champion.estimated == {}  # these models were saved without a calibration profile
    # labels for the champion's request ids: the champion's own answers, so it scores 1.0 and the shadow
    # scores its agreement
    labels = [{"request_id": rid, "label": value}
              for answer in answers for rid, value in zip(answer["request_ids"], answer["predictions"], strict=True)]
    assert shadowed.client.send_feedback(name, labels).accepted == len(labels)
    found = shadowed.client.shadow(name)
    assert found.champion.labeled == found.shadow.labeled == 300
    assert found.champion.actual["accuracy"] == 1.0
    assert found.shadow.actual["accuracy"] == pytest.approx(expected)
    assert found.verdict == "regressed" and "actual accuracy" in found.reason, found.reason
    verdict = shadow.judge(shadowed.db, name, 2, found.since, min_rows=100, max_regression=0.02)
    assert verdict.state == "regressed" and "actual accuracy" in verdict.reason
    lenient = shadow.judge(shadowed.db, name, 2, found.since, min_rows=100, max_regression=1 - expected + 0.01)
    assert lenient.state == "ok", lenient.reason
    shadow.stop(shadowed.db, name)


def test_judge_waits_for_rows_then_says_ok_or_regressed_on_errors(shadowed: Shadowed) -> None:
    name = shadowed.model(shadowed.champion, shadowed.tiny)
    since = int(time.time() * 1000) - 1
    assert shadow.judge(shadowed.db, name, 2, since, 10, 0.02).state == "waiting"  # never shadowed
    shadow.start(shadowed.db, name, 2)
    shadowed.send(name, shadowed.champion.x_test.iloc[:50])
    assert shadowed.runner.flush(timeout=30)
    waiting = shadow.judge(shadowed.db, name, 2, since, 60, 0.02)
    assert (waiting.state, waiting.reason) == ("waiting", "50 of 60 rows compared")
    assert shadow.judge(shadowed.db, name, 2, since, 50, 0.02).state == "ok"
    # version 3 reads columns `a` and `b`, which churn requests do not carry: it fails every request
    shadow.start(shadowed.db, name, 3)
    since = int(time.time() * 1000) - 1
    answers = shadowed.send(name, shadowed.champion.x_test.iloc[:50])
    assert all(a["model_version"] == 1 for a in answers)
    assert shadowed.runner.flush(timeout=30)
    judged = shadow.judge(shadowed.db, name, 3, since, 5, 0.02)
    assert judged.state == "regressed" and judged.reason.startswith("error rate 100.0%"), judged.reason
    found = shadowed.client.shadow(name)
    assert (found.rows, found.shadow.errors, found.champion.errors, found.shadow.rows) == (0, 5, 0, 0)
    shadow.stop(shadowed.db, name)


def test_a_full_queue_drops_shadow_work_and_never_fails_a_request(tmp_path: Any, monkeypatch: Any) -> None:
    """The app is not started (no lifespan), so the shadow thread never takes from its queue: a stuck
    shadow. Requests past the queue's size are still answered, by the champion, and counted as dropped."""
    monkeypatch.setattr(served, "QUEUE_REQUESTS", 3)
    http = TestClient(create_app(Settings(home=tmp_path / "home", token=None)), raise_server_exceptions=False,
                      headers=CLIENT_HEADERS)
    client = Client(url="http://testserver", transport=http._transport)
    files = tiny_model_files(tmp_path / "tiny")
    name = unique("stuck")
    for _ in range(2):
        client.register_version(name, run_with_files(client, files))
    client.promote(name, 1, "production", force=True, reason="shadow tests")
    shadow.start(http.app.state.db, name, 2)  # type: ignore[attr-defined]
    rows = {"dataframe_records": [{"a": 0.5, "b": -1.0}, {"a": -0.5, "b": 1.0}]}
    for _ in range(10):
        started = time.perf_counter()
        answer = http.post(f"/api/v1/models/{name}/aliases/production/predict", json=rows)
        assert answer.status_code == 200 and answer.json()["predictions"] == [1, 0]
        assert time.perf_counter() - started < 5
    runner = http.app.state.serving.shadows  # type: ignore[attr-defined]
    assert (runner.dropped, runner._queue.qsize()) == (7, 3)
    http.app.state.db.close()  # type: ignore[attr-defined]  # never started, so never stopped


def test_a_request_the_shadow_refuses_fails_alone_in_its_batch(shadowed: Shadowed, tmp_path: Path) -> None:
    """Version 2 also reads a number `c` (the champion ignores it): the requests whose `c` is text fail for
    the shadow only; batched with good ones, each is still judged on its own."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40), "c": rng.normal(size=40)})
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    model_io.save(pipeline.fit(frame, frame["a"] > 0), tmp_path, model_io.signature(frame), {"features": {}})
    name = unique("shadowed")
    shadowed.client.register_version(name, run_with_files(shadowed.client, shadowed.tiny))
    shadowed.client.promote(name, 1, "production", force=True, reason="shadow tests")
    shadowed.client.register_version(name, run_with_files(shadowed.client, {
        f"model/{path.name}": path.read_bytes() for path in sorted(tmp_path.iterdir())}))
    shadow.start(shadowed.db, name, 2)
    for index in range(20):
        rows = [{"a": 0.5, "b": -1.0, "c": 1.0 if index % 2 else "oops"}, {"a": -0.5, "b": 1.0, "c": 0.0}]
        answer = shadowed.http.post(f"/api/v1/models/{name}/aliases/production/predict",
                                    json={"dataframe_records": rows})
        assert answer.status_code == 200 and answer.json()["predictions"] == [1, 0]
    found = shadowed.compared(name)
    assert (found.champion.errors, found.shadow.errors, found.rows, found.shadow.rows) == (0, 10, 20, 20)
    assert found.agreement == 1.0
    shadow.stop(shadowed.db, name)


def test_before_labels_the_estimated_accuracy_judges(shadowed: Shadowed) -> None:
    """Each version's profile calibrated on holdout rows labeled as the champion predicts them: the champion
    is estimated right on every row, the other model about as often as it agrees with it. Requests ask no
    probabilities: the champion's are computed off the request path."""
    holdout, live = shadowed.champion.x_test.iloc[:500], shadowed.champion.x_test.iloc[500:800]
    truth = pd.Series(shadowed.champion.pipeline.predict(holdout))
    with_profiles = [{**trained.files, "model/profile.json": json.dumps(monitoring_profile.build(
        holdout, holdout, truth, trained.pipeline, "classification")).encode()}
        for trained in (shadowed.champion, shadowed.other)]
    name = unique("estimated")
    for files in with_profiles:
        shadowed.client.register_version(name, run_with_files(shadowed.client, files))
    shadowed.client.promote(name, 1, "production", force=True, reason="shadow tests")
    shadow.start(shadowed.db, name, 2)
    answers = shadowed.send(name, live)
    assert all("probabilities" not in answer for answer in answers)
    found = shadowed.compared(name)
    agreement = found.agreement
    assert found.champion.labeled == 0 and agreement is not None and agreement < 0.95
    assert found.champion.estimated["accuracy"] > 0.99
    assert found.shadow.estimated["accuracy"] == pytest.approx(agreement, abs=0.1)
    assert found.verdict == "regressed" and found.reason.startswith("estimated accuracy"), found.reason
    shadow.stop(shadowed.db, name)
