"""What every answered (or refused) prediction request leaves for monitoring: one `PredictionRecord` per
predicted row, or one for a failed request, handed to the recorder (`Recorder.submit`, never a database
write on the request path). The replica builds its records here too, and ships them in batches.

Request ids are unique across processes and replicas: a random per-process prefix and a counter.
Inputs, output and probabilities are kept for a sampled share of rows (`Sampler`).
"""
from __future__ import annotations

import itertools
import math
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from mlops_tui.contract.monitoring import PredictionRecord, RecordStatus

from .predictor import Output

_PREFIX = secrets.token_hex(6)
_counter = itertools.count(1)
MAX_ERROR = 500


def new_ids(count: int) -> list[str]:
    """`count` request ids no other process or replica hands out: `<12 random hex>-<counter in hex>`."""
    return [f"{_PREFIX}-{next(_counter):x}" for _ in range(count)]


class Sampler:
    """Which requests keep their rows' inputs and outputs: a share `share` of them while rows arrive at up
    to `full_rate` per second; above that the share falls in proportion (`share × full_rate / rate`), so
    about `share × full_rate` rows per second are kept however heavy the traffic. The rate is the rows of
    the last whole second (or of this one so far, when more)."""

    def __init__(self, share: float, full_rate: float, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        self.share = share
        self.full_rate = full_rate
        self._clock = clock
        self._random = rng or random.Random()
        self._lock = threading.Lock()
        self._second = math.floor(clock())
        self._this_second = 0
        self._last_second = 0

    def keep(self, rows: int) -> bool:
        """Count a request of `rows` rows; True when its rows' inputs and outputs are kept."""
        with self._lock:
            second = math.floor(self._clock())
            if second != self._second:
                self._last_second = self._this_second if second == self._second + 1 else 0
                self._second, self._this_second = second, 0
            self._this_second += rows
            share = self.share_now()
            return share >= 1.0 or self._random.random() < share

    def share_now(self) -> float:
        rate = max(self._last_second, self._this_second)
        if self.share <= 0.0:
            return 0.0
        return self.share if rate <= self.full_rate else self.share * self.full_rate / rate


@dataclass(frozen=True)
class Request:
    """A prediction request as monitoring sees it."""

    name: str
    alias: str | None
    time_ms: int
    """Epoch ms when it arrived."""
    started: float
    """`time.perf_counter()` when it arrived."""

    def latency_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0


def answered(request: Request, version: int, ids: list[str], columns: dict[str, Any], output: Output,
             keep: bool, latency_ms: float) -> list[PredictionRecord]:
    """One record per row; inputs (the conformed `columns`), output and probabilities only when `keep`."""
    inputs = _json_rows(columns) if keep else None
    probabilities = output.probabilities if keep else None
    return [PredictionRecord.model_construct(
        request_id=request_id, time=request.time_ms, name=request.name, version=version, alias=request.alias,
        latency_ms=latency_ms, rows=len(ids), first=index == 0, status=RecordStatus.OK, error=None,
        inputs=inputs[index] if inputs is not None else None,
        output=output.predictions[index] if keep else None,
        probabilities=probabilities[index] if probabilities is not None else None)
        for index, request_id in enumerate(ids)]


def failed(request: Request, version: int, error: str, latency_ms: float) -> PredictionRecord:
    """The one record a refused or failed request leaves (`version` 0 when none was chosen)."""
    return PredictionRecord.model_construct(
        request_id=new_ids(1)[0], time=request.time_ms, name=request.name, version=version, alias=request.alias,
        latency_ms=latency_ms, rows=0, first=True, status=RecordStatus.ERROR, error=error[:MAX_ERROR],
        inputs=None, output=None, probabilities=None)


def _json_rows(columns: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows as JSON values: missing as null, times as ISO 8601 text."""
    names = list(columns)
    values = [[_json_value(v) for v in column.tolist()] for column in columns.values()]
    return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


def _json_value(value: Any) -> Any:
    if type(value) is float:
        return value if math.isfinite(value) else None
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    return None if isinstance(value, float) and math.isnan(value) else value
