"""Model files: a scikit-learn Pipeline saved with skops (never raw pickle), with its input
signature and the training reference statistics beside it."""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

MODEL_FILE = "model.skops"
SIGNATURE_FILE = "signature.json"
REFERENCE_FILE = "reference.json"
PROFILE_FILE = "profile.json"
"""The version's monitoring profile (`backend.monitoring.profile`), written beside the model by training."""
TRUSTED_TYPES = frozenset({
    "backend.pipelines.features.DerivedColumns", "backend.pipelines.features.AsNumbers",
    "backend.pipelines.features.AsText", "numpy.dtype",
})
"""Types a saved pipeline holds beyond skops' defaults: our own steps and numpy's dtype. scikit-learn's
classes are trusted too (`is_sklearn_class`); nothing else is: no function, no `builtins`, no `os`."""


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


def is_sklearn_class(name: str) -> bool:
    """`sklearn.x.y.Name` names a class defined in scikit-learn (not a function, not a re-export)."""
    module_name, _, attribute = name.rpartition(".")
    if not module_name.startswith("sklearn.") and module_name != "sklearn":
        return False
    try:
        found = getattr(importlib.import_module(module_name), attribute, None)
    except ImportError:
        return False
    return isinstance(found, type) and f"{found.__module__}.{found.__qualname__}" == name


def load(path: Path) -> Pipeline:
    """Load a skops file, trusting exactly the types a saved pipeline needs: scikit-learn's classes, our
    own steps and numpy's dtype. A file holding any other type is refused, naming it."""
    return loads(path.read_bytes())


def loads(data: bytes) -> Pipeline:
    """`load` from the file's bytes (already read, e.g. to check their hash first: what is checked is what
    is loaded)."""
    import skops.io
    untrusted = skops.io.get_untrusted_types(data=data)
    refused = [name for name in untrusted if name not in TRUSTED_TYPES and not is_sklearn_class(name)]
    if refused:
        raise ValueError(f"model file holds types that are not trusted: {', '.join(refused)}")
    model = skops.io.loads(data, trusted=untrusted)
    if not isinstance(model, Pipeline):
        raise ValueError("model file does not hold a scikit-learn Pipeline")
    return model
