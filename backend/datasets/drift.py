"""Shift between two versions of a column's statistics: the population stability index (PSI).

Numeric columns: the later values are binned into the earlier version's 20 histogram bins, the outer
bins open-ended so nothing falls outside; categorical columns: the two frequency tables (top values
plus "__other__"). Missing values are one more bin in both. A column has shifted when PSI > 0.2.
Shares are floored at 1e-4 before the logarithm, so an empty bin adds a large but finite amount.

PSI over 20 bins is noisy on small samples (with 178 rows, 6 % of bootstrap resamples of the same
data read "shifted"), so when either version has fewer than `MIN_ROWS` rows no column gets a
verdict: the diff says "too few rows to judge". Numeric columns also get the two-sample
Kolmogorov-Smirnov p-value (scipy's `ks_2samp`) on the raw values of both versions, read back from
their stored files (missing values left out); it is None when a file is gone, because binned
statistics are not a sound stand-in for a test that compares whole distributions.
Monitoring compares live inputs to a training reference with the same functions.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .stats import OTHER, finite_values

SHIFT_THRESHOLD = 0.2
"""A column whose population stability index is above this has shifted."""
PSI_FLOOR = 1e-4
"""Shares are floored at this before the logarithm, so an empty bin does not give infinity."""
MIN_ROWS = 500
"""Below this many rows in either version, PSI is too noisy for a verdict: no column is called shifted."""


def psi(expected: list[float], actual: list[float]) -> float:
    """Population stability index between two count vectors over the same bins."""
    total_e, total_a = sum(expected), sum(actual)
    if total_e <= 0 or total_a <= 0:
        return 0.0
    score = 0.0
    for e, a in zip(expected, actual, strict=False):
        p = max(e / total_e, PSI_FLOOR)
        q = max(a / total_a, PSI_FLOOR)
        score += (q - p) * math.log(q / p)
    return score


def _rounded(value: float | None, digits: int = 6) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def _significant(value: float | None) -> float | None:
    """Six significant digits (a p-value can be tiny)."""
    return None if value is None else float(f"{value:.6g}")


def bin_counts(edges: list[float], values: np.ndarray) -> list[int]:
    """Counts of `values` in the bins of `edges`, the outer bins open-ended (so nothing falls out)."""
    inner = np.asarray(edges[1:-1], dtype="float64")
    index = np.searchsorted(inner, values, side="right")
    return [int(c) for c in np.bincount(index, minlength=len(edges) - 1)]


def ks_pvalue(values_a: np.ndarray | None, values_b: np.ndarray | None) -> float | None:
    """The two-sample Kolmogorov-Smirnov p-value of raw values (None without both, or with an empty one)."""
    if values_a is None or values_b is None or not len(values_a) or not len(values_b):
        return None
    from scipy.stats import ks_2samp  # loaded on the first diff, not at server start

    return float(ks_2samp(values_a, values_b).pvalue)


def numeric_shift(name: str, a: dict[str, Any], b: dict[str, Any], values_b: np.ndarray | None,
                  values_a: np.ndarray | None = None) -> dict[str, Any]:
    """PSI of `values_b` (finite floats) over a's histogram bins, the KS p-value when both versions' raw
    values are given, and the change of mean and spread."""
    edges = a["histogram"]["edges"]
    score: float | None = None
    if edges and b["count"] and values_b is not None:
        expected = [*a["histogram"]["counts"], a["nulls"]]
        actual = [*bin_counts(edges, values_b), b["nulls"]]
        score = psi(expected, actual)
    mean_a, mean_b, std_a, std_b = a["mean"], b["mean"], a["std"], b["std"]
    return {
        "column": name, "kind": "numeric", "psi": _rounded(score),
        "ks_pvalue": _significant(ks_pvalue(values_a, values_b)),
        "shifted": score is not None and score > SHIFT_THRESHOLD,
        "mean_a": mean_a, "mean_b": mean_b,
        "mean_change": _rounded(mean_b - mean_a) if mean_a is not None and mean_b is not None else None,
        "mean_shift_std": _rounded((mean_b - mean_a) / std_a) if mean_a is not None and mean_b is not None
        and std_a else None,
        "std_a": std_a, "std_b": std_b,
        "std_ratio": _rounded(std_b / std_a) if std_a and std_b is not None else None,
        "null_share_a": null_share(a), "null_share_b": null_share(b),
    }


def categorical_shift(name: str, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """PSI over the union of both frequency tables, plus values b has that a never had."""
    freq_a, freq_b = dict(a["frequencies"]), dict(b["frequencies"])
    keys = [k for k in freq_a if k != OTHER] + [k for k in freq_b if k != OTHER and k not in freq_a]
    expected = [freq_a.get(k, 0) for k in keys] + [freq_a.get(OTHER, 0), a["nulls"]]
    actual = [freq_b.get(k, 0) for k in keys] + [freq_b.get(OTHER, 0), b["nulls"]]
    score = psi(expected, actual) if a["count"] + a["nulls"] and b["count"] + b["nulls"] else None
    complete = freq_a.get(OTHER, 0) == 0  # a's table lists all its values: b's others are new
    return {
        "column": name, "kind": "categorical", "psi": _rounded(score),
        "shifted": score is not None and score > SHIFT_THRESHOLD,
        "unique_a": a["unique"], "unique_b": b["unique"],
        "new_values": [k for k in freq_b if k != OTHER and k not in freq_a][:20] if complete else [],
        "null_share_a": null_share(a), "null_share_b": null_share(b),
    }


def null_share(stats: dict[str, Any]) -> float | None:
    total = stats["count"] + stats["nulls"]
    return _rounded(stats["nulls"] / total) if total else None


def approximate_values(stats: dict[str, Any]) -> np.ndarray:
    """Bin centres repeated by their counts: a stand-in for a column's values when only its stats exist."""
    edges = np.asarray(stats["histogram"]["edges"], dtype="float64")
    centres = (edges[:-1] + edges[1:]) / 2
    return np.repeat(centres, np.asarray(stats["histogram"]["counts"], dtype="int64"))


