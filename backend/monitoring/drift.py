"""Drift of a version's inputs and predictions over a window, against its profile (`profile.py`).

`assess` judges every input feature, `prediction_drift` the predictions; both take the window as
rows (a DataFrame of the sampled inputs, or the served outputs) and/or as bin counts already summed
from per-minute summaries (`summaries.py`). PSI, Jensen–Shannon and chi-square come from the counts;
Kolmogorov–Smirnov and Wasserstein need values, and use the window's rows, at most `VALUE_ROWS` of
them (a seeded random subset beyond).

The verdict is an effect size, PSI, against thresholds that depend on the window's size n:
`warn` from max(`WARN_FLOOR`, the PSI chance alone exceeds 5 % of the time at n rows), `drift` from
max(`DRIFT_FLOOR`, the 1 % level), both bootstrapped at registration (`profile.psi_noise`). A small
window so needs a larger PSI (its bins are noisy), a large one never flags a shift smaller than the
floors (where every p-value is tiny). `[monitor] psi_warn / psi_drift` replace both with fixed values.
p-values are shown beside, not decided on. Below `[monitor] min_rows` rows the status is `too_few`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlops_tui.contract.monitoring import Distribution, DriftStatus, FeatureDrift

from ..pipelines.config import MonitorConfig
from . import bins, stats

WARN_FLOOR = 0.1
DRIFT_FLOOR = 0.25
"""The smallest PSI that warns / drifts whatever the window's size (the usual 0.1 / 0.25 rule)."""
VALUE_ROWS = 10_000
"""Window rows the value-based statistics (KS, Wasserstein) read at most."""
PREDICTION = "prediction"
SEVERITY = {DriftStatus.DRIFT: 0, DriftStatus.WARN: 1, DriftStatus.OK: 2, DriftStatus.TOO_FEW: 3}

Counts = Mapping[str, Sequence[int] | np.ndarray]


def rules_of(pipeline: Mapping[str, Any] | None) -> MonitorConfig:
    """The `[monitor]` table of a version's stored pipeline (defaults when absent or unreadable)."""
    table = (pipeline or {}).get("monitor")
    try:
        return MonitorConfig.model_validate(table or {})
    except ValueError:
        return MonitorConfig()


def assess(profile: Mapping[str, Any], rows: pd.DataFrame | None = None, counts: Counts | None = None,
           rules: MonitorConfig | None = None) -> list[FeatureDrift]:
    """Each watched input feature over the window, worst first. A feature's counts come from `counts`
    when given (merged summaries), else from `rows`; KS and Wasserstein read `rows` (bounded)."""
    rules = rules or MonitorConfig()
    features: Mapping[str, Any] = profile.get("features") or {}
    names = [n for n in rules.features if n in features] if rules.features else list(features)
    values = _bounded(rows)
    found = []
    for name in names:
        entry = features[name]
        column = rows[name] if rows is not None and name in rows.columns else None
        found.append(judge(name, entry, _counts(entry, counts.get(name) if counts else None, column),
                           values[name] if values is not None and name in values.columns else None, rules))
    return worst_first(found)


def prediction_drift(profile: Mapping[str, Any], outputs: pd.Series | Sequence[Any] | None = None,
                     counts: Sequence[int] | np.ndarray | None = None,
                     rules: MonitorConfig | None = None) -> tuple[FeatureDrift, Distribution] | None:
    """The served predictions against the holdout's (classes or binned values), with both
    distributions; None when the profile has none."""
    entry = profile.get("prediction")
    if not entry:
        return None
    served = None if outputs is None else pd.Series(list(outputs) if not isinstance(outputs, pd.Series) else outputs)
    window = _counts(entry, counts, served)
    sample = None if served is None else (served.sample(VALUE_ROWS, random_state=0) if len(served) > VALUE_ROWS
                                          else served)
    verdict = judge(PREDICTION, entry, window, sample, rules or MonitorConfig())
    return verdict, distribution(entry, window)


