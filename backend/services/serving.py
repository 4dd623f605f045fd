"""Serving: a version (by number, or the one an alias points at) answers a request's rows.

`Serving` is one per app: the loaded models (an LRU by count and size, `serving.cache`), the alias table
kept current by the registry's moves (`serving.aliases`: no database read per request), and the sampler
of what monitoring keeps. `predict` runs in a threadpool worker: resolve, load (checked against the
registered sha256), read and conform the rows, predict, then hand the records to the recorder (queued,
written off the request path). A refused request leaves one error record too.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from mlops_tui.contract.monitoring import PredictionRecord

from ..db import Database
from ..errors import Conflict, DomainError, Invalid, NotFound
from ..monitoring.recorder import Recorder
from ..serving import aliases, records
from ..serving import inputs as request_rows
from ..serving.cache import ModelCache
from ..serving.predictor import LoadedModel, Output, load, verify
from ..serving.shadow import ShadowRunner
from ..settings import Settings
from ..store import registry as store
from ..store.rows import VersionRow
from . import gates
from .registry import check_alias, check_name

BYTES_PER_MB = 1_000_000


@dataclass(frozen=True)
class Served:
    output: Output
    version: int
    request_ids: list[str]
    ignored: list[str] = field(default_factory=list)
    """Columns the request sent that the model does not read."""


class Serving:
    def __init__(self, db: Database, settings: Settings, recorder: Recorder) -> None:
        self.db = db
        self.settings = settings
        self.recorder = recorder
        self.cache = ModelCache(settings.model_cache_count, settings.model_cache_mb * BYTES_PER_MB)
        self.aliases = aliases.table(db, self._alias_lookup)
        self.sampler = records.Sampler(settings.monitor_sample_share, settings.monitor_full_rate)
        self.shadows = ShadowRunner(db, self.model)
        """Requests through an alias with a shadow are handed to it here, after they are answered."""

    def start(self) -> None:
        self.shadows.start()

    def stop(self) -> None:
        self.shadows.stop()

    # --- resolving and loading --------------------------------------------------------------------

    def _alias_lookup(self, name: str, alias: str) -> int | None:
        holder = store.alias_holder(self.db, name, alias)
        return None if holder is None else int(holder["version"])

    def alias_version(self, name: str, alias: str) -> int:
        """The version `name@alias` points at now (from the alias table: no database read once known)."""
        version = self.aliases.version(check_name(name), check_alias(alias))
        if version is None:
            store.get_model(self.db, name)  # NotFound naming the model when there is none
            raise NotFound(f"{name}@{alias} points at no version", "alias")
        return version

    def model(self, name: str, version: int) -> LoadedModel:
        """The version loaded (cached), refused with 409 when its file changed since registration."""
        return self.cache.get((name, version), lambda: self._load(name, version))

    def _load(self, name: str, version: int) -> LoadedModel:
        row = store.get_version(self.db, check_name(name), version)
        return load(name, version, row["sha256"], read_file(self.settings, row), row["signature"])

    # --- predicting ---------------------------------------------------------------------------------

    def resolve(self, request: records.Request, ref: int | str) -> int:
        """The version `ref` names: itself (an int), or the one alias `ref` points at now. A request resolves
        before its body is read: one that arrived before a promotion is answered by the version it found."""
        if isinstance(ref, int):
            return ref
        try:
            return self.alias_version(request.name, ref)
        except DomainError as error:
            self._record([records.failed(request, 0, error.message, request.latency_ms())])
            raise

    def known_alias(self, name: str, alias: str) -> int | None:
        """The alias's version when the alias table already holds it (no database read), else None."""
        return self.aliases.known(name, alias)

    def predict(self, request: records.Request, version: int, body: bytes, csv: bool, proba: bool) -> Served:
        """Answer `body`'s rows (scoring JSON, or CSV when `csv`) with `version`; a refusal (`DomainError`)
        leaves an error record and is raised on. Then a shadow of the alias, if one runs, is handed the
        rows (it predicts them later, on its own thread)."""
        table: request_rows.Table | None = None
        try:
            model = self.model(request.name, version)
            table = (request_rows.read_csv(body, self.settings.max_predict_rows) if csv else
                     request_rows.read_json(body, self.settings.max_predict_rows, list(model.inputs)))
            started = time.perf_counter()
            rows = model.conform(table)
            output = model.predict(rows.frame, proba)
            took = (time.perf_counter() - started) * 1000.0
        except DomainError as error:
            self._record([records.failed(request, version, error.message, request.latency_ms())])
            if table is not None:  # the same rows, refused by the champion: does the shadow take them?
                self.shadows.offer(request.name, request.alias, version, model, table, None, None, error.message,
                                   None, None, request.time_ms)
            raise
        ids = records.new_ids(len(rows.frame))
        if self.settings.monitoring:
            keep = self.sampler.keep(len(ids))
            self._record(records.answered(request, version, ids, rows.columns, output, keep, request.latency_ms()))
        self.shadows.offer(request.name, request.alias, version, model, table, rows.frame, output, None, took, ids,
                           request.time_ms)
        return Served(output, version, ids, rows.ignored)

    def _record(self, found: list[PredictionRecord]) -> None:
        if self.settings.monitoring:
            self.recorder.submit(found)

    # --- the model file, for replicas --------------------------------------------------------------

    def model_file(self, name: str, version: int) -> tuple[bytes, str]:
        """The version's model file as registered and its sha256 (409 when the bytes changed since)."""
        row = store.get_version(self.db, check_name(name), version)
        data = read_file(self.settings, row)
        verify(name, version, row["sha256"], data)
        return data, row["sha256"]


def read_file(settings: Settings, row: VersionRow) -> bytes:
    """The version's model file bytes (`Conflict` naming the version when it is gone). An MLflow-format
    version is refused (`Invalid`): the backend never loads nor hands out one to serve."""
    if gates.is_mlflow(row):
        raise Invalid(gates.not_loaded(row), "version")
    try:
        return gates.model_file(settings, row).read_bytes()
    except OSError:
        raise Conflict(f"{gates.label(row)}: model file {row['model_path']} is missing", "version") from None