def _raw(values: pd.Series | None) -> np.ndarray | None:
    return None if values is None else finite_values(values).dropna().to_numpy(dtype="float64")


def column_shift(name: str, a: dict[str, Any], b: dict[str, Any], values_b: pd.Series | None = None,
                 values_a: pd.Series | None = None) -> dict[str, Any]:
    """How column `name` moved from stats `a` to stats `b` (`values_a`, `values_b`: the raw values, for exact
    numeric bins and the KS test)."""
    if a["kind"] != b["kind"]:
        return {"column": name, "kind": f"{a['kind']}->{b['kind']}", "psi": None, "shifted": False,
                "null_share_a": null_share(a), "null_share_b": null_share(b)}
    if a["kind"] == "numeric":
        values = _raw(values_b)
        if values is None and b["histogram"]["edges"]:
            values = approximate_values(b)
        return numeric_shift(name, a, b, values, _raw(values_a) if values_b is not None else None)
    if a["kind"] == "categorical":
        return categorical_shift(name, a, b)
    return {"column": name, "kind": a["kind"], "psi": None, "shifted": False,
            "null_share_a": null_share(a), "null_share_b": null_share(b)}


def rows_of(stats: dict[str, dict[str, Any]]) -> int:
    """A version's row count, from any column's statistics (count + nulls)."""
    first = next(iter(stats.values()), None)
    return int(first["count"] + first["nulls"]) if first else 0


def judged(stats_a: dict[str, dict[str, Any]], stats_b: dict[str, dict[str, Any]]) -> bool:
    """Whether both versions have enough rows (`MIN_ROWS`) for a shift verdict."""
    return min(rows_of(stats_a), rows_of(stats_b)) >= MIN_ROWS


def compare(stats_a: dict[str, dict[str, Any]], stats_b: dict[str, dict[str, Any]],
            frame_b: pd.DataFrame | None = None, frame_a: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """`column_shift` for every column in both, in a's order. Each gets a `verdict`: "shifted", "stable",
    "too few rows" (then `shifted` is false whatever the PSI) or "not comparable"."""
    enough = judged(stats_a, stats_b)
    found = []
    for column in (c for c in stats_a if c in stats_b):
        shift = column_shift(column, stats_a[column], stats_b[column],
                             frame_b[column] if frame_b is not None and column in frame_b else None,
                             frame_a[column] if frame_a is not None and column in frame_a else None)
        if shift["psi"] is None:
            shift["verdict"] = "not comparable"
        elif not enough:
            shift["shifted"], shift["verdict"] = False, "too few rows"
        else:
            shift["verdict"] = "shifted" if shift["shifted"] else "stable"
        found.append(shift)
    return found
