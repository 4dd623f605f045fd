"""Generate `churn.csv`, a synthetic customer churn table with a plausible signal, and the traffic
files the demo and tests replay against the served churn model.

Run: `python sample_data/make_churn.py` (deterministic: the same seeds give the same files).
Columns: numeric (tenure, charges, support calls, usage), categorical (plan, region, payment,
contract), some missing values, and the target `churned` (0/1), plus `monthly_spend_next`
(a regression target).

Traffic (same columns, true labels included, drawn by the same process with other seeds):
- `churn_traffic.csv`: drawn like the training data (no drift);
- `churn_traffic_drift.csv`: customers from a price rise and a support outage: `monthly_charges`
  up by 30, `support_calls` about three times as many, and `contract` mostly monthly (`DRIFTED`);
  the other columns are drawn as in training, and labels follow the same churn process.

A newer training data version, for continuous training (`make demo` adds it as version 2 of the
`churn` dataset before the drifted traffic comes in, so the retrain the drift triggers learns it):
- `churn_recent.csv`: customers drawn like `churn_traffic_drift.csv` (the same shifted process,
  another seed), with `churn.csv`'s row count; `churn_loop_pipeline.toml` validates it as it
  validates `churn.csv`.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd


DRIFTED = ("monthly_charges", "support_calls", "contract")
"""The features `churn_traffic_drift.csv` shifts."""
TRAFFIC_ROWS = 3000


def make(rows: int = 4000, seed: int = 7, drift: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "standard", "premium"], rows, p=[0.5, 0.35, 0.15])
    region = rng.choice(["north", "south", "east", "west"], rows)
    payment = rng.choice(["card", "bank", "invoice"], rows, p=[0.55, 0.3, 0.15])
    contract = rng.choice(["monthly", "yearly", "two_year"], rows, p=[0.8, 0.15, 0.05] if drift else [0.55, 0.3, 0.15])
    tenure = rng.gamma(2.0, 12.0, rows).clip(1, 120).round()
    base = {"basic": 25.0, "standard": 55.0, "premium": 95.0}
    charges = (np.array([base[p] for p in plan]) + rng.normal(0, 8, rows)).clip(5, None) + (30.0 if drift else 0.0)
    support_calls = rng.poisson((1.2 + (plan == "basic") * 0.8) * (3.0 if drift else 1.0), rows)
    usage_gb = rng.lognormal(2.5, 0.7, rows)
    age = rng.integers(18, 80, rows).astype(float)
    logit = (
        -1.0
        - 0.035 * tenure
        + 0.45 * support_calls
        + 0.012 * (charges - 50)
        + 1.1 * (contract == "monthly")
        - 0.8 * (contract == "two_year")
        + 0.5 * (payment == "invoice")
        - 0.01 * (usage_gb - 15)
        + rng.normal(0, 0.5, rows)
    )
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    spend_next = (charges * (1 + 0.002 * tenure) + 0.4 * usage_gb - 6 * churned + rng.normal(0, 4, rows)).round(2)
    frame = pd.DataFrame({
        "customer_id": [f"C{index:05d}" for index in range(rows)],
        "tenure_months": tenure,
        "monthly_charges": charges.round(2),
        "support_calls": support_calls,
        "usage_gb": usage_gb.round(2),
        "age": age,
        "plan": plan,
        "region": region,
        "payment_method": payment,
        "contract": contract,
        "monthly_spend_next": spend_next,
        "churned": churned,
    })
    for column, share in (("usage_gb", 0.04), ("age", 0.06), ("payment_method", 0.03)):
        frame.loc[rng.random(rows) < share, column] = np.nan
    return frame


def write_all(folder: Path) -> list[Path]:
    files = {"churn.csv": make(), "churn_traffic.csv": make(TRAFFIC_ROWS, seed=11),
             "churn_traffic_drift.csv": make(TRAFFIC_ROWS, seed=13, drift=True),
             "churn_recent.csv": make(seed=17, drift=True)}
    for name, frame in files.items():
        frame.to_csv(folder / name, index=False)
    return [folder / name for name in files]


if __name__ == "__main__":
    for path in write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent):
        print(f"wrote {path}")
