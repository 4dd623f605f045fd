"""Real trained model versions for the gate tests and bench/registry.py: a dataset version added
through `backend.services.datasets`, pipelines run by the training job's own code (in this process),
and the `VersionRow` a registration records for the job's model."""
from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from backend import artifacts
from backend.db import Database
from backend.services import datasets, jobs
from backend.services.gates import file_sha256
from backend.services.training import run_job
from backend.settings import Settings
from backend.store import jobs as store_jobs
from backend.store import runs
from backend.store.rows import VersionRow
from mlops_tui.contract import tags as tag

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"


@dataclass
class Registry:
    """A backend home with its database, for training and scoring in this process."""

    settings: Settings
    db: Database

    @classmethod
    def open(cls, home: Path) -> Registry:
        settings = Settings(home=home, token=None, run_jobs=False)
        settings.home.mkdir(parents=True, exist_ok=True)
        return cls(settings, Database(settings.db_path))

    def add_dataset(self, name: str, source: Path) -> str:
        """Add a CSV as a dataset version; its ref (`name@N`)."""
        folder = datasets.datasets_root(self.settings)
        folder.mkdir(parents=True, exist_ok=True)
        upload = folder / f"upload-{uuid.uuid4().hex}"
        shutil.copyfile(source, upload)
        return datasets.add_version(self.db, self.settings, name, source.name, upload)["ref"]

    def train(self, pipeline: str, dataset: str, name: str, version: int) -> VersionRow:
        """Run the pipeline (TOML text) as a training job, and the version registering its model records."""
        job = jobs.submit(self.db, self.settings, pipeline, dataset, None, None)
        run_job(self.settings, self.db, store_jobs.get(self.db, job["id"]))
        return self.version_of(store_jobs.get(self.db, job["id"])["id"], name, version)

    def version_of(self, job_id: str, name: str, version: int) -> VersionRow:
        job = store_jobs.get(self.db, job_id)
        assert job["status"] == "SUCCEEDED" and job["run_id"], job.get("error")
        run = runs.get(self.db, job["run_id"])
        root = artifacts.run_root(self.settings.artifacts_root, run["experiment_id"], run["id"])
        model = root / "model" / "model.skops"
        report = job.get("report") or {}
        return VersionRow(
            name=name, version=version, status="READY", run_id=run["id"], best_run_id=run["tags"][tag.BEST_RUN_ID],
            job_id=job["id"], dataset=job["dataset"], pipeline_hash=job["config_hash"],
            primary_metric=report["primary_metric"], primary_value=report["holdout_score"],
            metrics={key.removeprefix("best_"): value for key, value in run["metrics"].items()
                     if key.startswith("best_")},
            model_path="model/model.skops", sha256=file_sha256(model), size_bytes=model.stat().st_size,
            signature=json.loads((root / "model" / "signature.json").read_text()), created_at=0,
            created_by="tests", description="", tags={}, experiment_id=run["experiment_id"],
            reference=json.loads((root / "model" / "reference.json").read_text()),
            pipeline=json.loads((root / "pipeline.json").read_text()))
