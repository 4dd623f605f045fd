"""The estimators a pipeline may name: an allowlist, never arbitrary imports."""
from __future__ import annotations

from typing import Any

from sklearn import ensemble, linear_model, naive_bayes, neighbors, svm, tree
from sklearn.base import BaseEstimator

CLASSIFIERS: dict[str, type[BaseEstimator]] = {
    "LogisticRegression": linear_model.LogisticRegression,
    "RidgeClassifier": linear_model.RidgeClassifier,
    "SGDClassifier": linear_model.SGDClassifier,
    "DecisionTreeClassifier": tree.DecisionTreeClassifier,
    "RandomForestClassifier": ensemble.RandomForestClassifier,
    "ExtraTreesClassifier": ensemble.ExtraTreesClassifier,
    "GradientBoostingClassifier": ensemble.GradientBoostingClassifier,
    "HistGradientBoostingClassifier": ensemble.HistGradientBoostingClassifier,
    "AdaBoostClassifier": ensemble.AdaBoostClassifier,
    "SVC": svm.SVC,
    "LinearSVC": svm.LinearSVC,
    "KNeighborsClassifier": neighbors.KNeighborsClassifier,
    "GaussianNB": naive_bayes.GaussianNB,
    "BernoulliNB": naive_bayes.BernoulliNB,
}
REGRESSORS: dict[str, type[BaseEstimator]] = {
    "LinearRegression": linear_model.LinearRegression,
    "Ridge": linear_model.Ridge,
    "Lasso": linear_model.Lasso,
    "ElasticNet": linear_model.ElasticNet,
    "SGDRegressor": linear_model.SGDRegressor,
    "DecisionTreeRegressor": tree.DecisionTreeRegressor,
    "RandomForestRegressor": ensemble.RandomForestRegressor,
    "ExtraTreesRegressor": ensemble.ExtraTreesRegressor,
    "GradientBoostingRegressor": ensemble.GradientBoostingRegressor,
    "HistGradientBoostingRegressor": ensemble.HistGradientBoostingRegressor,
    "AdaBoostRegressor": ensemble.AdaBoostRegressor,
    "SVR": svm.SVR,
    "LinearSVR": svm.LinearSVR,
    "KNeighborsRegressor": neighbors.KNeighborsRegressor,
}


SIZE_LIMITS: dict[str, int] = {"n_estimators": 5_000, "max_iter": 100_000}
"""Largest value a size param may take (in a list or as a distribution's `high`): more is a typo or a denial
of service, not a model."""


def allowed(task: str) -> dict[str, type[BaseEstimator]]:
    return CLASSIFIERS if task == "classification" else REGRESSORS


def check(task: str, name: str, params: dict[str, Any]) -> list[str]:
    """Problems with an estimator name and its param names (empty when fine)."""
    table = allowed(task)
    if name not in table:
        return [f"estimator {name!r} is not allowed for {task}; choose one of {', '.join(sorted(table))}"]
    known = table[name]().get_params()
    unknown = sorted(set(params) - set(known))
    found = [f"{name} has no param(s) {', '.join(unknown)}"] if unknown else []
    for key, limit in SIZE_LIMITS.items():
        value = params.get(key)
        values = value if isinstance(value, list) else [value.get("high")] if isinstance(value, dict) else [value]
        too_big = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and v > limit]
        if too_big:
            found.append(f"params.{key} = {too_big[0]:g} is above the limit of {limit:,}")
    return found


def make(task: str, name: str, params: dict[str, Any]) -> BaseEstimator:
    return allowed(task)[name](**params)
