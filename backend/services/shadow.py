"""Shadow deployments: a `staging` version also runs on the live requests of `production`, off the
request's critical path (`backend.serving.shadow`), and is compared with the champion on the same rows.

The retrain controller calls `start` when a retrain's policy asks for a shadow period, `judge` each
round while it waits, and `stop` when the shadow is promoted or rejected. `comparison` is what
`GET /api/v1/models/{name}/shadow` answers: both sides' numbers since the shadow started, and the verdict
under the model's `[retrain]` policy (its `shadow` period, `shadow_min_rows` and `max_regression`).

Both sides are measured on the same requests: the rows the champion answered, and those it refused
after reading them (the shadow may take them). A side's latency is the time its model took to conform
and predict the request's rows; its errors are the requests it failed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

from mlops_tui.contract.retrain import RetrainPolicy, ShadowComparison, ShadowSide

from ..clock import now_ms
from ..db import Database
from ..errors import NotFound
from ..monitoring.estimate import estimate
from ..monitoring.latency import Traffic
from ..monitoring.performance import Labeled, Task, infer_task, live_metrics
from ..monitoring.watch import profile_of
from ..pipelines.promote import duration_ms
from ..serving import shadow as served
from ..store import registry as registry_store
from ..store import shadows as store
from . import lifecycle
from .monitoring import TRAINING_METRICS
from .registry import check_alias, check_name

LATENCY_REQUESTS = 50_000
"""The newest requests whose latencies make each side's p50 and p95."""
ESTIMATE_ROWS = 20_000
"""The newest rows whose probabilities make each side's estimated performance."""


@dataclass(frozen=True)
class Verdict:
    state: str
    """`waiting` (period or rows not reached yet), `ok` (no regression), `regressed`."""
    reason: str = ""


@dataclass(frozen=True)
class Compared:
    """Both sides over the same requests, from a time on."""

    champion: ShadowSide
    shadow: ShadowSide
    requests: int
    offered: int
    """Rows of those requests (both sides were asked to predict them)."""
    rows: int
    """Rows both predicted."""
    agreement: float | None
    task: str | None


def start(db: Database, name: str, version: int, alias: str = "production", shadow_alias: str = "staging",
          retrain_id: str | None = None) -> None:
    """Run `version` in shadow of `name@alias` from now on (a shadow already running there is stopped)."""
    registry_store.get_version(db, check_name(name), version)  # NotFound naming the model or the version
    holder = registry_store.alias_holder(db, name, check_alias(alias))
    found = store.start(db, name, alias, check_alias(shadow_alias, "shadow_alias"), version,
                        holder["version"] if holder else None, now_ms(), retrain_id)
    served.table(db).started(served.active_of_row(found))


def stop(db: Database, name: str, alias: str = "production") -> None:
    """Stop shadowing `name@alias` (nothing when no shadow runs)."""
    store.stop(db, name, alias, now_ms())
    served.table(db).stopped(name, alias)


def judge(db: Database, name: str, version: int, since: int, min_rows: int, max_regression: float,
          alias: str = "production") -> Verdict:
    """The shadow of `name@alias` by `version` since `since` (epoch ms): regressed against the champion
    by more than `max_regression` (accuracy or error rate) on the same rows, or not (after `min_rows`)."""
    found = store.latest_of_version(db, name, alias, version)
    if found is None:
        return Verdict("waiting", f"{name}/{version} has not run in shadow of {name}@{alias}")
    return verdict(compare(db, found, since), min_rows, max_regression)


def comparison(db: Database, name: str, alias: str = "production", now: int | None = None) -> ShadowComparison:
    """The running shadow of `name@alias` beside its champion since it started (404 naming `alias` when
    none runs), judged by the model's `[retrain]` policy."""
    registry_store.get_model(db, check_name(name))
    found = store.active_of(db, name, check_alias(alias))
    if found is None:
        raise NotFound(f"{name}@{alias} has no shadow running", "alias")
    policy = policy_of(db, name)
    since = int(found["started_at"])
    compared = compare(db, found, since)
    judged = verdict(compared, policy.shadow_min_rows, policy.max_regression)
    left = since + duration_ms(policy.shadow) - (now_ms() if now is None else now) if policy.shadow else 0
    if judged.state == "ok" and left > 0:
        judged = Verdict("waiting", f"shadow period: {_minutes(left)} left of {policy.shadow}; {judged.reason}")
    return ShadowComparison(model=name, alias=alias, shadow_alias=found["shadow_alias"], champion=compared.champion,
                            shadow=compared.shadow, since=since, rows=compared.rows, agreement=compared.agreement,
                            verdict=judged.state, reason=judged.reason)


def policy_of(db: Database, name: str) -> RetrainPolicy:
    """The model's `[retrain]` policy (its defaults when the pipeline file has none)."""
    found = lifecycle.of_model(db, name)
    return found.retrain if found is not None and found.retrain is not None else RetrainPolicy()


def _minutes(ms: int) -> str:
    return f"{ms / 60_000:.1f} min"


# --- measuring ------------------------------------------------------------------------------------


