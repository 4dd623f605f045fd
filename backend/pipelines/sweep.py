"""The sweep: every candidate (model × params) cross-validated, refit on the train part and scored
on the holdout. Candidates run one after another, on local processes, or on a Dask cluster,
through joblib; results stream back as they finish.

The best candidate is chosen by the primary metric's cross-validation mean (the holdout decides
only when a model has cv < 2), so the chosen model's holdout score stays an unbiased estimate.
"""
from __future__ import annotations

import math
import pickle
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import joblib
import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from sklearn.base import clone
from sklearn.model_selection import (
    BaseCrossValidator,
    KFold,
    ParameterGrid,
    ParameterSampler,
    StratifiedKFold,
    TimeSeriesSplit,
    cross_validate,
    train_test_split,
)

from . import estimators, scoring
from .config import ModelConfig, PipelineConfig
from .features import Columns, build_pipeline, choose_columns


@dataclass(frozen=True)
class Candidate:
    index: int
    model_index: int
    estimator: str
    params: dict[str, Any]


@dataclass
class CandidateResult:
    candidate: Candidate
    cv: dict[str, tuple[float, float]]  # metric -> (mean, std)
    holdout: dict[str, float]
    fit_seconds: float
    model_bytes: int
    model: Any = field(repr=False)
    started_ms: int = 0
    """Wall-clock time (ms since the epoch) the candidate's cross-validation started."""
    ended_ms: int = 0


@dataclass(frozen=True)
class Split:
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    columns: Columns
    classes: np.ndarray
    pos_label: Any = None
    """The positive class of a binary task (f1, precision, recall), else None."""
    time_ordered: bool = False
    """Rows are in time order (a time column is set): cross-validation never trains on the future."""

    @property
    def numeric(self) -> list[str]:
        return self.columns.numeric

    @property
    def categorical(self) -> list[str]:
        return self.columns.categorical


def _space(params: dict[str, Any]) -> dict[str, Any]:
    """TOML params to a search space: lists are choices, {dist, low, high} tables distributions."""
    space: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            low, high = float(value["low"]), float(value["high"])
            kind = value.get("dist", "uniform")
            space[key] = (scipy_stats.loguniform(low, high) if kind == "loguniform"
                          else scipy_stats.randint(int(low), int(high) + 1) if kind == "int"
                          else scipy_stats.uniform(low, high - low))
        else:
            space[key] = value if isinstance(value, list) else [value]
    return space


def _model_candidates(model: ModelConfig, seed: int) -> list[dict[str, Any]]:
    space = _space(model.params)
    if model.search.kind == "random":
        return [_plain(p) for p in ParameterSampler(space, n_iter=model.search.n_iter, random_state=seed)]
    if any(not isinstance(v, list) for v in space.values()):
        raise ValueError(f"{model.estimator}: a grid search needs lists, not distributions")
    return [_plain(p) for p in ParameterGrid(space)]


def candidate_count(model: ModelConfig) -> int:
    """How many candidates a `[[models]]` entry expands into, counted without building them."""
    if model.search.kind == "random":
        return model.search.n_iter
    return math.prod(len(value) if isinstance(value, list) else 1 for value in model.params.values())


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}


def candidates(config: PipelineConfig) -> list[Candidate]:
    found: list[Candidate] = []
    for model_index, model in enumerate(config.models):
        for params in _model_candidates(model, config.data.split.seed):
            found.append(Candidate(len(found), model_index, model.estimator, params))
    return found


def split(config: PipelineConfig, frame: pd.DataFrame) -> Split:
    target = config.data.target
    split_config = config.data.split
    columns = choose_columns(config.features, frame, target)
    x, y = frame[columns.inputs], frame[target]
    if split_config.time_column:
        order = frame[split_config.time_column].sort_values(kind="stable").index
        cut = int(round(len(order) * (1 - split_config.test_size)))
        x_train, x_test = x.loc[order[:cut]], x.loc[order[cut:]]
        y_train, y_test = y.loc[order[:cut]], y.loc[order[cut:]]
    else:
        stratify = y if config.task == "classification" and split_config.stratify else None
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=split_config.test_size, random_state=split_config.seed, stratify=stratify)
    classes = np.unique(y) if config.task == "classification" else np.array([])
    positive = find_label(classes, config.evaluate.pos_label) if len(classes) == 2 else None
    return Split(x_train, x_test, y_train, y_test, columns, classes, positive, bool(split_config.time_column))


def find_label(classes: np.ndarray, wanted: Any) -> Any:
    """The class `wanted` names (by value, or by its text), or the last sorted class when None."""
    if wanted is None:
        return _plain({"v": classes[-1]})["v"]
    for label in classes:
        if label == wanted and type(wanted) is not bool or str(label) == str(wanted):
            return _plain({"v": label})["v"]
    raise ValueError(f"evaluate.pos_label {wanted!r} is not a class of the target "
                     f"(classes: {', '.join(str(c) for c in classes)})")


