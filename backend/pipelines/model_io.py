"""Model files: a scikit-learn Pipeline saved with skops (never raw pickle), with its input
signature and the training reference statistics beside it.

Loading trusts nothing it did not expect: the file must be a skops archive (a raw pickle or a joblib
file is refused before anything reads it), and every type it names must be on the allowlist
(`TRUSTED_TYPES` and scikit-learn's own classes); otherwise `UntrustedModel` lists the refused types
and nothing from the file is constructed. Saving is atomic (`mlops_tui.contract.atomic`)."""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from mlops_tui.contract import atomic

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


ZIP_MAGIC = b"PK\x03\x04"
"""How a skops file (a zip archive) starts."""
PICKLE_STARTS = {b"\x80", b"(", b"]", b"}", b"c", b"x", b"\x1f", b"B", b"\xfd"}
"""First bytes of a pickle (protocol 2+ opcode, or protocol 0/1 ones) or of a compressed joblib file
(zlib, gzip, bz2, xz): named as such in the refusal."""


class UntrustedModel(ValueError):
    """A model file that is refused before anything in it is constructed; `types` lists the refused
    types (empty when the file is not a skops archive at all)."""

    def __init__(self, message: str, types: list[str]) -> None:
        super().__init__(message)
        self.types = types


def signature(frame: pd.DataFrame) -> dict[str, Any]:
    """Input columns and their dtypes, in order: what serving checks requests against."""
    return {"inputs": [{"name": str(c), "dtype": str(frame[c].dtype)} for c in frame.columns]}


def save(pipeline: Pipeline, folder: Path, input_signature: dict[str, Any], reference: dict[str, Any]) -> list[Path]:
    import skops.io  # slow to import: only when a model is saved

    folder.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_file(folder / MODEL_FILE) as out:
        skops.io.dump(pipeline, out)
    atomic.write_text(folder / SIGNATURE_FILE, json.dumps(input_signature, indent=1))
    atomic.write_text(folder / REFERENCE_FILE, json.dumps(reference))
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
    if not data.startswith(ZIP_MAGIC):
        kind = "a pickle or joblib file" if data[:1] in PICKLE_STARTS else "not a skops file"
        raise UntrustedModel(f"model file is {kind}, not a skops archive; pickle and joblib files are never "
                             "loaded (save the model with skops.io.dump)", [])
    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as error:  # a zip that is not a skops archive: bad schema, missing members
        raise UntrustedModel(f"model file is not a readable skops archive: {type(error).__name__}: {error}",
                             []) from None
    refused = [name for name in untrusted if name not in TRUSTED_TYPES and not is_sklearn_class(name)]
    if refused:
        raise UntrustedModel(f"model file holds types that are not trusted: {', '.join(refused)}; nothing "
                             "from it was loaded", refused)
    model = skops.io.loads(data, trusted=untrusted)
    if not isinstance(model, Pipeline):
        raise ValueError("model file does not hold a scikit-learn Pipeline")
    return model
