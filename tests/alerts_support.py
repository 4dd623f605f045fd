"""What the alert tests share: a model registered through the API whose pipeline file declares
`[[monitor.alerts]]` rules (and whose version carries a real drift profile, built from a real classifier),
traffic with past timestamps posted as replicas post it, and the evaluator driven with an explicit `now`."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
from conftest import unique
from drift_support import classifier, population
from monitoring_support import MINUTE, record_json, register_model, request
from registry_support import tiny_model_files

from backend.monitoring import profile as profile_module
from mlops_tui.contract import now_ms

WINDOW = 5 * MINUTE
START = (now_ms() // (60 * MINUTE) - 48) * 60 * MINUTE
"""An hour's start two days ago: every test's traffic lies after it (well inside the retention)."""


@cache
def drift_profile() -> dict[str, Any]:
    """A real classifier's monitoring profile (churn-like features, calibrated probabilities)."""
    x, y = population(4_000, seed=5)
    model = classifier(x[:3_000], y[:3_000])
    return profile_module.build(x[:3_000], x[3_000:], y[3_000:], model, "classification", seed=1)


def rule(name: str, kind: str, **fields: Any) -> dict[str, Any]:
    """A `[[monitor.alerts]]` table: a 5m window, 1 of 1, a 10m cooldown unless said otherwise."""
    return {"name": name, "kind": kind, "window": "5m", "cooldown": "10m", **fields}


def model_files(folder: Path, rules: list[dict[str, Any]], task: str = "classification",
                with_profile: bool = True) -> dict[str, bytes]:
    """A run's artifacts: a real saved pipeline, its profile, and the pipeline file that declares `rules`."""
    files = tiny_model_files(folder)
    if with_profile:
        files["model/profile.json"] = json.dumps(drift_profile()).encode()
    pipeline = {"task": task, "monitor": {"min_rows": 50, "alerts": rules}}
    files["pipeline.json"] = json.dumps(pipeline).encode()
    return files


def register(client: Any, folder: Path, rules: list[dict[str, Any]], aliases: tuple[str, ...] = ("production",),
             **options: Any) -> str:
    """A model (TestClient) whose version 1 declares `rules`, pointed at by `aliases`."""
    return register_model(client, folder, aliases, unique("alerted"), model_files(folder, rules, **options))


def inputs(rows: int, seed: int, shifted: bool = False) -> list[dict[str, Any]]:
    """Rows drawn like the profile's training data (or with the age moved by 15 years), as JSON sends them."""
    frame, _ = population(rows, seed=seed, age_shift=15.0 if shifted else 0.0)
    return json.loads(pd.DataFrame(frame).to_json(orient="records"))  # type: ignore[no-any-return]


def traffic(client: Any, name: str, start: int, minutes: int, per_minute: int = 20, **fields: Any) -> list[str]:
    """`per_minute` one-row requests in each of `minutes` minutes from `start` (a field given as a list is
    spread over the rows: `inputs`, `outputs`, `probabilities`); their request ids."""
    sent, ids = [], []
    count = minutes * per_minute
    spread = {key: fields.pop(key) for key in ("inputs", "outputs", "probabilities") if key in fields}
    for index in range(count):
        at = start + (index // per_minute) * MINUTE + (index % per_minute) * (MINUTE // per_minute)
        row = {key: [values[index % len(values)]] for key, values in spread.items()}
        records = request(name, fields.get("latency_ms", 5.0), time=at, failed=fields.get("failed", False),
                          alias=fields.get("alias", "production"), **row)
        ids.append(records[0].request_id)
        sent += records
    for chunk in range(0, len(sent), 2_000):
        client.post("/api/v1/monitoring/records", json={"source": "alert-tests",
                                                        "records": record_json(sent[chunk:chunk + 2_000])}
                    ).raise_for_status()
    assert client.app.state.recorder.flush()
    return ids


def alerts_of(client: Any, name: str, status: str | None = None) -> list[dict[str, Any]]:
    params = {"model": name, **({"status": status} if status else {})}
    return client.get("/api/v1/alerts", params=params).raise_for_status().json()["alerts"]  # type: ignore[no-any-return]
