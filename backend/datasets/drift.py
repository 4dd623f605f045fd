"""Shift between two versions of a column's statistics: the population stability index (PSI).

Numeric columns: the later values are binned into the earlier version's 20 histogram bins, the outer
bins open-ended so nothing falls outside; categorical columns: the two frequency tables (top values
plus "__other__"). Missing values are one more bin in both. A column has shifted when PSI > 0.2.
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


def psi(expected: list[float], actual: list[float]) -> float:
    """Population stability index between two count vectors over the same bins."""
    total_e, total_a = sum(expected), sum(actual)
    if total_e <= 0 or total_a <= 0:
        return 0.0
    score = 0.0
    for e, a in zip(expected, actual):
        p = max(e / total_e, PSI_FLOOR)
        q = max(a / total_a, PSI_FLOOR)
        score += (q - p) * math.log(q / p)
    return score


def _rounded(value: float | None, digits: int = 6) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def bin_counts(edges: list[float], values: np.ndarray) -> list[int]:
    """Counts of `values` in the bins of `edges`, the outer bins open-ended (so nothing falls out)."""
    inner = np.asarray(edges[1:-1], dtype="float64")
    index = np.searchsorted(inner, values, side="right")
    return [int(c) for c in np.bincount(index, minlength=len(edges) - 1)]


def numeric_shift(name: str, a: dict[str, Any], b: dict[str, Any], values_b: np.ndarray | None) -> dict[str, Any]:
    """PSI of `values_b` (finite floats) over a's histogram bins, plus the change of mean and spread."""
    edges = a["histogram"]["edges"]
    score: float | None = None
    if edges and b["count"] and values_b is not None:
        expected = [*a["histogram"]["counts"], a["nulls"]]
        actual = [*bin_counts(edges, values_b), b["nulls"]]
        score = psi(expected, actual)
    mean_a, mean_b, std_a, std_b = a["mean"], b["mean"], a["std"], b["std"]
    return {
        "column": name, "kind": "numeric", "psi": _rounded(score),
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


def column_shift(name: str, a: dict[str, Any], b: dict[str, Any], values_b: pd.Series | None = None) -> dict[str, Any]:
    """How column `name` moved from stats `a` to stats `b` (`values_b`: b's raw values, for exact numeric bins)."""
    if a["kind"] != b["kind"]:
        return {"column": name, "kind": f"{a['kind']}->{b['kind']}", "psi": None, "shifted": False,
                "null_share_a": null_share(a), "null_share_b": null_share(b)}
    if a["kind"] == "numeric":
        if values_b is not None:
            values = finite_values(values_b).dropna().to_numpy(dtype="float64")
        else:
            values = approximate_values(b) if b["histogram"]["edges"] else None
        return numeric_shift(name, a, b, values)
    if a["kind"] == "categorical":
        return categorical_shift(name, a, b)
    return {"column": name, "kind": a["kind"], "psi": None, "shifted": False,
            "null_share_a": null_share(a), "null_share_b": null_share(b)}


def compare(stats_a: dict[str, dict[str, Any]], stats_b: dict[str, dict[str, Any]],
            frame_b: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """`column_shift` for every column in both, in a's order."""
    return [column_shift(c, stats_a[c], stats_b[c], frame_b[c] if frame_b is not None and c in frame_b else None)
            for c in stats_a if c in stats_b]
