"""What the live-drift tests share: a synthetic churn-like population (numeric, discrete, with gaps,
categorical with rare values), shifts of it, and a real classifier trained on it."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

PLANS = ("basic", "standard", "premium")
PLAN_SHARES = (0.5, 0.3, 0.2)
REGIONS = tuple(f"region-{i:02d}" for i in range(30))
"""More regions than a profile keeps (20): the rare ones fall in its `other` bin."""
REGION_SHARES = tuple(np.array([1 / (i + 1) for i in range(30)]) / sum(1 / (i + 1) for i in range(30)))
NUMERIC = ["age", "income", "calls"]
CATEGORICAL = ["plan", "region"]


def population(rows: int, seed: int, age_shift: float = 0.0,
               plan_shares: tuple[float, ...] = PLAN_SHARES) -> tuple[pd.DataFrame, pd.Series]:
    """`rows` customers and whether each churned; `age_shift` moves the mean age (its std is 10)."""
    rng = np.random.default_rng(seed)
    age = rng.normal(40 + age_shift, 10, rows)
    income = rng.lognormal(10, 0.5, rows)
    income[rng.random(rows) < 0.05] = np.nan
    calls = rng.poisson(1.5, rows)
    plan = rng.choice(PLANS, rows, p=plan_shares)
    region = rng.choice(REGIONS, rows, p=REGION_SHARES)
    logit = -0.08 * (age - 40) + 0.7 * (calls - 1.5) - 1.2 * (plan == "premium") + 0.5 * (plan == "basic")
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({"age": age, "income": income, "calls": calls, "plan": plan, "region": region})
    return frame, pd.Series(churned, name="churned")


def classifier(x: pd.DataFrame, y: pd.Series) -> Pipeline:
    """A real pipeline like the ones training saves: imputation, scaling, one-hot, logistic regression."""
    columns = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMERIC),
        ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)])
    return Pipeline([("columns", columns), ("model", LogisticRegression(max_iter=500))]).fit(x, y)


def direct_psi(reference: list[float], window: list[float], floor: float = 1e-4) -> float:
    """PSI written out term by term, for checking the vectorized one."""
    import math

    total_r, total_w = sum(reference), sum(window)
    score = 0.0
    for r, w in zip(reference, window, strict=True):
        p, q = max(r / total_r, floor), max(w / total_w, floor)
        score += (q - p) * math.log(q / p)
    return score


def direct_numeric_counts(edges: list[float], values: Any) -> list[int]:
    """Bins of a numeric profile entry counted one value at a time: `< e1`, `[ei, ei+1)`, `>= ek`, missing."""
    counts = [0] * (len(edges) + 2)
    for value in values:
        if value is None or not np.isfinite(value):
            counts[-1] += 1
            continue
        counts[sum(1 for edge in edges if value >= edge)] += 1
    return counts
