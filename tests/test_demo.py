"""`make demo` headless, end to end: the loop closes (drift → alert → retrain on the newer data → gates →
staging and production → the alert resolves), the webhook receiver prints the events, and nothing is left
running. It takes one to two minutes of two cores (a backend, two training jobs, 12,000 replayed rows), more
than the suite's budget for it, so it runs only with `MLOPS_TEST_DEMO=1`:

    MLOPS_TEST_DEMO=1 .venv/bin/python -m pytest -q tests/test_demo.py
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from mlops_tui.embedded import locate_server

pytestmark = pytest.mark.skipif(os.environ.get("MLOPS_TEST_DEMO") != "1",
                                reason="the whole demo takes minutes: set MLOPS_TEST_DEMO=1 to run it")

IN_ORDER = (
    "1. logging 3 scikit-learn runs",
    "the same from an unmodified MLflow script",
    "registered churn-mlflow version 1, alias production",
    "models:/churn-mlflow@production predicts",
    "$ mlops models show churn-mlflow",
    "$ mlops pipeline run sample_data/churn_loop_pipeline.toml --promote production",
    "moved churn-classifier@production: - → v1",
    "3. serving:",
    "stored churn@2",
    "webhook> alert.opened churn-classifier charges-drift: monthly_charges drifted",
    "on churn@2",
    "gates of v2 for production (champion v1",
    "retrain promoted: version 2, moved staging, production",
    "churn-classifier: production -> v2, staging -> v2",
    "5. recovery:",
    "RESOLVED by system: cleared: monthly_charges within bounds",
    "the loop closed",
    "(no terminal: the demo backend was stopped)",
)
"""Lines of the demo's output, each after the one before (the webhook lines arrive when they arrive)."""


def test_the_demo_closes_the_loop_headless_and_exits_0(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    env = {**os.environ, "MLOPS_DEMO_HOME": str(home), "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    env.pop("MLOPS_URL", None)
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py")], cwd=ROOT, env=env, text=True,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    assert done.returncode == 0, done.stdout[-6000:]
    position = 0
    for line in IN_ORDER:
        found = done.stdout.find(line, position)
        assert found >= 0, f"{line!r} not after position {position}:\n{done.stdout[position - 2000:][:6000]}"
        position = found
    for event in ("webhook> model.registered churn-classifier/2 by job:",
                  "webhook> alias.moved churn-classifier@staging: None -> 2 (promote by retrain:",
                  "webhook> alias.moved churn-classifier@production: 1 -> 2 (promote by retrain:",
                  "webhook> alert.resolved churn-classifier charges-drift"):
        assert event in done.stdout, event
    assert "webhook> rejected" not in done.stdout  # every signature verified
    assert locate_server(home) == (None, None)  # the backend was stopped (and its pid file removed)
