"""`make demo` (`python scripts/demo.py`): the whole loop, from a fresh home to a model that retrained
itself. It starts a backend with its automation on (`MLOPS_CONTROL_INTERVAL=1`: alert rules and retrain
triggers checked every second) and a webhook receiver (`scripts/webhook_receiver.py`, a real process on a
free port checking every signature), then:

1. logs a small experiment with the SDK, then runs an unmodified MLflow script (`examples/mlflow/train.py`)
   against the backend: its runs and its registered model land like native ones;
2. runs `sample_data/churn_loop_pipeline.toml` as a CI job would (`mlops pipeline run ... --promote
   production`): data, validation, training, registration, gates, `production` moved;
3. serves it live traffic drawn like its training data (with true labels): the monitor sees no drift;
4. adds a newer version of the training data (`churn_recent.csv`, customers after a price rise), then
   replays traffic drawn like it: the `charges-drift` alert opens (the receiver prints it), the retrain it
   triggers trains on the newer data version, its gates pass, `staging` then `production` move;
5. replays more traffic drawn like the new training data, and the alert resolves.

The loop pipeline's windows are one minute long so all of it takes minutes. It reads `sample_data/` next
to this folder, so it runs from a clone of the repository. Without a terminal (CI) it prints each step,
stops the backend and the receiver, and exits 0 (1 when a step did not happen in time); with one it
leaves the backend running and opens the console on the model's Monitor view.
"""
from __future__ import annotations

import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

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

from mlops_tui.client import Client, MlopsError
from mlops_tui.contract.alerts import Alert, AlertStatus
from mlops_tui.contract.defaults import DEFAULT_HOST, DEFAULT_PORT, local_url, server_log_path
from mlops_tui.contract.registry import GateReport
from mlops_tui.contract.retrain import RETRAIN_ACTIVE, Retrain, RetrainStatus
from mlops_tui.embedded import locate_server, spawn_server, stop_server, wait_until_up
from mlops_tui.sdk import ActiveRun, start_run

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "sample_data" / "churn.csv"
HOME = Path(os.environ.get("MLOPS_DEMO_HOME") or ROOT / ".demo-home")
"""The demo's home, emptied first (`MLOPS_DEMO_HOME` moves it: tests/test_demo.py runs in a temporary one)."""
NUMERIC = ["tenure_months", "monthly_charges", "support_calls", "usage_gb", "age"]
CATEGORICAL = ["plan", "region", "payment_method", "contract"]
T = TypeVar("T")


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


MLFLOW_SCRIPT = ROOT / "examples" / "mlflow" / "train.py"
MLFLOW_NAME = "churn-mlflow"
"""The MLflow script's experiment and registered model (its defaults)."""


