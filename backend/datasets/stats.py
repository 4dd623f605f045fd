"""Per-column statistics of a table: what a dataset version keeps and monitoring compares against.

Every value is plain JSON (int, float, str, None): no numpy types and no NaN.

- numeric (int/float, not bool): kind "numeric", count, nulls, mean, std (sample, ddof=1, as pandas),
  min, max, quantiles {p01 ... p99} (linear interpolation, as pandas), and a 20-bin histogram over
  [min, max] (`edges`: 21 floats, `counts`: 20 ints; empty lists when the column has no value).
  Infinities count as nulls.
- categorical (text, bool, category): kind "categorical", count, nulls, unique, and `frequencies`:
  the 50 most frequent values (as text) with their counts, then "__other__" for the rest.
- datetime: kind "datetime", count, nulls, min, max (ISO-8601 text).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

QUANTILES = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}
BINS = 20
TOP_VALUES = 50
OTHER = "__other__"


def dtype_name(series: pd.Series) -> str:
    """int, float, bool, datetime, category or string."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_object_dtype(dtype):
        values = series.dropna()
        if len(values) and all(isinstance(v, (bool, np.bool_)) for v in values):
            return "bool"  # True/False with gaps: pandas keeps these as objects
    return "string"


def schema_of(frame: pd.DataFrame) -> dict[str, str]:
    """Column -> dtype name, in column order."""
    return {str(column): dtype_name(frame[column]) for column in frame.columns}


def column_stats(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {str(column): series_stats(frame[column]) for column in frame.columns}


def series_stats(series: pd.Series) -> dict[str, Any]:
    kind = dtype_name(series)
    if kind in ("int", "float"):
        return numeric_stats(series)
    if kind == "datetime":
        return _datetime_stats(series)
    return categorical_stats(series)


def plain(value: Any) -> Any:
    """A JSON-safe Python scalar: numpy scalars unwrapped, NaN/NA/NaT/infinities as None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def finite_values(series: pd.Series) -> pd.Series:
    """The column as float64 with infinities turned into NaN."""
    values = pd.to_numeric(series, errors="coerce").astype("float64")
    return values.replace([np.inf, -np.inf], np.nan)


def numeric_stats(series: pd.Series) -> dict[str, Any]:
    integer = dtype_name(series) == "int"
    values = series if integer else finite_values(series)
    present = values.dropna()
    count = int(present.size)
    stats: dict[str, Any] = {"kind": "numeric", "count": count, "nulls": int(series.size - count)}
    if count == 0:
        stats.update(mean=None, std=None, min=None, max=None, quantiles={k: None for k in QUANTILES},
                     histogram={"edges": [], "counts": []})
        return stats
    stats.update(
        mean=plain(present.mean()),
        std=plain(present.std()) if count > 1 else None,
        min=plain(present.min()),
        max=plain(present.max()),
        # one pass for every quantile
        quantiles=dict(zip(QUANTILES, map(plain, present.quantile(list(QUANTILES.values()))), strict=False)),
        histogram=histogram(present.to_numpy(dtype="float64")),
    )
    return stats


def histogram_edges(low: float, high: float) -> np.ndarray:
    if low == high:  # one distinct value: a unit-wide range around it
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, BINS + 1)


def histogram(values: np.ndarray) -> dict[str, list[Any]]:
    edges = histogram_edges(float(values.min()), float(values.max()))
    counts, _ = np.histogram(values, bins=edges)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def frequencies(series: pd.Series) -> dict[str, int]:
    """Every value's count (as text), most frequent first; nulls left out."""
    present = series.dropna()
    try:
        counts = present.value_counts(sort=False)
    except TypeError:  # unhashable cells (lists in Parquet): count their text
        counts = present.astype(str).value_counts(sort=False)
    merged: dict[str, int] = {}
    for value, count in counts.items():
        if count:
            key = str(value)
            merged[key] = merged.get(key, 0) + int(count)
    return dict(sorted(merged.items(), key=lambda item: (-item[1], item[0])))


def categorical_stats(series: pd.Series) -> dict[str, Any]:
    counted = frequencies(series)
    top = dict(list(counted.items())[:TOP_VALUES])
    top[OTHER] = sum(counted.values()) - sum(top.values())
    count = int(series.notna().sum())
    return {"kind": "categorical", "count": count, "nulls": int(series.size - count), "unique": len(counted),
            "frequencies": top}


def _datetime_stats(series: pd.Series) -> dict[str, Any]:
    present = series.dropna()
    count = int(present.size)
    return {"kind": "datetime", "count": count, "nulls": int(series.size - count),
            "min": present.min().isoformat() if count else None,
            "max": present.max().isoformat() if count else None}
