"""What the registry tests share: a real training job (its parent run holds a real model), runs that copy
such a run (so a test may change its files without touching the others'), and a tiny saved pipeline."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import ROOT, unique
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from test_jobs import pipeline

from backend.pipelines import model_io
from mlops_tui import Client
from mlops_tui.contract import Job

CHURN = ROOT / "sample_data" / "churn.csv"
MODEL_FILES = ("model/model.skops", "model/signature.json", "model/reference.json", "pipeline.json")
MODEL = '[[models]]\nestimator = "LogisticRegression"\nparams = { C = [1.0], max_iter = 300 }\ncv = 2\n'


def train(client: Client, dataset_ref: str, extra: str = "", timeout: float = 180) -> Job:
    """Submit a small real pipeline and wait for it to succeed."""
    job = client.submit_job(pipeline(unique("reg"), MODEL, extra, data=f'dataset = "{dataset_ref}"'))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get_job(job.id)
        if job.status in ("SUCCEEDED", "FAILED", "CANCELLED"):
            assert job.status == "SUCCEEDED", f"{job.error}: {client.job_logs(job.id).text[-3000:]}"
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job.id} did not finish: {client.get_job(job.id)}")


def clone_run(client: Client, source_run_id: str, files: tuple[str, ...] = MODEL_FILES) -> str:
    """A new run with the source run's params, tags, latest metrics and files (a job's parent run copied)."""
    source = client.get_run(source_run_id)
    run = client.create_run("registry-tests", name=unique("clone"))
    tags = {k: v for k, v in source.tags.items() if k != "mlops.model_version"}
    client.log_batch(run.id, params=dict(source.params), tags=tags,
                     metrics=[{"key": k, "value": v, "step": 0} for k, v in source.metrics.items()])
    for path in files:
        client.upload_artifact(run.id, path, client.download_artifact(source_run_id, path))
    return run.id


def tiny_model_files(folder: Path) -> dict[str, bytes]:
    """A real scikit-learn Pipeline saved with skops (its signature and reference beside it)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    target = (frame["a"] > 0).astype(int)
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(frame, target)
    model_io.save(pipeline, folder, model_io.signature(frame), {"features": {}})
    return {f"model/{path.name}": path.read_bytes() for path in sorted(folder.iterdir())}


def large_model_files(folder: Path, rows: int = 100_000) -> dict[str, bytes]:
    """A real model whose file is several MB (a nearest-neighbours classifier keeps its training rows):
    hashing and loading it take as long as a real model's, so racing requests overlap in the gates."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows)})
    pipeline = Pipeline([("model", KNeighborsClassifier(algorithm="brute"))]).fit(frame, frame["a"] > 0)
    model_io.save(pipeline, folder, model_io.signature(frame), {"features": {}})
    return {f"model/{path.name}": path.read_bytes() for path in sorted(folder.iterdir())}


def run_with_files(client: Client, files: dict[str, bytes]) -> str:
    run = client.create_run("registry-tests", name=unique("hand"))
    for path, content in files.items():
        client.upload_artifact(run.id, path, content)
    return run.id
