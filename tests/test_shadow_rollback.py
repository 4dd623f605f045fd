"""The rollback watch on the real app with real churn classifiers: a move of `production` made by a retrain
(actor `retrain:<id>`) followed by error-heavy or wrong-label live traffic is rolled back, opens one
critical `rollback` alert and marks the retrain `rolled_back`; a move by a person never is; and a second
round never rolls the same move back again."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
from conftest import unique
from fastapi.testclient import TestClient
from registry_support import run_with_files
from serving_support import Trained
from test_shadow import churn_app, post_rows

from backend import Settings
from backend.automation import shadowing
from mlops_tui import Client
from mlops_tui.contract import now_ms

POLICY = {"rollback_window": "1h", "shadow_min_rows": 20, "max_regression": 0.05, "auto_promote": True}


@dataclass
class Watched:
    http: TestClient
    settings: Settings
    champion: Trained
    other: Trained

    @property
    def db(self) -> Any:
        return self.http.app.state.db  # type: ignore[attr-defined]

    def client(self, user: str) -> Client:
        return Client(url="http://testserver", transport=self.http._transport, user=user)

    def model(self, *versions: Trained) -> str:
        """A model whose versions are `versions`, each registered with a pipeline file holding `POLICY`."""
        name = unique("watched")
        alice = self.client("alice")
        for found in versions:
            pipeline = {"name": name, "task": "classification", "retrain": POLICY}
            files = {**found.files, "pipeline.json": json.dumps(pipeline).encode()}
            alice.register_version(name, run_with_files(alice, files))
        return name

    def promote(self, name: str, version: int, user: str) -> None:
        self.client(user).promote(name, version, "production", force=True, reason="rollback tests")

    def retrain(self, name: str) -> str:
        """A retrain row, as the retrain part leaves one before it promotes (actor `retrain:<id>`)."""
        retrain_id = unique("rt")
        now = now_ms()
        with self.db.write() as conn:
            conn.execute("INSERT INTO retrains (id, name, trigger, status, actor, version, created_at, updated_at) "
                         "VALUES (?, ?, 'manual', 'promoted', 'tests', 2, ?, ?)", (retrain_id, name, now, now))
        return retrain_id

    def send(self, name: str, frame: pd.DataFrame, batch: int = 1) -> list[dict[str, Any]]:
        """The rows through production, `batch` a request; refused requests are sent too (their answers left out)."""
        answers = []
        for start in range(0, len(frame), batch):
            response = post_rows(self.http, name, frame.iloc[start:start + batch])
            if response.status_code == 200:
                answers.append(response.json())
        return answers

    def label(self, name: str, answers: list[dict[str, Any]], right: bool) -> None:
        classes = self.champion.pipeline.classes_.tolist()
        pairs = [pair for answer in answers for pair in zip(answer["request_ids"], answer["predictions"], strict=True)]
        labels = [{"request_id": rid, "label": value if right else next(c for c in classes if c != value)}
                  for rid, value in pairs]
        assert self.client("alice").send_feedback(name, labels).accepted == len(labels)

    def production(self, name: str) -> int:
        return self.client("alice").get_model(name).aliases["production"]

    def watch(self) -> list[shadowing.RolledBack]:
        self.http.app.state.recorder.flush()  # type: ignore[attr-defined]
        return shadowing.watch(self.db, self.settings, now_ms())

    def rollback_alerts(self, name: str) -> list[tuple[Any, ...]]:
        """The model's alerts as `mlops alerts list` reads them: (kind, severity, status, version)."""
        return [(a.kind, a.severity, a.status, a.version) for a in self.client("alice").list_alerts(model=name).alerts
                if a.rule == shadowing.RULE]


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    with churn_app(tmp_path_factory.mktemp("rollback")) as (http, settings, champion, other):
        yield Watched(http, settings, champion, other)


def test_errors_after_an_automatic_promotion_roll_back_once(watched: Watched) -> None:
    name = watched.model(watched.champion, watched.champion, watched.champion)
    watched.promote(name, 1, "alice")
    watched.promote(name, 2, "alice")
    rows = watched.champion.x_test.iloc[:60]
    watched.send(name, rows.iloc[:30])
    retrain_id = watched.retrain(name)
    watched.promote(name, 3, f"retrain:{retrain_id}")
    assert watched.watch() == []  # no traffic since the move yet: nothing to judge
    watched.send(name, rows.iloc[30:35])
    watched.send(name, rows.iloc[35:60].drop(columns=["plan"]))  # refused: 25 errors in 30 requests
    rolled = watched.watch()
    assert [(r.model, r.from_version, r.to_version, r.error) for r in rolled] == [(name, 3, 2, None)]
    assert rolled[0].reason.startswith("error rate 83.3% since the move against 0.0% before it"), rolled[0].reason
    assert watched.production(name) == 2
    assert watched.rollback_alerts(name) == [("rollback", "critical", "open", 3)]
    alert = watched.client("alice").get_alert(str(rolled[0].alert_id))
    assert "rolled back from version 3 to 2" in alert.message and "error rate" in alert.message
    with watched.db.read() as conn:
        status, reason = conn.execute("SELECT status, reason FROM retrains WHERE id = ?", (retrain_id,)).fetchone()
    assert status == "rolled_back" and reason.startswith("rolled back to version 2: error rate"), reason
    # the next rounds see the same regressed traffic and never roll that move back again
    watched.send(name, rows.iloc[:5])
    assert watched.watch() == [] and watched.watch() == []
    assert watched.production(name) == 2
    events = watched.client("alice").model_events(name, alias="production").events
    assert [(e.action, e.actor) for e in events if e.action == "rollback"] == [("rollback", shadowing.ACTOR)]
    assert len(watched.rollback_alerts(name)) == 1


def test_a_promotion_by_a_person_is_never_rolled_back(watched: Watched) -> None:
    name = watched.model(watched.champion, watched.champion)
    watched.promote(name, 1, "alice")
    rows = watched.champion.x_test.iloc[:60]
    watched.send(name, rows.iloc[:30])
    watched.promote(name, 2, "bob")
    watched.send(name, rows.iloc[30:60].drop(columns=["plan"]))
    assert watched.watch() == []
    assert watched.production(name) == 2 and watched.rollback_alerts(name) == []


def test_wrong_labels_after_an_automatic_promotion_roll_back_through_the_controller(watched: Watched) -> None:
    name = watched.model(watched.champion, watched.other)
    watched.promote(name, 1, "alice")
    rows = watched.champion.x_test.iloc[:80]
    watched.label(name, watched.send(name, rows.iloc[:40], batch=10), right=True)
    retrain_id = watched.retrain(name)
    watched.promote(name, 2, f"retrain:{retrain_id}")
    watched.label(name, watched.send(name, rows.iloc[40:80], batch=10), right=False)
    watched.http.app.state.recorder.flush()  # type: ignore[attr-defined]
    watched.http.app.state.controller.run_once(now_ms())  # type: ignore[attr-defined]
    assert watched.production(name) == 1
    assert watched.rollback_alerts(name) == [("rollback", "critical", "open", 2)]
    with watched.db.read() as conn:
        reason = conn.execute("SELECT reason FROM retrains WHERE id = ?", (retrain_id,)).fetchone()[0]
    assert "live accuracy 0.000 since the move against 1.000 before it (40 and 40 labeled rows" in reason, reason
