"""`bench/load.py` smoke run: a short steady load and two SIGKILLs of the server under load, through the
real bench (a real server, a real training job, real kills and restarts on the same home). Checks the
figures are printed and sane: every kind of client got answers, no 5xx, every acknowledged point read
back, none twice, no orphaned worker, and `PRAGMA integrity_check` ok. Timing figures are not checked."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from conftest import ROOT

KINDS = ("log", "search", "predict", "console")


@pytest.fixture(scope="module")
def figures() -> dict[str, dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bench.load", "--seconds", "3", "--clients", "4", "--crash", "2",
         "--crash-interval", "1", "--no-warm-worker"],
        cwd=ROOT, env=env, text=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    return {line["bench"]: line for line in lines}


@pytest.mark.parametrize("phase", ["load", "crash"])
def test_every_acknowledged_point_is_read_back_once_and_no_5xx(figures: dict[str, dict[str, Any]],
                                                                 phase: str) -> None:
    lost, duplicated = figures[f"{phase}: lost writes"], figures[f"{phase}: duplicated writes"]
    assert lost["acknowledged"] > 0 and lost["batches"] > 0
    assert lost["value"] == 0, lost
    assert duplicated["value"] == 0, duplicated
    fives = figures[f"{phase}: 5xx answers"]
    assert fives["value"] == 0, fives
    assert figures[f"{phase}: requests/s"]["value"] > 0


def test_every_kind_of_client_was_answered_in_the_steady_load(figures: dict[str, dict[str, Any]]) -> None:
    for kind in KINDS:
        line = figures[f"load: {kind}"]
        assert line["value"] > 0, line
        assert 0 < line["p50_ms"] <= line["p99_ms"], line
    assert figures["load: 5xx answers"]["errors_by_status"] == {}


def test_the_server_was_killed_twice_and_restarted_on_the_same_home(figures: dict[str, dict[str, Any]]) -> None:
    kills = figures["crash: kills"]
    assert kills["value"] == 2 and kills["restart_max_s"] > 0
    assert figures["crash: killed servers' children still running"]["value"] == 0
    assert figures["integrity_check"]["result"] == "ok"


def test_the_servers_memory_was_sampled(figures: dict[str, dict[str, Any]]) -> None:
    memory = figures["load: server peak memory"]
    assert 20 < memory["server_mb"] <= memory["value"] + 0.1, memory  # rounded to 0.1 MB
    assert memory["target"] == "<= 500 MB"
