"""`make demo` (`python scripts/demo.py`): start a backend on a fresh home, log a small experiment, train
the churn pipeline (which registers its model), promote that version to production, serve it live traffic
(rows drawn like the training data, then rows with three features shifted, each with its true label) and
show what monitoring sees, then say how to look at it. It reads `sample_data/` next to this folder, so it
runs from a clone of the repository.

Without a terminal (CI) it prints the monitor's status, stops the backend and exits 0; with one it leaves
the backend running and opens the console on the model's Monitor view.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlops_tui.client import Client
from mlops_tui.contract import Job, JobStatus
from mlops_tui.contract.defaults import DEFAULT_HOST, DEFAULT_PORT, local_url, server_log_path
from mlops_tui.embedded import locate_server, spawn_server, stop_server, wait_until_up
from mlops_tui.sdk import ActiveRun, start_run

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "sample_data" / "churn.csv"
HOME = ROOT / ".demo-home"
NUMERIC = ["tenure_months", "monthly_charges", "support_calls", "usage_gb", "age"]
CATEGORICAL = ["plan", "region", "payment_method", "contract"]


def _port() -> int:
    with socket.socket() as sock:
        if sock.connect_ex((DEFAULT_HOST, DEFAULT_PORT)) != 0:
            return DEFAULT_PORT
    with socket.socket() as sock:
        sock.bind((DEFAULT_HOST, 0))
        return int(sock.getsockname()[1])


def fresh_home(home: Path) -> None:
    """Empty `home` for a new demo; a backend still serving it (an earlier `make demo`) is stopped
    first, so no server is left serving a deleted database nor holding the port."""
    running, _ = locate_server(home)
    if running is not None:
        print(f"stopping the previous demo backend (pid {running.pid}, port {running.port})")
        if not stop_server(running):
            raise RuntimeError(f"the previous demo backend (pid {running.pid}) did not stop; "
                               f"stop it with: mlops server stop --home {home}")
    shutil.rmtree(home, ignore_errors=True)


def _pipeline(estimator: object) -> Pipeline:
    features = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMERIC),
        ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                      OneHotEncoder(handle_unknown="ignore")), CATEGORICAL),
    ])
    return Pipeline([("features", features), ("model", estimator)])


def _log_scores(run: ActiveRun, model: Pipeline, x_test: pd.DataFrame, y_test: pd.Series) -> float:
    proba = model.predict_proba(x_test)[:, 1]
    predicted = (proba >= 0.5).astype(int)
    scores = {
        "accuracy": accuracy_score(y_test, predicted),
        "f1": f1_score(y_test, predicted),
        "roc_auc": roc_auc_score(y_test, proba),
        "log_loss": log_loss(y_test, proba),
    }
    run.log_metrics(scores, step=0)
    return scores["roc_auc"]


def _save_model(run: ActiveRun, model: Pipeline) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.skops"
        skops.io.dump(model, path)
        run.log_artifact(path, "model")


def train_all(url: str) -> list[tuple[str, float]]:
    frame = pd.read_csv(DATA)
    x, y = frame[NUMERIC + CATEGORICAL], frame["churned"]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    results = []

    with start_run(experiment="churn-demo", name="logistic-regression", url=url) as run:
        run.log_params({"model": "LogisticRegression", "C": 1.0, "max_iter": 200, "rows": len(frame)})
        model = _pipeline(LogisticRegression(C=1.0, max_iter=200)).fit(x_train, y_train)
        results.append((run.id, _log_scores(run, model, x_test, y_test)))
        _save_model(run, model)

    with start_run(experiment="churn-demo", name="random-forest", url=url) as run:
        run.log_params({"model": "RandomForestClassifier", "max_depth": 8, "n_estimators": 120, "rows": len(frame)})
        model = _pipeline(RandomForestClassifier(max_depth=8, n_estimators=10, warm_start=True, random_state=0))
        for step, trees in enumerate(range(10, 130, 10)):
            model.set_params(model__n_estimators=trees).fit(x_train, y_train)
            run.log_metric("val_accuracy", accuracy_score(y_test, model.predict(x_test)), step=step)
        results.append((run.id, _log_scores(run, model, x_test, y_test)))
        _save_model(run, model)

    with start_run(experiment="churn-demo", name="gradient-boosting", url=url) as run:
        run.log_params({"model": "GradientBoostingClassifier", "learning_rate": 0.05, "n_estimators": 200,
                        "max_depth": 3, "rows": len(frame)})
        model = _pipeline(GradientBoostingClassifier(learning_rate=0.05, n_estimators=200, max_depth=3,
                                                     random_state=0)).fit(x_train, y_train)
        features = model.named_steps["features"].transform(x_test)
        booster = model.named_steps["model"]
        for step, proba in enumerate(booster.staged_predict_proba(features)):
            run.log_metric("val_log_loss", log_loss(y_test, np.clip(proba[:, 1], 1e-6, 1 - 1e-6)), step=step)
        for step, loss in enumerate(booster.train_score_):
            run.log_metric("train_deviance", float(loss), step=step)
        results.append((run.id, _log_scores(run, model, x_test, y_test)))
        _save_model(run, model)
    return results


def train_pipeline(url: str) -> Job:
    """Submit sample_data/churn_pipeline.toml as a job, as `mlops train --wait` does, and follow it."""
    pipeline = ROOT / "sample_data" / "churn_pipeline.toml"
    with Client(url) as client:
        version = client.add_dataset_version("churn", DATA.name, DATA.read_bytes())
        job = client.submit_job(pipeline.read_text(), version.ref)
        print(f"  job {job.id} queued: {pipeline.relative_to(ROOT)} on dataset {version.ref}")
        shown = -1
        while not job.finished:
            time.sleep(0.5)
            job = client.get_job(job.id)
            if job.progress_done != shown and job.progress_total:
                shown = job.progress_done
                print(f"  job {job.id}: {job.progress_done}/{job.progress_total} candidates")
        return client.get_job(job.id)


def promote_to_production(url: str, job: Job) -> bool:
    """The job registered its best model (`[register]` in the pipeline): promote that version to
    `production`, the gates computed by the backend, and print their report."""
    registered = (job.report or {}).get("registered")
    if not registered:
        print("  the job registered no model version", file=sys.stderr)
        return False
    name, version = registered["name"], int(registered["version"])
    print(f"  the job registered {name}/{version}; promoting it to production ...")
    with Client(url) as client:
        result = client.promote(name, version, "production", expected_version=None,
                                reason="first release (make demo)")
    if result.report is not None:
        for gate in result.report.gates:
            print(f"  {'PASS' if gate.passed else 'FAIL'}  {gate.gate.value:<10} {gate.detail}")
    print(f"  {name}@production: {result.outcome.value} (version {result.version})")
    return result.outcome.value == "moved"


MODEL = "churn-classifier"
TRAFFIC = (("normal", ROOT / "sample_data" / "churn_traffic.csv"),
           ("drifted", ROOT / "sample_data" / "churn_traffic_drift.csv"))


def mlops(url: str, *args: str) -> int:
    """Run an `mlops` command as a user would type it (its output goes to the terminal)."""
    return subprocess.call([sys.executable, "-m", "mlops_tui.cli.main", *args], env={**os.environ, "MLOPS_URL": url})


def serve_and_watch(url: str) -> bool:
    """Replay each traffic file through the production alias (its labels sent as feedback), and after each
    show the monitor's view of the last rows: no drift after the normal file; the shifted features after
    the drifted one."""
    for label, path in TRAFFIC:
        rows = sum(1 for _ in path.open()) - 1
        print(f"  replaying {rows} {label} rows of {path.relative_to(ROOT)} through {MODEL}@production ...")
        if mlops(url, "monitor", "replay", f"{MODEL}@production", str(path), "--label-column", "churned",
                 "--batch", "20", "--proba") != 0:
            return False
        print(f"  {MODEL}@production over its last {rows} rows:")
        if mlops(url, "monitor", "status", f"{MODEL}@production", "--window", f"{rows}r") != 0:
            return False
    return True


def main() -> int:
    try:
        fresh_home(HOME)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    port = _port()
    url = local_url(DEFAULT_HOST, port)
    print(f"starting a backend on {url} with a fresh home {HOME}")
    server = spawn_server(DEFAULT_HOST, port, HOME)
    if not wait_until_up(url, server):
        print(f"the backend did not start; see {server_log_path(HOME)}", file=sys.stderr)
        return 1
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    try:
        print(f"1. logging 3 scikit-learn runs on {DATA.relative_to(ROOT)} with the SDK ...")
        for run_id, auc in train_all(url):
            print(f"  run {run_id[:8]}  roc_auc {auc:.3f}")
        print("2. training the churn pipeline as a job (worker process, sweep, skops model) ...")
        job = train_pipeline(url)
        if job.status != JobStatus.SUCCEEDED:
            print(f"the pipeline job {job.status}: {job.error}", file=sys.stderr)
            return 1
        best = (job.report or {}).get("best", {})
        print(f"  best: {best.get('estimator')} roc_auc {best.get('holdout', {}).get('roc_auc', 0):.3f}")
        print("3. registry: the job's model version, promoted to production through the gates ...")
        if not promote_to_production(url, job):
            return 1
        print("4. serving and monitoring: live traffic with labels, normal then drifted ...")
        if not serve_and_watch(url):
            return 1
        env = "" if port == DEFAULT_PORT else f"MLOPS_URL={url} "
        print("\nlogged experiment 'churn-demo' (3 SDK runs with params, metric series and a skops model each)")
        print(f"and experiment 'churn' (job {job.id}: a parent run, {job.progress_total} candidate runs, "
              "the best model).")
        print("look at it with:")
        print(f"  {env}.venv/bin/mlops runs list --experiment churn-demo")
        print(f"  {env}.venv/bin/mlops jobs show {job.id}")
        print(f"  {env}.venv/bin/mlops runs compare <run> <run> --only-diff")
        print(f"  {env}.venv/bin/mlops models show churn-classifier")
        print(f"  {env}.venv/bin/mlops models history churn-classifier")
        print(f"  {env}.venv/bin/mlops monitor status churn-classifier@production --window 1h")
        print(f"  {env}.venv/bin/mlops tui")
        print(f"stop the backend with: .venv/bin/mlops server stop --home {HOME}")
        if interactive:
            return subprocess.call([sys.executable, "-m", "mlops_tui.cli.main", "tui", "--url", url],
                                   env={**os.environ, "MLOPS_URL": url})
    finally:
        if not interactive:
            server.terminate()
            server.wait(timeout=15)
            print("(no terminal: the demo backend was stopped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
