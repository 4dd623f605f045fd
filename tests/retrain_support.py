"""What the retrain tests share: a fast pipeline (one logistic regression on the churn sample) with a
`[retrain]` policy, dataset versions cut from the churn sample, and an in-process backend whose job
manager runs real jobs in worker processes while the tests drive the retrain task with an explicit time."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ROOT, make_client, unique
from fastapi.testclient import TestClient
from gates_support import Home

from backend import Settings
from backend.pipelines.config import parse

CHURN_CSV = ROOT / "sample_data" / "churn.csv"
CHURN = CHURN_CSV.read_text().splitlines(keepends=True)
MINUTE = 60_000
HOUR = 60 * MINUTE

PIPELINE = """name = "{name}"
task = "classification"

[data]
dataset = "{dataset}"
target = "churned"

[data.split]
test_size = 0.25
seed = 7

[features]
drop = ["customer_id", "monthly_spend_next"]
encode = "onehot"
scale = "standard"

[[models]]
estimator = "LogisticRegression"
params = {{ C = 1.0, max_iter = 300 }}
cv = 0

[evaluate]
primary = "roc_auc"

[register]
name = "{model}"

[promote]
min_roc_auc = {min_auc}
min_improvement = -1.0
max_latency_ms = 1000
latency_rows = 5

[[monitor.alerts]]
name = "drifting"
kind = "drift"

[retrain]
{retrain}
"""


def pipeline(model: str, dataset: str, retrain: str = "", min_auc: float = 0.6) -> str:
    return PIPELINE.format(name=model, dataset=dataset, model=model, retrain=retrain, min_auc=min_auc)


def churn_csv(rows: int) -> bytes:
    """The churn sample's header and first `rows` rows: versions of one dataset differ by their rows."""
    return "".join(CHURN[: rows + 1]).encode()


def add_data(client: httpx.Client, dataset: str, rows: int) -> str:
    answer = client.post(f"/api/v1/datasets/{dataset}/versions", params={"filename": "churn.csv"},
                         content=churn_csv(rows))
    answer.raise_for_status()
    return str(answer.json()["ref"])


def backend(home: Path, **settings: Any) -> TestClient:
    """An in-process backend that runs jobs (a warm worker waits for each: no import per job) but leaves
    its timers to the test (`tick`)."""
    return make_client(Settings(home=home, token=None, automation=False, warm_worker=True, **settings))


def tick(client: TestClient, now: int) -> None:
    """One round of the server's periodic tasks at `now`."""
    client.app.state.controller.run_once(now)  # type: ignore[attr-defined]


def wait_for(check: Callable[[], Any], timeout: float = 90.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"not true within {timeout:.0f} s: {check}")


def train(client: TestClient, text: str, dataset: str) -> dict[str, Any]:
    """Submit a pipeline as a job and wait until it ends; the job."""
    job = client.post("/api/v1/jobs", json={"pipeline": text, "dataset": dataset}).raise_for_status().json()
    return wait_job(client, job["id"])


def wait_job(client: TestClient, job_id: str) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        found: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").raise_for_status().json()
        return found if found["status"] in ("SUCCEEDED", "FAILED", "CANCELLED") else None

    return wait_for(ended)  # type: ignore[no-any-return]


def retrains(client: TestClient, model: str) -> list[dict[str, Any]]:
    return client.get(f"/api/v1/models/{model}/retrains").raise_for_status().json()["retrains"]  # type: ignore[no-any-return]


def follow(client: TestClient, model: str, retrain_id: str, now: int) -> dict[str, Any]:
    """Tick at `now` until the retrain is no longer running (its job ended and the gates were run)."""
    def done() -> dict[str, Any] | None:
        tick(client, now)
        found: dict[str, Any] = client.get(f"/api/v1/models/{model}/retrains/{retrain_id}").raise_for_status().json()
        return found if found["status"] != "running" else None

    return wait_for(done, every=0.3)  # type: ignore[no-any-return]


@pytest.fixture(scope="session", name="files")
def files_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`files`: `base_model`, once per test process (the retrain test modules import this fixture)."""
    return base_model(tmp_path_factory.mktemp("retrain-base"))


def base_model(folder: Path) -> Path:
    """A real churn model trained once in this process by the training job's own code: the folder of
    its saved files (`model.skops`, signature, reference, profile), for `clone` to register anywhere."""
    home = Home.open(folder)
    source = folder / "churn.csv"
    source.write_bytes(churn_csv(3000))
    ref = home.add_dataset("base", source)
    version = home.train(pipeline("base", ref), ref)
    run = home.db.conn.execute("SELECT experiment_id FROM runs WHERE id = ?", (version["run_id"],)).fetchone()
    return home.settings.artifacts_root / str(run[0]) / version["run_id"] / "model"


def clone(client: httpx.Client, model_files: Path, model: str, text: str, dataset: str) -> int:
    """Register the trained files as the next version of `model`, as if `text` (a pipeline file) had
    trained it on `dataset`: its run keeps the file (`pipeline.toml`, `pipeline.json`) and the data tag.
    No training: a version whose lifecycle tables are whatever the test needs, in a moment."""
    experiment = client.post("/api/v1/experiments", json={"name": unique("retrain")}).raise_for_status().json()
    run_id = client.post("/api/v1/runs", json={"experiment_id": experiment["id"], "tags": {
        "mlops.dataset": dataset}}).raise_for_status().json()["id"]
    files = {f"model/{path.name}": path.read_bytes() for path in sorted(model_files.iterdir())}
    files["pipeline.toml"] = text.encode()
    files["pipeline.json"] = parse(text).snapshot().encode()
    for path, content in files.items():
        client.put(f"/api/v1/runs/{run_id}/artifacts/{path}", content=content).raise_for_status()
    answer = client.post(f"/api/v1/models/{model}/versions", json={"run_id": run_id}).raise_for_status().json()
    return int(answer["version"])


def new_model(client: httpx.Client, model_files: Path, retrain: str, min_auc: float = 0.6,
              rows: int = 3000, extra: str = "") -> tuple[str, str]:
    """A model of its own with version 1 cloned from the base files, on a dataset of its own: (model, ref).
    `extra` is appended to its pipeline file."""
    model, dataset = unique("churn"), unique("churn-data")
    ref = add_data(client, dataset, rows)
    clone(client, model_files, model, pipeline(model, ref, retrain, min_auc) + extra, ref)
    return model, ref
