"""Real trained model versions for the gate tests and bench/registry.py, in this process: a dataset
version added through `backend.services.datasets`, pipelines run by the training job's own code, and
the version its `[register]` table registered."""
from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from backend.db import Database
from backend.services import datasets, jobs
from backend.services.training import run_job
from backend.settings import Settings
from backend.store import jobs as store_jobs
from backend.store import registry
from backend.store.rows import VersionRow

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"


@dataclass
class Home:
    """A backend home with its database, for training and scoring in this process."""

    settings: Settings
    db: Database

    @classmethod
    def open(cls, home: Path) -> Home:
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

    def train(self, pipeline: str, dataset: str) -> VersionRow:
        """Run the pipeline (TOML text with a `[register]` table) as a training job; the version it registered."""
        job = jobs.submit(self.db, self.settings, pipeline, dataset, None, None)
        run_job(self.settings, self.db, store_jobs.get(self.db, job["id"]))
        done = store_jobs.get(self.db, job["id"])
        assert done["status"] == "SUCCEEDED", done.get("error")
        registered = (done.get("report") or {})["registered"]
        return registry.get_version(self.db, registered["name"], registered["version"])
