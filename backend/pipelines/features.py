"""Feature engineering from `[features]`: derived columns, imputation, scaling and encoding.

Built as a scikit-learn Pipeline (`derive` → `features` ColumnTransformer → `model`) that is saved
whole inside the model file, so serving applies exactly the transforms used in training.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, RobustScaler, StandardScaler

from .config import FeaturesConfig
from .expressions import ExpressionError, columns_of, evaluate, parse

MAX_DEFAULT_CATEGORIES = 50


class DerivedColumns(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Adds columns computed by safe expressions: `derived=[("ratio", "a / b"), ...]`."""

    def __init__(self, derived: list[tuple[str, str]] | None = None) -> None:
        self.derived = derived

    def fit(self, frame: pd.DataFrame, y: object = None) -> DerivedColumns:
        for _, expression in self.derived or []:
            parse(expression)
        self.feature_names_in_ = np.asarray(list(frame.columns), dtype=object)
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        if not self.derived:
            return frame
        out = frame.copy()
        for name, expression in self.derived:
            values = evaluate(parse(expression), out)
            values[~np.isfinite(values)] = np.nan
            out[name] = values
        return out

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        names = list(self.feature_names_in_) + [name for name, _ in self.derived or []]
        return np.asarray(names, dtype=object)


def check_derived(config: FeaturesConfig, columns: list[str]) -> list[str]:
    """Problems with the derived expressions against the data's columns (empty when fine)."""
    problems = []
    known = set(columns)
    for index, item in enumerate(config.derived):
        try:
            missing = columns_of(parse(item.expr)) - known
        except ExpressionError as error:
            problems.append(f"features.derived[{index}].expr: {error}")
            continue
        if missing:
            problems.append(f"features.derived[{index}].expr uses unknown column(s): {', '.join(sorted(missing))}")
        known.add(item.name)
    return problems


def choose_columns(config: FeaturesConfig, frame: pd.DataFrame, target: str) -> tuple[list[str], list[str]]:
    """Numeric and categorical input columns: as configured, or inferred from the data's dtypes."""
    excluded = {target, *config.drop}
    derived = [item.name for item in config.derived]
    if config.numeric is not None:
        numeric = list(config.numeric)
    else:
        numeric = [c for c in frame.columns if c not in excluded and pd.api.types.is_numeric_dtype(frame[c])
                   and not pd.api.types.is_bool_dtype(frame[c])]
        numeric += [name for name in derived if name not in numeric and name not in excluded]
    if config.categorical is not None:
        categorical = list(config.categorical)
    else:
        categorical = [c for c in frame.columns if c not in excluded and c not in numeric
                       and not pd.api.types.is_numeric_dtype(frame[c])
                       and frame[c].nunique(dropna=True) <= MAX_DEFAULT_CATEGORIES]
    return numeric, categorical


def _numeric_steps(config: FeaturesConfig) -> list[tuple[str, object]]:
    steps: list[tuple[str, object]] = []
    if config.impute_numeric != "none":
        steps.append(("impute", SimpleImputer(strategy=config.impute_numeric, fill_value=0)))
    scalers = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}
    if config.scale in scalers:
        steps.append(("scale", scalers[config.scale]()))
    return steps or [("pass", "passthrough")]


def _categorical_steps(config: FeaturesConfig) -> list[tuple[str, object]]:
    steps: list[tuple[str, object]] = []
    if config.impute_categorical != "none":
        steps.append(("impute", SimpleImputer(strategy=config.impute_categorical, fill_value="missing")))
    if config.encode == "onehot":
        steps.append(("encode", OneHotEncoder(handle_unknown="ignore")))
    else:
        steps.append(("encode", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                               encoded_missing_value=-1)))
    return steps


def build_pipeline(config: FeaturesConfig, numeric: list[str], categorical: list[str],
                   estimator: BaseEstimator) -> Pipeline:
    transformers = []
    if numeric:
        transformers.append(("numeric", Pipeline(_numeric_steps(config)), numeric))
    if categorical:
        transformers.append(("categorical", Pipeline(_categorical_steps(config)), categorical))
    derived = [(item.name, item.expr) for item in config.derived]
    return Pipeline([
        ("derive", DerivedColumns(derived)),
        ("features", ColumnTransformer(transformers, remainder="drop")),
        ("model", estimator),
    ])
