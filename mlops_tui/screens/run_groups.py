"""What the runs view shows beyond a flat page: runs grouped under their parent, the ★ on a job's best
run, the leaderboard's metric, and which param/metric columns come first.

Pure functions over `Run`s and the experiment's key counts, so they are tested without a screen.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..contract import ExperimentKeys, Run
from ..contract import tags as tag

TOP_LEVEL = "attributes.parent_id IS NULL"
"""The filter of the grouped list: runs that have no parent (children are fetched per parent)."""
BEST_TAG = tag.BEST
"""Set to "true" on the run a job chose; its parent carries `mlops.best_run_id`."""
PRIMARY_PARAM = "primary_metric"
"""The param a job's parent run records its primary metric in (e.g. `roc_auc`)."""
SELECTED_BY_TAG = tag.SELECTED_BY
"""The tag a job's parent run names the score that chose the best candidate in (`cv_roc_auc_mean`)."""
CHILD_LIMIT = 1000
"""Children fetched when a parent is expanded (one request); more are summed up in a note row."""
PREFERRED_METRICS = ("accuracy", "acc", "val_accuracy", "val_acc", "f1", "auc", "roc_auc", "r2", "rmse",
                     "mae", "loss", "val_loss")
"""Well-known scores: among equally common metrics these come first (after the primary metric), with
or without a `cv_`/`test_` prefix."""
_SCORE_PREFIXES = ("cv_", "test_", "val_", "valid_", "train_", "best_")
_SECONDARY_WORDS = frozenset({"std", "stdev", "time", "seconds", "size", "bytes", "memory", "cpu", "latency"})
"""Metrics about a run's cost or spread rather than its score: shown after the scores."""
_WORD = re.compile(r"[a-z0-9]+")


def is_best(run: Run) -> bool:
    return run.tags.get(BEST_TAG) == "true"


def child_filter(parent_id: str) -> str:
    return "attributes.parent_id = '" + parent_id.replace("'", "''") + "'"


@dataclass(frozen=True)
class TreeRow:
    """One line of the runs table: a run at `depth` 0 (top level) or 1 (a child), or a note."""

    key: str
    run: Run | None
    depth: int = 0
    last: bool = False
    """The last child of its parent (drawn `└` instead of `├`)."""
    note: str = ""


def tree_rows(top: list[Run], children: dict[str, list[Run]]) -> list[TreeRow]:
    """The top-level runs in order, each expanded one followed by its children."""
    rows: list[TreeRow] = []
    for run in top:
        rows.append(TreeRow(run.id, run))
        found = children.get(run.id)
        if found is None:
            continue
        hidden = max(run.child_count - len(found), 0)
        for index, child in enumerate(found):
            rows.append(TreeRow(child.id, child, 1, last=index == len(found) - 1 and not hidden))
        if hidden:
            rows.append(TreeRow(f"more:{run.id}", None, 1, last=True,
                                note=f"… {hidden:,} more: filter parent_id = '{run.id}'"))
    return rows


def primary_metric(runs: Iterable[Run]) -> str | None:
    """The primary metric named by the first job parent among `runs` (None when there is none)."""
    return next((run.params[PRIMARY_PARAM] for run in runs if run.params.get(PRIMARY_PARAM)), None)


def leaderboard_key(runs: list[Run], metric_keys: Iterable[str]) -> str | None:
    """The metric the leaderboard ranks by: the score that chose the best candidate (a job parent's
    `mlops.selected_by`: the primary metric's cross-validation mean, or its holdout score), else the
    primary metric's CV mean, holdout score or the metric itself; without a job parent among `runs`,
    the most common metric (the first of `metric_keys`)."""
    keys = list(metric_keys)
    primary = primary_metric(runs)
    chosen_by = next((run.tags[SELECTED_BY_TAG] for run in runs if run.tags.get(SELECTED_BY_TAG)), None)
    candidates = ([chosen_by] if chosen_by else []) + \
        ([f"cv_{primary}_mean", f"test_{primary}", primary] if primary else [])
    for key in candidates:
        if key in keys:
            return key
    return keys[0] if keys else None


def parent_best(run: Run) -> tuple[str, float] | None:
    """(metric, value) of the best candidate, as a job's parent run records it (`best_<primary>`)."""
    metric = run.params.get(PRIMARY_PARAM)
    if not metric or f"best_{metric}" not in run.metrics:
        return None
    return metric, run.metrics[f"best_{metric}"]


def _base(key: str) -> str:
    """`cv_roc_auc_mean` → `roc_auc`, `test_accuracy` → `accuracy`."""
    for prefix in _SCORE_PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    return key.removesuffix("_mean")


def _counts(entity: str, names: list[str], keys: ExperimentKeys | None, runs: list[Run]) -> dict[str, int]:
    if keys is not None and keys.counts.get(entity):
        return {name: keys.count(entity, name) for name in names}
    return {name: sum(name in getattr(run, entity) for run in runs) for name in names}


def common_params(names: list[str], keys: ExperimentKeys | None, runs: list[Run]) -> list[str]:
    """Param keys, the ones most runs have first (ties by name)."""
    counts = _counts("params", names, keys, runs)
    return sorted((n for n in names if n != PRIMARY_PARAM), key=lambda n: (-counts[n], n))


def common_metrics(names: list[str], keys: ExperimentKeys | None, runs: list[Run],
                   primary: str | None = None) -> list[str]:
    """Metric keys, the ones most runs have first; among equals the primary metric's scores, then
    well-known scores, then the rest, and spreads, times and sizes (`_std`, `fit_time_s`) last."""
    counts = _counts("metrics", names, keys, runs)
    preferred = ((primary,) if primary else ()) + PREFERRED_METRICS

    def rank(name: str) -> tuple[int, bool, int, str]:
        base = _base(name)
        order = preferred.index(base) if base in preferred else len(preferred)
        secondary = any(word in _SECONDARY_WORDS for word in _WORD.findall(name.lower()))
        return -counts[name], secondary, order, name

    return sorted(names, key=rank)