def compare(db: Database, shadow: dict[str, Any], since: int) -> Compared:
    """Both sides of `shadow` (a `shadows` row) from `since` on, against the version the alias holds now
    (the one it held when the shadow started, once the shadow itself took the alias)."""
    name, version = shadow["name"], int(shadow["version"])
    holder = registry_store.alias_holder(db, name, shadow["alias"])
    champion = int(holder["version"]) if holder is not None else int(shadow["champion_version"] or 0)
    if champion == version and shadow["champion_version"] is not None:
        champion = int(shadow["champion_version"])
    key = (int(shadow["id"]), champion, since)
    counts = store.counts(db, *key)
    timed = store.latencies(db, *key, LATENCY_REQUESTS)
    probabilities = [(json.loads(ours), json.loads(theirs))
                     for ours, theirs in store.probabilities(db, *key, ESTIMATE_ROWS)]
    labeled = [[json.loads(value) if value is not None else None for value in row] for row in store.labeled(db, *key)]
    ours = [Labeled(row[0], row[1], row[4]) for row in labeled]
    theirs = [Labeled(row[2], row[3], row[4]) for row in labeled]
    task, pos_label, classes = task_of(db, name, champion, ours)

    def side(side_version: int, errors: int, rows: int, index: int, rows_labeled: list[Labeled]) -> ShadowSide:
        traffic = Traffic()
        for took in (t[index] for t in timed):
            if took is not None:
                traffic.add(took, 0, False)
        probas = [p[index] for p in probabilities]
        return ShadowSide(version=side_version, rows=rows, errors=errors, latency_p50_ms=traffic.quantile(0.5),
                          latency_p95_ms=traffic.quantile(0.95),
                          estimated=estimate(profile_of(db, name, side_version), probas) if probas else {},
                          actual=live_metrics(rows_labeled, cast(Task, task), pos_label, classes) if task else {},
                          labeled=len(rows_labeled))

    sides = (side(champion, counts["champion_errors"], counts["champion_rows"], 0, ours),
             side(version, counts["shadow_errors"], counts["shadow_rows"], 1, theirs))
    agreement = counts["agreed"] / counts["both"] if counts["both"] else None
    return Compared(sides[0], sides[1], counts["requests"], counts["offered"], counts["both"], agreement, task)


def task_of(db: Database, name: str, version: int, labeled: list[Labeled]) -> tuple[str | None, Any, Any]:
    """The champion's task (its pipeline's, its profile's, else inferred from the rows), its `pos_label`
    and its classes in probability order."""
    try:
        row = registry_store.get_version(db, name, version)
    except NotFound:
        return infer_task(labeled), None, None
    pipeline = row.get("pipeline") or {}
    profile = profile_of(db, name, version) or {}
    task = next((t for t in (pipeline.get("task"), profile.get("task")) if t in TRAINING_METRICS), None)
    return task or infer_task(labeled), (pipeline.get("evaluate") or {}).get("pos_label"), profile.get("classes")


# --- judging ----------------------------------------------------------------------------------------


def verdict(compared: Compared, min_rows: int, max_regression: float) -> Verdict:
    """`waiting` under `min_rows` rows offered to both sides; `regressed` when the shadow's error rate is above the
    champion's by more than `max_regression`, or its accuracy (actual once both sides have `min_rows`
    labeled rows, else estimated) below by more than it, or its RMSE above by more than that share;
    else `ok`."""
    if compared.offered < min_rows:
        return Verdict("waiting", f"{compared.offered} of {min_rows} rows compared")
    ours, theirs = compared.champion, compared.shadow
    requests = max(compared.requests, 1)
    our_rate, their_rate = ours.errors / requests, theirs.errors / requests
    margin = f"margin {max_regression:.1%}"
    if their_rate - our_rate > max_regression:
        return Verdict("regressed", f"error rate {their_rate:.1%} against the champion's {our_rate:.1%} ({margin})")
    labeled = ours.labeled >= min_rows and theirs.labeled >= min_rows
    source, our_metrics, their_metrics = ("actual", ours.actual, theirs.actual) if labeled else \
        ("estimated", ours.estimated, theirs.estimated)
    if "accuracy" in our_metrics and "accuracy" in their_metrics:
        if our_metrics["accuracy"] - their_metrics["accuracy"] > max_regression:
            return Verdict("regressed", f"{source} accuracy {their_metrics['accuracy']:.3f} against the champion's "
                                        f"{our_metrics['accuracy']:.3f} ({margin})")
    if labeled and "rmse" in ours.actual and "rmse" in theirs.actual:
        if theirs.actual["rmse"] > ours.actual["rmse"] * (1 + max_regression):
            return Verdict("regressed", f"actual RMSE {theirs.actual['rmse']:.4g} against the champion's "
                                        f"{ours.actual['rmse']:.4g} ({margin})")
    agreement = f"agreement {compared.agreement:.1%}, " if compared.agreement is not None else ""
    return Verdict("ok", f"{compared.rows} rows compared: {agreement}error rate {their_rate:.1%} against "
                         f"{our_rate:.1%}; no regression beyond the {margin}")
