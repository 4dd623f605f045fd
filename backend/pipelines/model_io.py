"""Model files: a scikit-learn Pipeline saved with skops (never raw pickle), with its input
signature and the training reference statistics beside it."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

MODEL_FILE = "model.skops"
SIGNATURE_FILE = "signature.json"
REFERENCE_FILE = "reference.json"
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")
_TRUSTED_NAMES = {"backend.pipelines.features.DerivedColumns"}


def signature(frame: pd.DataFrame) -> dict[str, Any]:
    """Input columns and their dtypes, in order: what serving checks requests against."""
    return {"inputs": [{"name": str(c), "dtype": str(frame[c].dtype)} for c in frame.columns]}


def save(pipeline: Pipeline, folder: Path, input_signature: dict[str, Any], reference: dict[str, Any]) -> list[Path]:
    import skops.io  # slow to import: only when a model is saved

    folder.mkdir(parents=True, exist_ok=True)
    skops.io.dump(pipeline, folder / MODEL_FILE)
    (folder / SIGNATURE_FILE).write_text(json.dumps(input_signature, indent=1))
    (folder / REFERENCE_FILE).write_text(json.dumps(reference))
    return [folder / MODEL_FILE, folder / SIGNATURE_FILE, folder / REFERENCE_FILE]


def load(path: Path) -> Pipeline:
    """Load a skops file, trusting only scikit-learn, numpy and scipy types and our own transformer."""
    import skops.io
    untrusted = skops.io.get_untrusted_types(file=path)
    refused = [name for name in untrusted
               if not name.startswith(_TRUSTED_PREFIXES) and name not in _TRUSTED_NAMES]
    if refused:
        raise ValueError(f"model file holds types that are not trusted: {', '.join(refused)}")
    model = skops.io.load(path, trusted=untrusted)
    if not isinstance(model, Pipeline):
        raise ValueError("model file does not hold a scikit-learn Pipeline")
    return model
