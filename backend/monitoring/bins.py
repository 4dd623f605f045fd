"""A feature's frozen reference bins, and how values fall into them.

A profile entry (what `profile.build` stores per feature, plain JSON) is one of:

- numeric: `{"kind": "numeric", "edges": [e1, ..., ek]}`: the cut points (training deciles, repeated
  values collapsed); bin 0 is `< e1`, bin i is `[ei, ei+1)`, the last value bin `>= ek` (the outer bins
  are open-ended, so nothing falls outside), then one bin for missing values (null, NaN, infinities or
  text that is not a number).
- categorical: `{"kind": "categorical", "values": [...]}`: the most frequent training values as text,
  then one bin for any other value and one for missing values.

Counting is vectorized (one comparison pass per cut point; one hash pass over a text column): a million
rows take milliseconds per feature.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

NULL_LABEL = "null"
OTHER_LABEL = "other"


def bin_count(entry: dict[str, Any]) -> int:
    """Bins of a profile entry, the missing-value bin included."""
    if entry["kind"] == "numeric":
        return len(entry["edges"]) + 2
    return len(entry["values"]) + 2


def numbers(values: pd.Series | Sequence[Any]) -> np.ndarray:
    """Values as float64: text that is not a number, None and infinities become NaN (missing)."""
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype="object")
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        series = pd.to_numeric(series, errors="coerce")
    found = np.array(series.to_numpy(dtype="float64", na_value=np.nan), dtype="float64")  # a copy: written next
    found[~np.isfinite(found)] = np.nan
    return found


def texts(values: pd.Series | Sequence[Any]) -> pd.Series:
    """Values as an object series of text (None stays missing): `1`, `True`, `basic`."""
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype="object")
    missing = series.isna().to_numpy()
    if not missing.any() and pd.api.types.infer_dtype(series, skipna=False) == "string":
        return series
    text = series.astype("object").where(~missing, None)
    return text.map(lambda v: v if v is None or isinstance(v, str) else str(v))


def counts(entry: dict[str, Any], values: pd.Series | Sequence[Any]) -> np.ndarray:
    """How many of `values` fall in each bin of `entry` (int64, `bin_count(entry)` long)."""
    if entry["kind"] == "numeric":
        found = numbers(values)
        missing = int(np.isnan(found).sum())
        below = [np.count_nonzero(found < edge) for edge in entry["edges"]]  # NaN is below nothing
        return np.diff(np.array([0, *below, len(found) - missing, len(found)], dtype="int64"))
    categories = list(entry["values"])
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype="object")
    found = np.zeros(len(categories) + 2, dtype="int64")
    frequencies = series.value_counts(dropna=True)  # one hash pass; the loop below is over distinct values
    codes = pd.Index(categories, dtype="object").get_indexer(frequencies.index.astype("object"))
    unmatched = codes < 0
    if unmatched.any():  # numbers or bools sent for a text feature: compare their text
        retried = pd.Index(categories, dtype="object").get_indexer(texts(frequencies.index[unmatched].to_series()))
        codes[unmatched] = np.where(retried < 0, len(categories), retried)
    np.add.at(found, codes, frequencies.to_numpy(dtype="int64"))
    found[-1] = int(series.isna().sum())
    return found


def labels(entry: dict[str, Any]) -> list[str]:
    """One label per bin: `< 12.5`, `12.5–20`, `>= 80`, `null`; or the values, `other`, `null`."""
    if entry["kind"] == "categorical":
        return [*entry["values"], OTHER_LABEL, NULL_LABEL]
    edges = [f"{edge:.4g}" for edge in entry["edges"]]
    if not edges:
        return ["all", NULL_LABEL]
    middle = [f"{low}–{high}" for low, high in zip(edges, edges[1:], strict=False)]
    return [f"< {edges[0]}", *middle, f">= {edges[-1]}", NULL_LABEL]


def numeric_entry(values: np.ndarray, quantiles: int = 10) -> dict[str, Any]:
    """Bins for finite float `values` (NaN for missing): cut at the deciles, repeated cut points merged."""
    finite = values[~np.isnan(values)]
    edges = (np.unique(np.quantile(finite, np.linspace(0, 1, quantiles + 1)[1:-1])) if len(finite)
             else np.array([]))
    return {"kind": "numeric", "edges": [float(edge) for edge in edges]}


def categorical_entry(values: pd.Series, top: int = 20) -> dict[str, Any]:
    """Bins for text values: the `top` most frequent (ties by text), then other, then missing."""
    frequencies = texts(values).value_counts(dropna=True)
    ranked = sorted(frequencies.items(), key=lambda item: (-int(item[1]), str(item[0])))
    return {"kind": "categorical", "values": [str(value) for value, _ in ranked[:top]]}
