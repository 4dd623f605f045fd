"""The replica: one alias of one model, served through one predict function whatever the protocol.

`Replica.predict` takes a request's rows as a reader (the protocol's parsing, given the model's column
order), and then does what the backend's predict route does with them: conform to the signature,
predict with `backend.serving`'s `LoadedModel`, record. The model is taken once per request, so a swap
(the follower loading the alias's next version) never changes a request already under way.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mlops_tui.client import Client
from mlops_tui.contract.monitoring import PredictionRecord
from mlops_tui.contract.registry import ModelVersion

from ..errors import DomainError
from ..serving import inputs, predictor, records
from ..serving.predictor import LoadedModel, Output
from .config import ReplicaConfig
from .download import model_bytes
from .follower import Follower
from .shipper import Shipper

Reader = Callable[[list[str]], inputs.Table]
"""Reads a request's rows, given the model's input columns in order (for rows sent as plain lists)."""


class NotReady(RuntimeError):
    """No model is loaded yet."""


@dataclass(frozen=True)
class Served:
    model: LoadedModel
    output: Output
    request_ids: list[str]
    ignored: list[str]


class Replica:
    def __init__(self, config: ReplicaConfig) -> None:
        self.config = config
        # the long poll's answer may take `wait_seconds`: its client waits longer than that
        self.backend = Client(config.backend_url, token=config.token, timeout=config.wait_seconds + 15)
        self.follower = Follower(self.backend, config.name, config.alias, self.load, config.wait_seconds,
                                 config.poll_seconds)
        self.shipper = Shipper(Client(config.backend_url, token=config.token, timeout=15), config.source,
                               config.buffer_records, config.ship_seconds)
        self.sampler = records.Sampler(config.sample_share, config.full_rate)

    @property
    def model(self) -> LoadedModel:
        current = self.follower.current
        if current is None:
            raise NotReady(f"{self.config.name}@{self.config.alias} is not loaded yet")
        return current

    def load(self, version: ModelVersion) -> LoadedModel:
        """Download (or reuse the cached file), check the registered hash, load."""
        data = model_bytes(self.backend, self.config.cache_dir, version)
        return predictor.load(version.name, version.version, version.sha256, data, version.signature)

    def start(self) -> None:
        self.follower.start()
        if self.config.monitoring:
            self.shipper.start()

    def stop(self) -> None:
        self.follower.stop()
        self.shipper.stop()

    def predict(self, read: Reader, proba: bool = False) -> Served:
        """The one predict function every protocol calls (as the backend's route does: `LoadedModel`'s
        conform and predict, `serving.records`' records). A refusal (bad rows, too many rows, proba on a
        regressor) leaves an error record, then is raised for the protocol to answer in its shape."""
        request = records.Request(self.config.name, self.config.alias, int(time.time() * 1000), time.perf_counter())
        model = self.model
        try:
            rows = model.conform(read(list(model.inputs)))
            output = model.predict(rows.frame, proba)
        except DomainError as error:
            self._ship([records.failed(request, model.version, error.message, request.latency_ms())])
            raise
        ids = records.new_ids(len(rows.frame))
        if self.config.monitoring:
            keep = self.sampler.keep(len(ids))
            self._ship(records.answered(request, model.version, ids, rows.columns, output, keep, request.latency_ms()))
        return Served(model, output, ids, rows.ignored)

    def _ship(self, shipped: list[PredictionRecord]) -> None:
        if self.config.monitoring:
            self.shipper.add(shipped)
