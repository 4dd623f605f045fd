"""Promotion gates: is a model version safe to take an alias? Computed by the backend, now.

`evaluate` returns a `GateReport` (each gate, its threshold, the measured values of the candidate
and of the alias's current holder, pass or fail, and on a failure by how much it missed). The gates:

- integrity: the model file's bytes still match the sha256 recorded at registration (also checked
  before a model is loaded, `load_model`);
- size: the model file under `max_size_mb`;
- signature: every input column the candidate takes is one the current holder takes too, with a
  dtype of the same kind (numbers with numbers, text with text); columns the holder takes that the
  candidate does not need pass (callers keep sending them, the candidate ignores them). A column
  the candidate needs that callers do not send fails. See `backend.pipelines.signature`. A holder
  without a recorded signature promised callers nothing: passes; a candidate without one fails;
- thresholds: every `min_<metric>` / `max_<metric>` of the policy, on scores of the candidate
  computed now on its holdout (never the scores logged at training);
- champion: both versions loaded and scored now with the primary metric on the same rows, the
  candidate's holdout rebuilt from its dataset version and the split its pipeline recorded (the
  champion through the columns of its own signature); the candidate must beat the champion by
  `min_improvement` (for a minimized metric such as rmse or log_loss, lower is better). A holder
  that cannot serve (its file changed or does not load) leaves nothing to beat: passes, saying so;
  one that loads but cannot be scored on those rows fails;
- latency: the p95 of `latency_rows` single-row predictions of the candidate on holdout rows, under
  `max_latency_ms` (CPU time, so a busy machine does not fail a model: `holdout.p95_latency_ms`).

A version without a dataset version and pipeline (registered by hand from an SDK run) cannot be
scored: the thresholds, champion (when the alias has a holder) and latency gates fail saying so; a
forced promotion with a reason stays possible. Each model and the data are loaded once per
evaluation. Scoring loads models and data: it runs in the calling thread (a route's threadpool
worker), never on the event loop.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_tui.contract.clock import now_ms
from mlops_tui.contract.registry import AliasPolicy, GateName, GateReport, GateResult

from .. import artifacts
from ..db import Database
from ..errors import Conflict, DomainError
from ..pipelines import holdout as holdouts
from ..pipelines import signature as signatures
from ..pipelines.holdout import Holdout
from ..settings import Settings
from ..store.rows import VersionRow
from . import datasets

CHUNK = 1 << 20


MLFLOW_FORMAT = "mlflow"


def is_mlflow(version: VersionRow) -> bool:
    """An MLmodel folder registered through the MLflow API: kept and checked, never loaded here."""
    return version.get("model_format") == MLFLOW_FORMAT


def model_file(settings: Settings, version: VersionRow) -> Path:
    """Where the version's model file lives: under its source run's artifact root (an `mlflow` version's
    folder: under the home's artifact root)."""
    if is_mlflow(version):
        return artifacts.resolve_inside(settings.artifacts_root, version["model_path"], "model_path")
    root = artifacts.run_root(settings.artifacts_root, version["experiment_id"], version["run_id"])
    return artifacts.resolve_inside(root, version["model_path"], "model_path")


def not_loaded(version: VersionRow) -> str:
    return (f"{label(version)} is an MLflow model; the backend serves skops pipelines only and never loads "
            f"MLflow models; use `mlflow models serve -m models:/{version['name']}/{version['version']}`")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def integrity_problem(settings: Settings, version: VersionRow) -> str | None:
    """Why the version's model file can't be trusted (gone, or its bytes changed), or None."""
    path = model_file(settings, version)
    if is_mlflow(version):
        if not path.exists():
            return f"{label(version)}: model folder {version['model_path']} is missing"
        found = artifacts.tree_digest(path)[1]
    elif not path.is_file():
        return f"{label(version)}: model file {version['model_path']} is missing"
    else:
        found = file_sha256(path)
    return _changed(version, found)


def _changed(version: VersionRow, found: str) -> str | None:
    """Why bytes hashing to `found` are not the version's registered file, or None when they are."""
    if found != version["sha256"]:
        return (f"{label(version)}: model file changed on disk since registration "
                f"(sha256 {found[:12]}…, registered {version['sha256'][:12]}…)")
    return None


def load_model(settings: Settings, version: VersionRow) -> Any:
    """The version's scikit-learn pipeline, loaded only if its file matches the registered hash: the
    bytes are read once, hashed, and those same bytes loaded (a file swapped in between is never read)."""
    from ..pipelines import model_io

    if is_mlflow(version):
        raise Conflict(not_loaded(version), "version")
    try:
        data = model_file(settings, version).read_bytes()
    except OSError:
        raise Conflict(f"{label(version)}: model file {version['model_path']} is missing", "version") from None
    problem = _changed(version, hashlib.sha256(data).hexdigest())
    if problem is not None:
        raise Conflict(problem, "version")
    return model_io.loads(data)


def label(version: VersionRow) -> str:
    return f"{version['name']}/{version['version']}"


def evaluate(settings: Settings, db: Database, candidate: VersionRow, champion: VersionRow | None, alias: str,
             policy: AliasPolicy) -> GateReport:
    """Every gate of `policy` for moving `alias` from `champion` (None: it points nowhere) to
    `candidate`. Never raises for a failed gate: the report says which failed and by how much."""
    started = time.perf_counter()
    integrity = integrity_problem(settings, candidate)
    evidence = gather(settings, db, candidate, champion, integrity)
    gates = [integrity_gate(candidate, integrity), size_gate(candidate, champion, policy),
             signature_gate(candidate, champion, policy), *threshold_gates(evidence, policy),
             champion_gate(evidence, candidate, champion, alias, policy), latency_gate(evidence, policy)]
    return GateReport(model=candidate["name"], alias=alias, candidate_version=candidate["version"],
                      champion_version=champion["version"] if champion else None,
                      passed=all(gate.passed for gate in gates), gates=gates,
                      data=evidence.holdout.description if evidence.holdout else None,
                      primary_metric=evidence.holdout.metric if evidence.holdout else candidate["primary_metric"],
                      computed_at=now_ms(), seconds=round(time.perf_counter() - started, 3))


# --- what the scoring gates measure on, loaded once ---------------------------------------------


@dataclass
class Evidence:
    """The candidate's holdout and both models, loaded once per evaluation, or why they could not be."""

    holdout: Holdout | None = None
    model: Any = None
    columns: list[str] | None = None
    unscorable: str | None = None
    """Why the candidate cannot be scored (no dataset, a changed file, a holdout that cannot be rebuilt)."""
    champion_model: Any = None
    champion_columns: list[str] | None = None
    champion_problem: str | None = None
    """Why the alias's current holder cannot be scored on the candidate's holdout (its signature is
    unknown or names columns the holdout lacks): the comparison fails."""
    champion_broken: str | None = None
    """Why the current holder cannot serve at all (its file changed or does not load): there is nothing
    to compare against, and replacing it is what the promotion is for."""
    scores: dict[str, float | str] | None = None
    champion_scores: dict[str, float | str] | None = None


def gather(settings: Settings, db: Database, candidate: VersionRow, champion: VersionRow | None,
           integrity: str | None) -> Evidence:
    evidence = Evidence()
    try:
        evidence.holdout, evidence.columns = _candidate_holdout(settings, db, candidate, integrity)
        evidence.model = load_model(settings, candidate)  # the bytes loaded are the bytes hashed
    except _Unscorable as why:
        evidence.unscorable = str(why)
        return evidence
    except Exception as error:  # an unreadable or untrusted file, a scikit-learn that can't load it
        evidence.unscorable = f"{label(candidate)} cannot be loaded: {_message(error)}"
        return evidence
    if champion is not None and not same(candidate, champion):
        try:
            evidence.champion_model = load_model(settings, champion)
        except Conflict as error:  # its file changed since registration
            evidence.champion_broken = error.message
            return evidence
        except Exception as error:  # unreadable, untrusted, or from a scikit-learn that can't load it
            evidence.champion_broken = f"{label(champion)} does not load: {_message(error)}"
            return evidence
        try:
            evidence.champion_columns = _columns(champion, evidence.holdout)
        except _Unscorable as why:
            evidence.champion_problem = str(why)
    return evidence


class _Unscorable(Exception):
    """Why a version cannot be scored on the holdout: a sentence for the report."""


def _candidate_holdout(settings: Settings, db: Database, candidate: VersionRow,
                       integrity: str | None) -> tuple[Holdout, list[str]]:
    if integrity is not None:
        raise _Unscorable(f"cannot be scored: {integrity}")
    if is_mlflow(candidate):
        raise _Unscorable(f"{not_loaded(candidate)}, so it cannot be scored")
    ref, pipeline = candidate["dataset"], candidate.get("pipeline")
    if not ref or not pipeline:
        absent = " and ".join(what for what, value in (("dataset version", ref), ("pipeline", pipeline))
                              if not value)
        raise _Unscorable(f"{label(candidate)} cannot be scored: it has no {absent} (registered from a run "
                          "that recorded none), so there is no holdout to compute scores on; only a forced "
                          "promotion with a reason can move it")
    try:
        frame, _ = datasets.load_frame(db, settings, ref)
        holdout = holdouts.rebuild(pipeline, frame, ref)
    except (DomainError, ValueError, KeyError) as error:
        raise _Unscorable(f"the holdout of {label(candidate)} cannot be rebuilt from {ref}: "
                          f"{_message(error)}") from None
    return holdout, _columns(candidate, holdout)


def _columns(version: VersionRow, holdout: Holdout) -> list[str]:
    """The columns the version is scored through: its own signature's, which the holdout must hold."""
    inputs = signatures.inputs_of(version["signature"])
    if inputs is None:
        raise _Unscorable(f"{label(version)} has no recorded input signature, so it cannot be scored")
    missing = holdouts.missing_columns(holdout, list(inputs))
    if missing:
        raise _Unscorable(f"{label(version)} takes column(s) the holdout lacks ({holdout.description}): "
                          f"{', '.join(missing)}")
    return list(inputs)


def _message(error: BaseException) -> str:
    return str(getattr(error, "message", None) or error or type(error).__name__)


def same(a: VersionRow, b: VersionRow) -> bool:
    return a["name"] == b["name"] and a["version"] == b["version"]


def scores(evidence: Evidence, policy: AliasPolicy) -> tuple[dict[str, float | str], dict[str, float | str]]:
    """The candidate's and the champion's scores on every metric the gates need (computed once)."""
    if evidence.scores is None:
        holdout = evidence.holdout
        assert holdout is not None and evidence.columns is not None
        metrics = sorted({key.partition("_")[2] for key in policy.thresholds} | {holdout.metric})
        evidence.scores = holdouts.score(evidence.model, holdout, metrics, evidence.columns)
        evidence.champion_scores = {}
        if evidence.champion_model is not None and evidence.champion_columns is not None:
            evidence.champion_scores = holdouts.score(evidence.champion_model, holdout, metrics,
                                                      evidence.champion_columns)
    return evidence.scores, evidence.champion_scores or {}


# --- the gates -----------------------------------------------------------------------------------


def integrity_gate(candidate: VersionRow, problem: str | None) -> GateResult:
    return GateResult(gate=GateName.INTEGRITY, name="model file sha256", passed=problem is None,
                      threshold="registered", detail=problem or "bytes match the registered sha256")


def size_gate(candidate: VersionRow, champion: VersionRow | None, policy: AliasPolicy) -> GateResult:
    size_mb = candidate["size_bytes"] / 1e6
    passed = size_mb <= policy.max_size_mb
    over = "" if passed else f", {size_mb - policy.max_size_mb:.2f} MB over"
    return GateResult(gate=GateName.SIZE, name="model size MB", passed=passed, threshold=policy.max_size_mb,
                      candidate=round(size_mb, 3),
                      champion=round(champion["size_bytes"] / 1e6, 3) if champion else None,
                      detail=f"{size_mb:.2f} MB (limit {policy.max_size_mb:g} MB{over})")


def signature_gate(candidate: VersionRow, champion: VersionRow | None, policy: AliasPolicy) -> GateResult:
    """The candidate's inputs against the current holder's: see `backend.pipelines.signature`."""
    def result(passed: bool, detail: str, theirs: dict[str, str] | None = None,
               ours: dict[str, str] | None = None) -> GateResult:
        return GateResult(gate=GateName.SIGNATURE, name="inputs vs current holder", passed=passed,
                          candidate=columns_text(ours), champion=columns_text(theirs), detail=detail)

    if not policy.signature:
        return result(True, "not checked (signature = false)")
    if champion is None:
        return result(True, "no current holder: nothing to be compatible with")
    ours, theirs = signatures.inputs_of(candidate["signature"]), signatures.inputs_of(champion["signature"])
    if theirs is None:
        return result(True, f"the current holder {label(champion)} has no recorded input signature: no "
                            "columns callers rely on to check against", None, ours)
    if ours is None:
        return result(False, f"{label(candidate)} has no recorded input signature, so it cannot be shown to "
                             f"take the columns callers of {label(champion)} send", theirs)
    found = signatures.compare(ours, theirs)
    if not found.compatible:
        parts = []
        if found.missing:
            parts.append(f"column(s) {label(champion)} does not take, so callers do not send: "
                         f"{', '.join(found.missing)}")
        if found.mismatched:
            parts.append("dtype of another kind: " + ", ".join(f"{name} ({ours_} vs {theirs_})"
                                                                 for name, ours_, theirs_ in found.mismatched))
        return result(False, "the candidate needs " + "; ".join(parts), theirs, ours)
    unused = f"; {len(found.unused)} of its column(s) not needed: {', '.join(found.unused)}" if found.unused else ""
    return result(True, f"all {len(ours)} input(s) are sent to {label(champion)} with compatible dtypes{unused}",
                  theirs, ours)


def columns_text(inputs: dict[str, str] | None) -> str | None:
    return None if inputs is None else f"{len(inputs)} column(s)"


def threshold_gates(evidence: Evidence, policy: AliasPolicy) -> list[GateResult]:
    """One result per `min_<metric>` / `max_<metric>`, on scores computed now."""
    if not policy.thresholds:
        return [GateResult(gate=GateName.THRESHOLD, name="thresholds", passed=True,
                           detail="no min_<metric> or max_<metric> set")]
    found: list[GateResult] = []
    for key, bound in sorted(policy.thresholds.items()):
        if evidence.unscorable:
            found.append(GateResult(gate=GateName.THRESHOLD, name=key, passed=False, threshold=bound,
                                    detail=evidence.unscorable))
            continue
        candidate, champion = scores(evidence, policy)
        side, _, metric = key.partition("_")
        value, theirs = candidate[metric], champion.get(metric)
        theirs_value = theirs if isinstance(theirs, float) else None
        if isinstance(value, str):
            found.append(GateResult(gate=GateName.THRESHOLD, name=key, passed=False, threshold=bound,
                                    champion=theirs_value, detail=value))
            continue
        passed = value >= bound if side == "min" else value <= bound
        miss = "" if passed else (f": {bound - value:.4f} short" if side == "min" else f": {value - bound:.4f} over")
        sign = (">=" if passed else "<") if side == "min" else ("<=" if passed else ">")
        found.append(GateResult(gate=GateName.THRESHOLD, name=key, passed=passed, threshold=bound, candidate=value,
                                champion=theirs_value, detail=f"{metric} {value:.4f} {sign} {side} {bound:g}{miss}"))
    return found


def champion_gate(evidence: Evidence, candidate: VersionRow, champion: VersionRow | None, alias: str,
                  policy: AliasPolicy) -> GateResult:
    """The candidate against the alias's holder on the primary metric, both scored now on the same rows."""
    metric = evidence.holdout.metric if evidence.holdout else candidate["primary_metric"] or "primary metric"
    name = f"{metric} vs {alias} holder"

    def result(passed: bool, detail: str, ours: float | None = None, theirs: float | None = None) -> GateResult:
        return GateResult(gate=GateName.CHAMPION, name=name, passed=passed, threshold=policy.min_improvement,
                          candidate=ours, champion=theirs, detail=detail)

    if champion is None:
        return result(True, f"no current holder of {alias}: nothing to beat")
    if same(candidate, champion):
        return result(True, f"{label(champion)} already holds {alias}")
    if evidence.unscorable:
        return result(False, evidence.unscorable)
    if evidence.champion_problem:
        return result(False, f"the current holder cannot be scored on the same rows: {evidence.champion_problem}")
    if evidence.champion_broken:
        return result(True, f"the current holder cannot serve ({evidence.champion_broken}): nothing to compare "
                            "against; the candidate is judged by the other gates")
    assert evidence.holdout is not None
    ours, theirs = (found.get(metric) for found in scores(evidence, policy))
    if not isinstance(ours, float) or not isinstance(theirs, float):
        why = ours if isinstance(ours, str) else theirs
        return result(False, f"{metric} cannot be compared: {why}")
    minimize = evidence.holdout.direction == "minimize"
    improvement = theirs - ours if minimize else ours - theirs
    passed = improvement >= policy.min_improvement
    short = "" if passed else f"; {policy.min_improvement - improvement:.4f} short"
    return result(passed, f"{metric} {ours:.4f} vs {theirs:.4f} for {label(champion)}: improvement "
                          f"{improvement:+.4f} ({'lower' if minimize else 'higher'} is better), needs "
                          f">= {policy.min_improvement:+.4f}{short}", ours, theirs)


def latency_gate(evidence: Evidence, policy: AliasPolicy) -> GateResult:
    name = "p95 single-row predict ms (CPU)"
    if evidence.unscorable or evidence.holdout is None or evidence.columns is None:
        return GateResult(gate=GateName.LATENCY, name=name, passed=False, threshold=policy.max_latency_ms,
                          detail=f"cannot be measured: {evidence.unscorable}")
    try:
        p95 = holdouts.p95_latency_ms(evidence.model, evidence.holdout.rows[evidence.columns], policy.latency_rows,
                                      evidence.holdout.seed)
    except Exception as error:  # the model cannot predict a single row of its own holdout
        return GateResult(gate=GateName.LATENCY, name=name, passed=False, threshold=policy.max_latency_ms,
                          detail=f"a single-row prediction failed: {_message(error)}")
    passed = p95 <= policy.max_latency_ms
    over = "" if passed else f", {p95 - policy.max_latency_ms:.2f} ms over"
    return GateResult(gate=GateName.LATENCY, name=name, passed=passed, threshold=policy.max_latency_ms,
                      candidate=round(p95, 3), detail=f"p95 {p95:.2f} ms CPU over {policy.latency_rows} single-row "
                                                      f"predictions (limit {policy.max_latency_ms:g} ms{over})")
