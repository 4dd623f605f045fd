"""Feature engineering from `[features]`: derived columns, imputation, scaling and encoding.

Built as a scikit-learn Pipeline (`derive` → `features` ColumnTransformer → `model`) that is saved
whole inside the model file, so serving applies exactly the transforms used in training.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, RobustScaler, StandardScaler

from ..datasets.stats import dtype_name
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


@dataclass(frozen=True)
class Columns:
    """The model's input columns by kind, the data columns it reads, and why the others are left out."""

    numeric: list[str]
    categorical: list[str]
    inputs: list[str]
    """Data columns the model reads, in the data's order: what its signature lists."""
    excluded: dict[str, str]
    """Column -> why it is not used (target and `drop` left out)."""


def _default_exclusion(series: pd.Series) -> str | None:
    """Why a column is not a feature unless listed: all missing, or a datetime (None when usable)."""
    if series.isna().all():
        return "all values missing"
    if dtype_name(series) == "datetime":
        return "a datetime (list it in [features] numeric for its epoch seconds, or derive from it)"
    return None


def _is_number(series: pd.Series) -> bool:
    """int, float or bool (bool is 0/1)."""
    return dtype_name(series) in ("int", "float", "bool")


def choose_columns(config: FeaturesConfig, frame: pd.DataFrame, target: str) -> Columns:
    """Numeric and categorical input columns: as configured, or inferred from the data's dtypes.

    By default numbers and bools are numeric, text with at most `MAX_DEFAULT_CATEGORIES` distinct
    values is categorical; datetimes, columns with no value and other text are left out."""
    available = [str(c) for c in frame.columns if c != target and c not in config.drop]
    derived = [item.name for item in config.derived]
    excluded = {c: why for c in available if (why := _default_exclusion(frame[c])) is not None}
    usable = [c for c in available if c not in excluded]
    if config.numeric is not None:
        numeric = list(config.numeric)
    else:
        numeric = [c for c in usable if _is_number(frame[c])]
        numeric += [name for name in derived if name not in numeric and name != target and name not in config.drop]
    if config.categorical is not None:
        categorical = list(config.categorical)
    else:
        categorical = []
        for column in (c for c in usable if c not in numeric and not _is_number(frame[c])):
            distinct = frame[column].nunique(dropna=True)
            if distinct <= MAX_DEFAULT_CATEGORIES:
                categorical.append(column)
            else:
                excluded[column] = f"text with {distinct:,} distinct values (over {MAX_DEFAULT_CATEGORIES})"
    read = set(numeric) | set(categorical)
    for item in config.derived:
        read |= columns_of(parse(item.expr))
    inputs = [c for c in available if c in read]
    unused = {c: excluded.get(c, "not listed in [features]") for c in available if c not in read}
    return Columns(numeric, categorical, inputs, unused)


def check_columns(config: FeaturesConfig, frame: pd.DataFrame) -> list[str]:
    """Problems with the columns `[features]` lists: missing from the data (and not derived)."""
    known = {str(c) for c in frame.columns} | {item.name for item in config.derived}
    problems = []
    for key in ("numeric", "categorical"):
        listed = getattr(config, key) or []
        missing = [c for c in listed if c not in known]
        if missing:
            problems.append(f"features.{key} lists column(s) not in the data: {', '.join(missing)}")
    return problems


class AsNumbers(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Columns as float64: bool as 0/1, a datetime as epoch seconds, text that is no number as missing."""

    def fit(self, frame: pd.DataFrame, y: object = None) -> AsNumbers:
        self.feature_names_in_ = np.asarray(list(frame.columns), dtype=object)
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({column: _as_float(frame[column]) for column in frame.columns}, index=frame.index)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return self.feature_names_in_


class AsText(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Columns as text (missing values stay missing), so bool, number and text categories all encode."""

    def fit(self, frame: pd.DataFrame, y: object = None) -> AsText:
        self.feature_names_in_ = np.asarray(list(frame.columns), dtype=object)
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({column: frame[column].astype(object).map(str, na_action="ignore")
                             for column in frame.columns}, index=frame.index)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return self.feature_names_in_


def _as_float(series: pd.Series) -> pd.Series:
    kind = dtype_name(series)
    if kind == "datetime":  # a naive time is read as UTC
        values = series.dt.tz_convert("UTC").dt.tz_localize(None) if series.dt.tz is not None else series
        return ((values - pd.Timestamp(0)) / pd.Timedelta(seconds=1)).astype("float64")
    if kind == "bool":
        return series.map(lambda v: float(v) if pd.notna(v) else np.nan).astype("float64")
    return pd.to_numeric(series, errors="coerce").astype("float64")


def _numeric_steps(config: FeaturesConfig) -> list[tuple[str, object]]:
    steps: list[tuple[str, object]] = [("as_numbers", AsNumbers())]
    if config.impute_numeric != "none":
        steps.append(("impute", SimpleImputer(strategy=config.impute_numeric, fill_value=0)))
    scalers = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}
    if config.scale in scalers:
        steps.append(("scale", scalers[config.scale]()))
    return steps


def _categorical_steps(config: FeaturesConfig) -> list[tuple[str, object]]:
    steps: list[tuple[str, object]] = [("as_text", AsText())]
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
