"""What the serving tests share: real models trained in-process the way a training job trains them (the
sample pipeline files' features and estimators, `sweep.split` and `sweep.evaluate`, saved by
`model_io.save`), registered through the API; and the held-out rows to predict."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from conftest import ROOT, unique
from registry_support import run_with_files

from backend.datasets.io import read_frame
from backend.pipelines import config as pipeline_config
from backend.pipelines import model_io, sweep
from mlops_tui import Client

CHURN_TOML = ROOT / "sample_data" / "churn_pipeline.toml"
SPEND_TOML = ROOT / "sample_data" / "spend_pipeline.toml"
CHURN_MODEL = '[[models]]\nestimator = "LogisticRegression"\nparams = { C = [1.0], max_iter = 500 }\ncv = 0\n'
SPEND_MODEL = '[[models]]\nestimator = "Ridge"\nparams = { alpha = [1.0] }\ncv = 0\n'


@dataclass
class Trained:
    """A real fitted pipeline, its saved files, and its holdout rows (as the training split made them)."""

    pipeline: Any
    files: dict[str, bytes]
    x_test: pd.DataFrame
    folder: Path

    @property
    def model_file(self) -> Path:
        return self.folder / model_io.MODEL_FILE


def train(toml: Path, models: str, folder: Path) -> Trained:
    """The pipeline file's data, split and `[features]`, with `models` as its only candidates (no sweep)."""
    text = re.sub(r"(?ms)^\[\[models\]\].*?(?=^\[(?!\[models)|\Z)", "", toml.read_text()) + "\n" + models
    config = pipeline_config.parse(text)
    frame = read_frame((toml.parent / config.data.path).resolve(), "csv")
    data = sweep.split(config, frame)
    result = sweep.evaluate(config, sweep.candidates(config)[0], data)
    model_io.save(result.model, folder, model_io.signature(data.x_train), {"features": {}})
    files = {f"model/{path.name}": path.read_bytes() for path in sorted(folder.iterdir())}
    return Trained(result.model, files, data.x_test, folder)


def register(client: Client, trained: Trained, name: str | None = None) -> tuple[str, int]:
    """A run holding the trained files, registered as the model's next version: (name, version)."""
    name = name or unique("served")
    version = client.register_version(name, run_with_files(client, trained.files))
    return name, version.version
