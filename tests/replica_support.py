"""What the replica tests share: a model of two real versions whose predictions differ, registered the
way any client does (a run's files, then `register_version`, then `promote`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import unique
from registry_support import run_with_files
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from backend.pipelines import model_io
from mlops_tui import Client

ROWS = pd.DataFrame({"a": [-1.5, -0.2, 0.3, 2.0], "b": [1.0, -1.0, 0.5, -2.0]})


def model_files(folder: Path, target: str) -> dict[str, bytes]:
    """A real Pipeline (scaler + logistic regression on `a`, `b`) whose class is `target > 0`."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    pipeline.fit(frame, (frame[target] > 0).astype(int))
    model_io.save(pipeline, folder, model_io.signature(frame), {"features": {}})
    return {f"model/{path.name}": path.read_bytes() for path in sorted(folder.iterdir())}


def expected(folder: Path) -> list[int]:
    """What the saved pipeline itself predicts for ROWS."""
    return [int(v) for v in model_io.load(folder / model_io.MODEL_FILE).predict(ROWS)]


@dataclass
class Model:
    name: str
    first: list[int]
    """Version 1's predictions for ROWS."""
    second: list[int]


def register_model(client: Client, folder: Path) -> Model:
    """Two versions (class `a > 0`, then class `b > 0`); `production` points at version 1."""
    name = unique("served")
    predictions = []
    for version, target in enumerate(("a", "b"), start=1):
        files = model_files(folder / f"v{version}", target)
        client.register_version(name, run_with_files(client, files))
        predictions.append(expected(folder / f"v{version}"))
    client.promote(name, 1, "production", force=True, reason="replica tests")
    assert predictions[0] != predictions[1]
    return Model(name, predictions[0], predictions[1])