def judge(name: str, entry: Mapping[str, Any], window: np.ndarray, values: pd.Series | None,
          rules: MonitorConfig) -> FeatureDrift:
    """One feature's statistics and status from its window counts (and values, for KS/Wasserstein)."""
    reference = np.asarray(entry["counts"], dtype="int64")
    rows = int(window.sum())
    numeric = entry["kind"] == "numeric"
    psi = stats.psi(reference, window) if rows else None
    if numeric:
        sample = np.asarray(entry.get("sample") or [], dtype="float64")
        found = bins.numbers(values) if values is not None else np.array([])
        found = found[~np.isnan(found)]
        p_value, distance = stats.ks_pvalue(sample, found), stats.wasserstein(sample, found, entry.get("std"))
    else:
        p_value = stats.chi2_pvalue(reference, window) if rows else None
        distance = stats.jensen_shannon(reference, window) if rows else None
    warn_at, drift_at = thresholds(entry, rows, rules)
    if rows < rules.min_rows or psi is None:
        status = DriftStatus.TOO_FEW
    else:
        status = DriftStatus.DRIFT if psi >= drift_at else DriftStatus.WARN if psi >= warn_at else DriftStatus.OK
    return FeatureDrift(feature=name, kind="numeric" if numeric else "categorical", rows=rows, psi=psi,
                        p_value=p_value, test="ks" if numeric else "chi2", distance=distance, status=status,
                        warn_at=warn_at, drift_at=drift_at)


def thresholds(entry: Mapping[str, Any], rows: int, rules: MonitorConfig) -> tuple[float, float]:
    """(warn_at, drift_at): the `[monitor]` values, else the floors or the calibrated noise at `rows`."""
    noise = entry.get("noise") or {}
    warn = rules.psi_warn if rules.psi_warn is not None else max(WARN_FLOOR, noise_at(noise, "q95", rows))
    drift = rules.psi_drift if rules.psi_drift is not None else max(DRIFT_FLOOR, noise_at(noise, "q99", rows))
    return warn, max(drift, warn)


def noise_at(noise: Mapping[str, Any], key: str, rows: int) -> float:
    """The calibrated PSI quantile at `rows` rows: log-log interpolation between the calibrated sizes,
    and proportional to 1 / rows beyond them (PSI's noise shrinks as 1 / n)."""
    sizes, levels = noise.get("sizes") or [], noise.get(key) or []
    if not sizes or not levels or rows <= 0:
        return 0.0
    if rows <= sizes[0] or rows >= sizes[-1]:
        edge = 0 if rows <= sizes[0] else -1
        return float(levels[edge] * sizes[edge] / rows)
    upper = int(np.searchsorted(sizes, rows))
    low_n, high_n, low_q, high_q = sizes[upper - 1], sizes[upper], levels[upper - 1], levels[upper]
    if low_q <= 0 or high_q <= 0:
        return float(max(low_q, high_q))
    share = (math.log(rows) - math.log(low_n)) / (math.log(high_n) - math.log(low_n))
    return math.exp(math.log(low_q) + share * (math.log(high_q) - math.log(low_q)))


def worst_first(found: list[FeatureDrift]) -> list[FeatureDrift]:
    """Drift, then warn, then ok, then too few rows; within each, the highest PSI relative to its
    drift threshold first."""
    def key(item: FeatureDrift) -> tuple[int, float, str]:
        ratio = (item.psi or 0.0) / item.drift_at if item.drift_at else (item.psi or 0.0)
        return SEVERITY[item.status], -ratio, item.feature
    return sorted(found, key=key)


def distribution(entry: Mapping[str, Any], window: np.ndarray) -> Distribution:
    """Shares of the reference and of the window over the entry's bins (an `other` or `null` bin empty
    on both sides left out)."""
    reference = np.asarray(entry["counts"], dtype="float64")
    labels = bins.labels(dict(entry))
    value_bins = len(labels) - (2 if entry["kind"] == "categorical" else 1)
    keep = [i for i in range(len(labels)) if i < value_bins or reference[i] + window[i] > 0]
    return Distribution(labels=[labels[i] for i in keep], reference=_shares(reference)[keep].tolist(),
                        current=_shares(window.astype("float64"))[keep].tolist())


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else np.zeros_like(counts)


def _counts(entry: Mapping[str, Any], given: Sequence[int] | np.ndarray | None, values: pd.Series | None) -> np.ndarray:
    size = bins.bin_count(dict(entry))
    if given is not None and len(given) == size:
        return np.asarray(given, dtype="int64")
    if values is not None:
        return bins.counts(dict(entry), values)
    return np.zeros(size, dtype="int64")


def _bounded(rows: pd.DataFrame | None) -> pd.DataFrame | None:
    """At most `VALUE_ROWS` of the window's rows (a seeded random subset), for the value-based tests."""
    if rows is None or len(rows) <= VALUE_ROWS:
        return rows
    picked = np.random.default_rng(0).choice(len(rows), size=VALUE_ROWS, replace=False)
    return rows.iloc[np.sort(picked)]
