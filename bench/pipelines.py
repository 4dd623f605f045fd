"""Pipeline overhead: a 3-model × 12-candidate sweep on 50,000 rows, through the product (upload,
job, worker process, logging, model file) and as the same work in plain scikit-learn.

Run: `.venv/bin/python bench/pipelines.py`. Prints one JSON line per figure. Target: overhead ≤ 10%.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer
from sklearn.model_selection import ParameterGrid, StratifiedKFold, cross_validate, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import live_backend, report  # noqa: E402
from mlops_tui import Client  # noqa: E402
from sample_data.make_churn import make  # noqa: E402

ROWS = 50_000
NUMERIC = ["tenure_months", "monthly_charges", "support_calls", "usage_gb", "age"]
CATEGORICAL = ["plan", "region", "payment_method", "contract"]
MODELS = [
    (LogisticRegression, "LogisticRegression",
     {"C": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0], "max_iter": [300]}),
    (DecisionTreeClassifier, "DecisionTreeClassifier",
     {"max_depth": [3, 5, 8, 12], "min_samples_leaf": [1, 10, 50], "random_state": [0]}),
    (RandomForestClassifier, "RandomForestClassifier",
     {"n_estimators": [20], "max_depth": [4, 6, 8, 10], "max_features": ["sqrt", 0.5, 0.8], "random_state": [0]}),
]
SCORING = ["accuracy", "roc_auc", "neg_log_loss"]

PIPELINE = """
name = "bench-sweep"
task = "classification"
[data]
path = "bench.csv"
target = "churned"
[data.split]
test_size = 0.25
seed = 0
[features]
numeric = {numeric}
categorical = {categorical}
impute_numeric = "median"
scale = "standard"
encode = "onehot"
[evaluate]
metrics = ["accuracy", "roc_auc", "log_loss"]
primary = "roc_auc"
"""


def toml_models() -> str:
    blocks = []
    for _, name, space in MODELS:
        params = ", ".join(f"{k} = {v!r}".replace("'", '"') for k, v in space.items())
        blocks.append(f"[[models]]\nestimator = \"{name}\"\nparams = {{ {params} }}\ncv = 3\n")
    return "\n".join(blocks)


def plain_sklearn(frame) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    x = frame[NUMERIC + CATEGORICAL]
    y = frame["churned"]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    features = ColumnTransformer([
        ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), NUMERIC),
        ("categorical", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                                  ("encode", OneHotEncoder(handle_unknown="ignore"))]), CATEGORICAL),
    ])
    for estimator, _, space in MODELS:
        for params in ParameterGrid(space):
            model = Pipeline([("features", features), ("model", estimator(**params))])
            cross_validate(model, x_train, y_train, cv=StratifiedKFold(3, shuffle=True, random_state=0),
                           scoring=SCORING)
            model.fit(x_train, y_train)
            for name in SCORING:
                get_scorer(name)(model, x_test, y_test)
    return time.perf_counter() - started


def through_product(url: str, csv: Path) -> tuple[float, dict]:  # type: ignore[type-arg]
    text = PIPELINE.format(numeric=NUMERIC, categorical=CATEGORICAL).replace("'", '"') + toml_models()
    started = time.perf_counter()
    with Client(url) as client:
        version = client.add_dataset_version("bench", csv.name, csv.read_bytes())
        job = client.submit_job(text, version.ref)
        while not job.finished:
            time.sleep(0.2)
            job = client.get_job(job.id)
    seconds = time.perf_counter() - started
    if job.status != "SUCCEEDED":
        raise RuntimeError(f"job {job.id} {job.status}: {job.error}")
    queued = (job.started_at or 0) - job.created_at
    worker = (job.ended_at or 0) - (job.started_at or 0)
    return seconds, {"candidates": job.progress_total, "job": job.id, "queue_to_start_ms": queued,
                     "worker_ms": worker}


def main() -> None:
    """Runs in A-B-B-A order (plain, product, product, plain) so drifting machine load cancels out."""
    rounds = int(os.environ.get("BENCH_ROUNDS", "2"))
    frame = make(ROWS, seed=1)
    plain: list[float] = []
    product: list[float] = []
    with tempfile.TemporaryDirectory() as folder, live_backend() as (url, _):
        csv = Path(folder) / "bench.csv"
        frame.to_csv(csv, index=False)
        for index in range(rounds):
            order = ("plain", "product") if index % 2 == 0 else ("product", "plain")
            for kind in order:
                if kind == "plain":
                    plain.append(plain_sklearn(frame))
                    report("sweep_plain_sklearn", plain[-1], "s", rows=ROWS, candidates=36, round=index)
                else:
                    seconds, extra = through_product(url, csv)
                    product.append(seconds)
                    report("sweep_through_product", seconds, "s", rows=ROWS, round=index, **extra)
    baseline, ours = float(np.mean(plain)), float(np.mean(product))
    report("sweep_overhead", (ours - baseline) / baseline * 100, "%", "<= 10",
           plain_mean_s=round(baseline, 2), product_mean_s=round(ours, 2), rounds=rounds)


if __name__ == "__main__":
    main()
