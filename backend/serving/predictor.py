"""The one predict function: the backend's predict routes and the replica (`mlops serve`) both answer with
`LoadedModel.predict`, so every protocol gets the same rows checked the same way and the same predictions.

A `LoadedModel` is a version's pipeline loaded from bytes whose sha256 was checked against its
registration (`load`), with the input signature requests are conformed to (`inputs.conform`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import Conflict, Invalid
from ..pipelines import model_io
from ..pipelines.signature import inputs_of
from . import inputs as rows


@dataclass(frozen=True)
class Output:
    """One request's answer, JSON-safe (plain Python values, never numpy scalars)."""

    predictions: list[Any]
    probabilities: list[list[float]] | None = None
    classes: list[Any] | None = None


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: int
    sha256: str
    size_bytes: int
    pipeline: Any
    inputs: dict[str, str]
    """Column -> the dtype it was trained with, in the signature's order."""
    classes: list[Any] | None
    """A classifier's classes (the order of `predict(proba=True)`'s probabilities); None for a regressor."""

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"

    def conform(self, table: rows.Table) -> rows.Rows:
        """The request's rows as the model reads them (`Invalid` naming row and column otherwise)."""
        return rows.conform(table, self.inputs)

    def predict(self, frame: pd.DataFrame, proba: bool = False) -> Output:
        """The pipeline's own `predict` on `frame` (conformed rows); with `proba`, its class probabilities
        too (`Invalid` naming `proba` for a model without them, e.g. a regressor)."""
        if proba and (self.classes is None or not hasattr(self.pipeline, "predict_proba")):
            kind = "a regressor" if self.classes is None else "a classifier without class probabilities"
            raise Invalid(f"proba: {self.label} is {kind}; only a classifier gives class probabilities", "proba")
        if frame.empty:
            return Output([], [] if proba else None, self.classes if proba else None)
        try:
            predictions = self.pipeline.predict(frame).tolist()
            probabilities = self.pipeline.predict_proba(frame).tolist() if proba else None
        except (ValueError, TypeError) as error:  # e.g. a category the encoder refuses
            raise Invalid(f"{self.label} cannot predict these rows: {error}", "body") from None
        return Output(predictions, probabilities, self.classes if proba else None)


def load(name: str, version: int, registered_sha256: str, data: bytes,
         signature: dict[str, Any] | None) -> LoadedModel:
    """The model in `data` (a skops file's bytes), only if they hash to the registered sha256: a file that
    changed since registration is refused (`Conflict` naming the version) and never deserialised."""
    verify(name, version, registered_sha256, data)
    try:
        pipeline = model_io.loads(data)
    except Exception as error:  # untrusted types, a corrupt file, a scikit-learn that cannot read it
        raise Conflict(f"{name}/{version}: its model file does not load: {error}", "version") from None
    declared = inputs_of(signature)
    if declared is None:  # registered without a signature: the columns the pipeline was fitted on
        declared = {str(c): "" for c in getattr(pipeline, "feature_names_in_", [])}
    classes = getattr(pipeline, "classes_", None)
    return LoadedModel(name, version, registered_sha256, len(data), pipeline, declared,
                       None if classes is None else classes.tolist())


def verify(name: str, version: int, registered_sha256: str, data: bytes) -> None:
    """`Conflict` naming the version when `data` does not hash to the sha256 it was registered with."""
    found = hashlib.sha256(data).hexdigest()
    if found != registered_sha256:
        raise Conflict(f"{name}/{version}: model file changed since registration (sha256 {found[:12]}…, "
                       f"registered {registered_sha256[:12]}…); it is refused", "version")