def splitter(config: PipelineConfig, folds: int, time_ordered: bool) -> BaseCrossValidator:
    """Folds of the train part: in time order when a time column is set, else shuffled (stratified
    for classification)."""
    if time_ordered:
        return TimeSeriesSplit(folds)
    seed = config.data.split.seed
    if config.task == "classification":
        return StratifiedKFold(folds, shuffle=True, random_state=seed)
    return KFold(folds, shuffle=True, random_state=seed)


def metrics_for(config: PipelineConfig) -> list[str]:
    return list(config.evaluate.metrics or scoring.known(config.task))


def primary(config: PipelineConfig, n_classes: int) -> tuple[str, str]:
    metric = config.evaluate.primary or scoring.default_primary(config.task, n_classes)
    return metric, config.evaluate.direction or scoring.direction(metric)


@dataclass(frozen=True)
class Selection:
    """How the best candidate is chosen: the primary metric's cross-validation mean when every model
    cross-validates (cv >= 2), else its holdout score."""

    metric: str
    direction: str
    by_cv: bool

    @property
    def key(self) -> str:
        """The score that chooses, named as the candidate runs' metric: `cv_roc_auc_mean` or `test_rmse`."""
        return f"cv_{self.metric}_mean" if self.by_cv else f"test_{self.metric}"

    def score(self, result: CandidateResult) -> float | None:
        if self.by_cv:
            value = result.cv[self.metric][0] if self.metric in result.cv else None
        else:
            value = result.holdout.get(self.metric)
        return value if value is not None and math.isfinite(value) else None

    def better(self, result: CandidateResult, best: CandidateResult | None) -> bool:
        """Whether `result` beats `best` (any scored result beats None; ties keep the earlier one)."""
        score = self.score(result)
        if score is None:
            return False
        if best is None or (best_score := self.score(best)) is None:
            return True
        return score < best_score if self.direction == "minimize" else score > best_score


def selection(config: PipelineConfig, n_classes: int) -> Selection:
    metric, direction = primary(config, n_classes)
    return Selection(metric, direction, all(model.cv >= 2 for model in config.models))


def pick_best(results: list[CandidateResult], chooser: Selection) -> CandidateResult | None:
    best: CandidateResult | None = None
    for result in results:
        if chooser.better(result, best):
            best = result
    return best


def evaluate(config: PipelineConfig, candidate: Candidate, data: Split) -> CandidateResult:
    """Cross-validate on the train part, refit on all of it, score on the holdout."""
    started_ms = int(time.time() * 1000)
    estimator = estimators.make(config.task, candidate.estimator, candidate.params)
    pipeline = build_pipeline(config.features, data.numeric, data.categorical, estimator)
    scorers = scoring.scorers(config.task, metrics_for(config), data.classes, estimator, data.pos_label)
    folds = config.models[candidate.model_index].cv
    cv: dict[str, tuple[float, float]] = {}
    if folds >= 2:
        scores = cross_validate(clone(pipeline), data.x_train, data.y_train, scoring=scorers, error_score="raise",
                                cv=splitter(config, folds, data.time_ordered))
        for metric in scorers:
            values = scores[f"test_{metric}"] * scoring.sign(metric)
            cv[metric] = (float(np.mean(values)), float(np.std(values)))
    started = time.perf_counter()
    pipeline.fit(data.x_train, data.y_train)
    fit_seconds = time.perf_counter() - started
    holdout = {metric: float(scorer(pipeline, data.x_test, data.y_test)) * scoring.sign(metric)
               for metric, scorer in scorers.items()}
    # Size of the fitted model as serialised bytes; our own object, pickled only to measure it.
    model_bytes = len(pickle.dumps(pipeline, protocol=pickle.HIGHEST_PROTOCOL))
    return CandidateResult(candidate, cv, holdout, fit_seconds, model_bytes, pipeline, started_ms,
                           int(time.time() * 1000))


def run(config: PipelineConfig, data: Split, found: list[Candidate], executor: str = "local",
        scheduler: str | None = None, n_jobs: int = 1) -> Iterator[CandidateResult]:
    """Evaluate candidates, yielding each result as it finishes (in candidate order)."""
    if executor == "dask":
        from dask.distributed import Client as DaskClient  # optional dependency

        context: Any = DaskClient(scheduler, timeout="20s")
        backend: Any = joblib.parallel_backend("dask")
        jobs = -1
    else:
        context, backend, jobs = nullcontext(), nullcontext(), n_jobs
    with context, backend:
        if jobs == 1:
            for candidate in found:
                yield evaluate(config, candidate, data)
            return
        parallel = joblib.Parallel(n_jobs=jobs, return_as="generator")
        yield from parallel(joblib.delayed(evaluate)(config, candidate, data) for candidate in found)
