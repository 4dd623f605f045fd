"""Checks of a parsed pipeline that need the allowlists: estimators, params, metrics, expressions."""
from __future__ import annotations

from ..errors import Invalid
from ..settings import DEFAULT_MAX_CANDIDATES
from .config import PipelineConfig
from .expressions import ExpressionError, parse


def problems(config: PipelineConfig, max_candidates: int = DEFAULT_MAX_CANDIDATES) -> list[str]:
    from . import estimators, scoring, sweep  # scikit-learn loads on the first submission, not at server start

    found: list[str] = []
    counts = [sweep.candidate_count(model) for model in config.models]
    if sum(counts) > max_candidates:
        found.append(f"models: {sum(counts):,} candidates ({' + '.join(f'{c:,}' for c in counts)}) are more than "
                     f"the {max_candidates:,} a job may train (MLOPS_MAX_CANDIDATES)")
    for index, model in enumerate(config.models):
        found += [f"models[{index}]: {p}" for p in estimators.check(config.task, model.estimator, model.params)]
        if model.search.kind == "grid" and any(isinstance(v, dict) for v in model.params.values()):
            found.append(f"models[{index}].params: a grid search takes lists; use search.kind = 'random' "
                         "for distributions")
        for key, value in model.params.items():
            if isinstance(value, dict) and not {"low", "high"} <= set(value):
                found.append(f"models[{index}].params.{key}: a distribution needs low and high")
    known = scoring.known(config.task)
    for metric in config.evaluate.metrics or []:
        if metric not in known:
            found.append(f"evaluate.metrics: unknown metric {metric!r} for {config.task}; known: {', '.join(known)}")
    if config.evaluate.primary and config.evaluate.primary not in known:
        found.append(f"evaluate.primary: unknown metric {config.evaluate.primary!r}; known: {', '.join(known)}")
    for index, item in enumerate(config.features.derived):
        try:
            parse(item.expr)
        except ExpressionError as error:
            found.append(f"features.derived[{index}].expr: {error}")
    return found


def dask_scheduler(requested: str | None, allowed: tuple[str, ...]) -> str:
    """The scheduler a Dask job may use: one the server's configuration lists (`MLOPS_DASK_SCHEDULERS`),
    the first by default. A client never chooses an address the server does not trust, because the
    worker unpickles what the scheduler sends back."""
    if not allowed:
        raise Invalid("this server allows no Dask scheduler: its MLOPS_DASK_SCHEDULERS is empty", "scheduler")
    if requested is None:
        return allowed[0]
    if requested.strip() not in allowed:
        raise Invalid(f"scheduler {requested!r} is not one this server allows (MLOPS_DASK_SCHEDULERS: "
                      f"{', '.join(allowed)})", "scheduler")
    return requested.strip()