def mlflow_script(url: str) -> bool:
    """`examples/mlflow/train.py`, a plain MLflow script, pointed at the backend by `MLFLOW_TRACKING_URI`
    alone; then its runs and its registered model as the `mlops` CLI shows them. Its own output is shown
    (the client's notices on stderr only when it fails; its links to MLflow's web UI, which this backend
    does not serve, left out)."""
    print(f"  the same from an unmodified MLflow script: MLFLOW_TRACKING_URI={url} python "
          f"{relative(MLFLOW_SCRIPT)}", flush=True)
    done = subprocess.run([sys.executable, str(MLFLOW_SCRIPT)], env={**os.environ, "MLFLOW_TRACKING_URI": url},
                          cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    for line in done.stdout.splitlines():
        if not line.startswith(("🏃 View run", "🧪 View experiment")):
            print(f"    {line}")
    if done.returncode != 0:
        print(f"the MLflow script failed (exit {done.returncode}):\n{done.stderr[-3000:]}", file=sys.stderr)
        return False
    return (mlops(url, "runs", "list", "--experiment", MLFLOW_NAME) == 0
            and mlops(url, "models", "show", MLFLOW_NAME) == 0)


MODEL = "churn-classifier"
PIPELINE = ROOT / "sample_data" / "churn_loop_pipeline.toml"
RECENT = ROOT / "sample_data" / "churn_recent.csv"
"""The newer training data: customers after a price rise, drawn like the drifted traffic."""
NORMAL = ROOT / "sample_data" / "churn_traffic.csv"
DRIFTED = ROOT / "sample_data" / "churn_traffic_drift.csv"
"""Traffic drawn like `churn_recent.csv` (the same shifted process, another seed)."""
RULE = "charges-drift"
"""The loop pipeline's alert rule, which its `[retrain] on_drift` names."""
AUTOMATION = {"MLOPS_AUTOMATION": "1", "MLOPS_CONTROL_INTERVAL": "1", "MLOPS_WEBHOOK_BACKOFF": "0.5",
              "MLOPS_MONITOR_FULL_RATE": "100000"}
"""The demo backend checks its alert rules and retrain triggers every second (the default is 15 s), and
keeps every replayed row for the monitor (by default about 50 rows a second are kept under heavy traffic:
a replay as fast as the demo's would leave the drift windows few rows)."""
STEP_TIMEOUT = 240.0
"""Seconds a step of the loop may take before the demo gives up on it (exit 1)."""


def mlops(url: str, *args: str) -> int:
    """Run an `mlops` command as a user would type it (its output goes to the terminal)."""
    print(f"  $ mlops {shlex.join(args)}", flush=True)
    return subprocess.call([sys.executable, "-m", "mlops_tui.cli.main", *args], env={**os.environ, "MLOPS_URL": url})


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


class StepTimeout(Exception):
    """A step of the loop did not happen in time."""


def wait_for(what: str, check: Callable[[], T | None], timeout: float = STEP_TIMEOUT) -> T:
    """Poll `check` until it answers something; `StepTimeout` naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found is not None:
            return found
        time.sleep(0.5)
    raise StepTimeout(f"{what}: not within {timeout:.0f} s")


class WebhookReceiver:
    """`scripts/webhook_receiver.py` as its own process on a free port, checking signatures with a fresh
    secret; a thread prints each line it prints, indented, as the events arrive."""

    def __init__(self) -> None:
        self.secret = secrets.token_hex(16)
        with socket.socket() as sock:
            sock.bind((DEFAULT_HOST, 0))
            self.port = int(sock.getsockname()[1])
        self.process = subprocess.Popen(
            [sys.executable, "-u", str(ROOT / "scripts" / "webhook_receiver.py"), "--port", str(self.port)],
            env={**os.environ, "MLOPS_WEBHOOK_SECRET": self.secret}, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        first = self.process.stdout.readline().strip()  # `listening on ...`
        print(f"  webhook receiver: {first}")
        threading.Thread(target=self._echo, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{DEFAULT_HOST}:{self.port}/hook"

    def _echo(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            print(f"  webhook> {line.rstrip()}", flush=True)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def first_release(url: str) -> bool:
    """What a CI job runs on a push: the loop pipeline trained, registered and promoted to production."""
    return mlops(url, "pipeline", "run", relative(PIPELINE), "--promote", "production",
                 "--reason", "first release (make demo)") == 0


def replay(url: str, path: Path, what: str) -> bool:
    """`path`'s rows through production (their labels sent as feedback), then the monitor's view of them."""
    rows = sum(1 for _ in path.open()) - 1
    print(f"  replaying {rows} rows {what} ({relative(path)}) through {MODEL}@production ...")
    if mlops(url, "monitor", "replay", f"{MODEL}@production", relative(path), "--label-column", "churned",
             "--batch", "50", "--proba") != 0:
        return False
    return mlops(url, "monitor", "status", f"{MODEL}@production", "--window", f"{rows}r") == 0


def active_alert(client: Client) -> Alert | None:
    found = client.list_alerts(status="active", model=MODEL).alerts
    return next((alert for alert in found if alert.rule == RULE), None)


def drift_retrains_itself(url: str, client: Client) -> Alert:
    """Newer training data lands, then drifted traffic comes in: wait for the alert, follow the retrain it
    triggers to `production`. The alert that opened."""
    print(f"  newer training data lands as a new version of the `churn` dataset ({relative(RECENT)}):")
    if mlops(url, "data", "add", relative(RECENT), "--name", "churn") != 0:
        raise StepTimeout("the newer data version was not added")
    if not replay(url, DRIFTED, "drawn like the new data (prices up, more support calls)"):
        raise StepTimeout("the drifted traffic was not served")
    alert = wait_for(f"the {RULE} alert", lambda: active_alert(client))
    print(f"  alert {alert.id} OPEN ({alert.severity}): {alert.message}")
    retrain = wait_for("the retrain the alert triggers",
                       lambda: next((r for r in client.list_retrains(MODEL).retrains if r.alert_id == alert.id),
                                    None))
    print(f"  retrain {retrain.id} ({retrain.trigger}: {retrain.detail}): job {retrain.job_id} on {retrain.dataset}")
    ended = wait_for(f"retrain {retrain.id} to end", lambda: _ended(client, retrain.id))
    if ended.report:
        report = GateReport.model_validate(ended.report)
        print(f"  gates of v{report.candidate_version} for {report.alias} (champion "
              f"{'v' + str(report.champion_version) if report.champion_version else 'none'}, on {report.data}):")
        for gate in report.gates:
            print(f"    {'PASS' if gate.passed else 'FAIL'}  {gate.gate.value:<10} {gate.detail}")
    moved = ", ".join(ended.promoted_to) or "nothing"
    print(f"  retrain {ended.status}: version {ended.version}, moved {moved}. {ended.reason}".rstrip())
    if ended.status != RetrainStatus.PROMOTED:
        raise StepTimeout(f"the retrain ended {ended.status}, not promoted")
    aliases = client.get_model(MODEL).aliases
    print(f"  {MODEL}: " + ", ".join(f"{name} -> v{version}" for name, version in sorted(aliases.items())))
    return alert


def _ended(client: Client, retrain_id: str) -> Retrain | None:
    found = next((r for r in client.list_retrains(MODEL).retrains if r.id == retrain_id), None)
    return found if found is not None and found.status not in RETRAIN_ACTIVE else None


def alert_resolves(url: str, client: Client, alert: Alert) -> None:
    """Traffic drawn like the new training data through the new production version: the alert resolves."""
    if not replay(url, DRIFTED, "drawn like the new training data, through the retrained version"):
        raise StepTimeout("the traffic was not served")

    def resolved_alert() -> Alert | None:
        found = client.get_alert(alert.id)
        return found if found.status == AlertStatus.RESOLVED else None

    resolved = wait_for(f"alert {alert.id} to resolve", resolved_alert)
    print(f"  alert {resolved.id} RESOLVED by {resolved.resolved_by}: {resolved.note or '(no note)'}")


def the_loop(url: str) -> bool:
    """Steps 2 to 5: the model's first release, normal traffic, drift, retrain, recovery."""
    print("2. the first release, as a CI job runs it (examples/ci): data, validation, training, registration, "
          "gates, production ...")
    if not first_release(url):
        return False
    print("3. serving: production's traffic drawn like its training data; no alert opens ...")
    if not replay(url, NORMAL, "drawn like the training data"):
        return False
    with Client(url) as client:
        try:
            print("4. drift: the data moved; the alert opens, retrains the model on the newer data, gates decide ...")
            alert = drift_retrains_itself(url, client)
            print("5. recovery: traffic like the new training data; the alert clears ...")
            alert_resolves(url, client, alert)
        except (StepTimeout, MlopsError) as error:
            print(f"the loop stopped: {error}", file=sys.stderr)
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
    receiver = WebhookReceiver()
    os.environ.update({**AUTOMATION, "MLOPS_WEBHOOK_URL": receiver.url, "MLOPS_WEBHOOK_SECRET": receiver.secret})
    print(f"starting a backend on {url} with a fresh home {HOME} (automation every 1 s, webhooks to the receiver)")
    server = spawn_server(DEFAULT_HOST, port, HOME)
    if not wait_until_up(url, server, timeout=90):
        print(f"the backend did not start; see {server_log_path(HOME)}", file=sys.stderr)
        receiver.stop()
        return 1
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    try:
        print(f"1. logging 3 scikit-learn runs on {DATA.relative_to(ROOT)} with the SDK ...")
        for run_id, auc in train_all(url):
            print(f"  run {run_id[:8]}  roc_auc {auc:.3f}")
        if not mlflow_script(url):
            return 1
        if not the_loop(url):
            return 1
        env = "" if port == DEFAULT_PORT else f"MLOPS_URL={url} "
        print("\nthe loop closed: drift opened an alert, the alert retrained the model on the newer data, the gates")
        print("passed, staging and production moved, and the alert resolved on the new traffic. Look at it with:")
        for command in (f"alerts list --model {MODEL}", f"retrain {MODEL} --dry-run", f"models history {MODEL}",
                        f"models policy {MODEL}", f"monitor status {MODEL}@production", "webhooks deliveries",
                        "runs list --experiment churn-demo", f"models show {MLFLOW_NAME}", f"tui --monitor {MODEL}"):
            print(f"  {env}.venv/bin/mlops {command}")
        print(f"stop the backend with: .venv/bin/mlops server stop --home {HOME}")
        if interactive:
            return subprocess.call([sys.executable, "-m", "mlops_tui.cli.main", "tui", "--url", url,
                                    "--monitor", MODEL], env={**os.environ, "MLOPS_URL": url})
    finally:
        if not interactive:
            server.terminate()
            server.wait(timeout=15)
            print("(no terminal: the demo backend was stopped)")
        receiver.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
