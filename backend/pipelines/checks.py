"""Checks of a parsed pipeline that need the allowlists: estimators, params, metrics, expressions."""
from __future__ import annotations

from .config import PipelineConfig
from .expressions import ExpressionError, parse


def problems(config: PipelineConfig) -> list[str]:
    from . import estimators, scoring  # scikit-learn loads on the first submission, not at server start

    found: list[str] = []
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
    if config.executor.kind == "dask" and not config.executor.scheduler:
        found.append("executor.scheduler: the dask executor needs a scheduler address")
    return found
