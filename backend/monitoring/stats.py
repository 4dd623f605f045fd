"""The drift statistics, each on its own: PSI, Jensen–Shannon and chi-square from bin counts (so they
work on merged per-minute summaries), Kolmogorov–Smirnov and Wasserstein from values (a bounded sample
of the window's rows against the reference sample).

PSI = Σ (qᵢ − pᵢ) · ln(qᵢ / pᵢ) over the bins, p the reference's shares and q the window's, each share
floored at `PSI_FLOOR` first (an empty bin adds a large but finite amount).
"""
from __future__ import annotations

import numpy as np

PSI_FLOOR = 1e-4


def psi_rows(reference: np.ndarray, window: np.ndarray) -> np.ndarray:
    """PSI of each row of `window` against the same row of `reference` (2-D count arrays, or 1-D: one
    reference for every window row)."""
    ref = np.atleast_2d(np.asarray(reference, dtype="float64"))
    cur = np.atleast_2d(np.asarray(window, dtype="float64"))
    p = np.maximum(ref / np.maximum(ref.sum(axis=1, keepdims=True), 1), PSI_FLOOR)
    q = np.maximum(cur / np.maximum(cur.sum(axis=1, keepdims=True), 1), PSI_FLOOR)
    return np.asarray(((q - p) * np.log(q / p)).sum(axis=1))


def psi(reference: np.ndarray, window: np.ndarray) -> float:
    """PSI of one window's counts against the reference's counts (same bins)."""
    return float(psi_rows(reference, window)[0])


def jensen_shannon(reference: np.ndarray, window: np.ndarray) -> float:
    """Jensen–Shannon distance (base 2, 0 to 1) between the two count vectors' shares."""
    from scipy.spatial.distance import jensenshannon

    return float(jensenshannon(np.asarray(reference, dtype="float64"), np.asarray(window, dtype="float64"), base=2))


def chi2_pvalue(reference: np.ndarray, window: np.ndarray) -> float | None:
    """The chi-square test of homogeneity of the two count vectors (scipy's `chi2_contingency` on the
    2 × bins table, bins empty in both left out); None with fewer than two bins left."""
    from scipy.stats import chi2_contingency

    table = np.vstack([np.asarray(reference, dtype="float64"), np.asarray(window, dtype="float64")])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return None
    return float(chi2_contingency(table).pvalue)


KS_EXACT_PAIRS = 1_000_000
"""Up to this many (reference, window) value pairs the KS p-value is scipy's default (exact for small
samples); beyond, its asymptotic distribution (the exact one costs seconds there, and agrees)."""


def ks_method(reference_size: int, window_size: int) -> str:
    return "auto" if reference_size * window_size <= KS_EXACT_PAIRS else "asymp"


def ks_pvalue(reference_sample: np.ndarray, values: np.ndarray) -> float | None:
    """The two-sample Kolmogorov–Smirnov p-value (scipy's `ks_2samp`, `ks_method`); None when either
    side is empty."""
    from scipy.stats import ks_2samp

    if not len(reference_sample) or not len(values):
        return None
    return float(ks_2samp(reference_sample, values, method=ks_method(len(reference_sample), len(values))).pvalue)


def wasserstein(reference_sample: np.ndarray, values: np.ndarray, std: float | None) -> float | None:
    """The Wasserstein (earth mover's) distance between the two samples, in reference standard
    deviations (raw when the reference has no spread); None when either side is empty."""
    from scipy.stats import wasserstein_distance

    if not len(reference_sample) or not len(values):
        return None
    distance = float(wasserstein_distance(reference_sample, values))
    return distance / std if std else distance
