"""Promotion gates: is a model version safe to take an alias? Computed by the backend, now.

`evaluate` returns a `GateReport` (each gate, its threshold, the measured values of the candidate
and of the alias's current holder, pass or fail). The gates:

- integrity: the model file's bytes still match the sha256 recorded at registration (also checked
  before a model is loaded, `load_model`);
- size: the model file under `max_size_mb`;
- (signature, thresholds, champion vs challenger, latency: see the functions below).

Scoring loads models and data: it runs in the calling thread (a route's threadpool worker), never on
the event loop.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from mlops_tui.contract.clock import now_ms
from mlops_tui.contract.registry import AliasPolicy, GateName, GateReport, GateResult

from .. import artifacts
from ..db import Database
from ..errors import Conflict
from ..settings import Settings
from ..store.rows import VersionRow

CHUNK = 1 << 20


def model_file(settings: Settings, version: VersionRow) -> Path:
    """Where the version's model file lives: under its source run's artifact root."""
    root = artifacts.run_root(settings.artifacts_root, version["experiment_id"], version["run_id"])
    return artifacts.resolve_inside(root, version["model_path"], "model_path")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def integrity_problem(settings: Settings, version: VersionRow) -> str | None:
    """Why the version's model file can't be trusted (gone, or its bytes changed), or None."""
    path = model_file(settings, version)
    if not path.is_file():
        return f"{version['name']}/{version['version']}: model file {version['model_path']} is missing"
    found = file_sha256(path)
    if found != version["sha256"]:
        return (f"{version['name']}/{version['version']}: model file changed on disk since registration "
                f"(sha256 {found[:12]}…, registered {version['sha256'][:12]}…)")
    return None


def load_model(settings: Settings, version: VersionRow) -> Any:
    """The version's scikit-learn pipeline, loaded only if its file matches the registered hash."""
    from ..pipelines import model_io

    problem = integrity_problem(settings, version)
    if problem is not None:
        raise Conflict(problem, "version")
    return model_io.load(model_file(settings, version))


def evaluate(settings: Settings, db: Database, candidate: VersionRow, champion: VersionRow | None, alias: str,
             policy: AliasPolicy) -> GateReport:
    """Every gate of `policy` for moving `alias` from `champion` (None: it points nowhere) to
    `candidate`. Never raises for a failed gate: the report says which failed and by how much."""
    started = time.perf_counter()
    gates = [integrity_gate(settings, candidate), size_gate(candidate, policy)]
    return GateReport(model=candidate["name"], alias=alias, candidate_version=candidate["version"],
                      champion_version=champion["version"] if champion else None,
                      passed=all(gate.passed for gate in gates), gates=gates,
                      primary_metric=candidate["primary_metric"], computed_at=now_ms(),
                      seconds=round(time.perf_counter() - started, 3))


def integrity_gate(settings: Settings, candidate: VersionRow) -> GateResult:
    problem = integrity_problem(settings, candidate)
    return GateResult(gate=GateName.INTEGRITY, name="model file sha256", passed=problem is None,
                      threshold=candidate["sha256"][:12], detail=problem or "bytes match the registered sha256")


def size_gate(candidate: VersionRow, policy: AliasPolicy) -> GateResult:
    size_mb = candidate["size_bytes"] / 1e6
    passed = size_mb <= policy.max_size_mb
    over = "" if passed else f", {size_mb - policy.max_size_mb:.2f} MB over"
    return GateResult(gate=GateName.SIZE, name="model size MB", passed=passed, threshold=policy.max_size_mb,
                      candidate=round(size_mb, 3), detail=f"{size_mb:.2f} MB (limit {policy.max_size_mb:g} MB{over})")
