"""The logging SDK: `with start_run(experiment="x") as run: run.log_metric("loss", 0.1)`.

Logging is buffered and sent in batches by a background thread: a loop that logs 100,000 points
makes a handful of HTTP calls. Leaving the block flushes and ends the run: FINISHED, or FAILED
when the block raised.

Through a backend restart the buffer is kept and every call is retried with backoff for up to
`retry_seconds` (`MLOPS_RETRY_SECONDS`, default 60); a batch that could not be sent is kept and sent
again first, unchanged and under its id (`Idempotency-Key`), so no logged point is lost, and a batch
the backend stored without answering (it crashed first) is stored once. The background thread also
sends a heartbeat every `heartbeat_seconds` (`MLOPS_HEARTBEAT_SECONDS`, default 15): the backend marks a run whose
heartbeat stopped FAILED (`mlops.failure_reason = heartbeat lost`).
"""
from __future__ import annotations

import math
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from .client import Client, MlopsError
from .contract import RunStatus
from .embedded import ensure_backend
from .environment import run_environment_tags

MAX_BATCH_POINTS = 10_000
FLUSH_SECONDS = 0.5
"""The sender sends what is buffered at least this often (and at once when a batch is full)."""
DEFAULT_RETRY_SECONDS = 60.0
DEFAULT_HEARTBEAT_SECONDS = 15.0

Batch = tuple[dict[str, str], list[dict[str, Any]], dict[str, str]]
"""Params, metric series (columns per key) and tags taken from the buffer to send together."""
Keyed = tuple[str, Batch]
"""A batch with the id it is sent under (`Idempotency-Key`): every attempt at it uses the same id, so a
batch whose answer was lost (the backend crashed after storing it) is stored once."""


def _setting(value: float | None, variable: str, default: float) -> float:
    if value is not None:
        return value
    text = os.environ.get(variable)
    try:
        return float(text) if text else default
    except ValueError:
        raise ValueError(f"{variable}={text!r} must be a number of seconds") from None


class ActiveRun:
    """A run being logged to. Values are checked when logged; sending happens in the background."""

    def __init__(self, client: Client, run_id: str, flush_interval: float | None = None,
                 heartbeat_interval: float = DEFAULT_HEARTBEAT_SECONDS) -> None:
        self.client = client
        self.id = run_id
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._series: dict[str, tuple[list[int], list[float], list[int]]] = {}
        self._buffered = 0
        self._params: dict[str, str] = {}
        self._logged_params: dict[str, str] = {}
        self._tags: dict[str, str] = {}
        self._unsent: Keyed | None = None
        """A batch that could not be sent: sent again first, unchanged and under its id."""
        self._steps: dict[str, int] = {}
        self._error: MlopsError | None = None
        self._flush_interval = FLUSH_SECONDS if flush_interval is None else flush_interval
        self._heartbeat_interval = heartbeat_interval
        self._sender = threading.Thread(target=self._send_loop, name=f"mlops-run-{run_id[:8]}", daemon=True)
        self._sender.start()

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: dict[str, Any]) -> None:
        self._raise_pending()
        with self._lock:
            for key, value in params.items():
                text = str(value)
                before = self._logged_params.get(key, text)
                if before != text:
                    raise MlopsError(f"param {key!r} was already logged as {before!r}; it cannot change to "
                                     f"{text!r}", 409, f"params.{key}")
            for key, value in params.items():
                self._params[key] = self._logged_params[key] = str(value)

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Log one point; without `step`, each key counts its own steps from 0."""
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"metric {key!r}: value must be finite, got {value!r}")
        with self._lock:
            if step is None:
                step = self._steps.get(key, 0)
            self._steps[key] = step + 1
            columns = self._series.get(key)
            if columns is None:
                columns = self._series[key] = ([], [], [])
            columns[0].append(step)
            columns[1].append(number)
            columns[2].append(int(time.time() * 1000))
            self._buffered += 1
            full = self._buffered >= MAX_BATCH_POINTS
        if full:
            self._wake.set()
        if self._error is not None:
            self._raise_pending()

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        for key, value in metrics.items():
            self.log_metric(key, value, step)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        self._raise_pending()
        with self._lock:
            self._tags.update({k: str(v) for k, v in tags.items()})

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Upload a file (or every file under a folder) now, under `artifact_path` when given."""
        source = Path(path)
        files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
        if not files:
            raise FileNotFoundError(f"nothing to upload at {source}")
        for file in files:
            relative = file.name if file == source else file.relative_to(source).as_posix()
            target = f"{artifact_path.strip('/')}/{relative}" if artifact_path else relative
            self.client.upload_artifact(self.id, target, file.read_bytes())

    def flush(self) -> None:
        """Send everything buffered now; raise the first error the backend answered."""
        self._send_pending()
        self._raise_pending()

    def end(self, status: str = RunStatus.FINISHED) -> None:
        """Flush and set the final status; a run whose last data could not be stored ends FAILED.

        When the backend stayed unreachable for the whole retry window, nothing more can be sent:
        the error is raised and the run is left for the backend to mark FAILED (heartbeat lost)."""
        self._stop = True
        self._wake.set()
        self._sender.join()
        pending = self._take_error()
        failure: MlopsError | None
        try:
            self._send_pending()
        except MlopsError as error:
            failure = error
        else:  # everything was delivered: an earlier outage no longer matters, a refused batch does
            failure = pending if pending is not None and not pending.unreachable else None
        if failure is not None and failure.unreachable:
            raise failure
        self.client.update_run(self.id, status=RunStatus.FAILED if failure is not None else status)
        if failure is not None:
            raise failure

    def _take_error(self) -> MlopsError | None:
        error, self._error = self._error, None
        return error

    def _raise_pending(self) -> None:
        error = self._take_error()
        if error is not None:
            raise error

    def _take(self) -> Keyed:
        """The batch that could not be sent before, else up to MAX_BATCH_POINTS buffered points (as columns
        per key) and all params and tags under a new id."""
        with self._lock:
            if self._unsent is not None:
                unsent, self._unsent = self._unsent, None
                self._buffered -= _points(unsent[1])
                return unsent
            params, self._params = self._params, {}
            tags, self._tags = self._tags, {}
            series: list[dict[str, Any]] = []
            room = MAX_BATCH_POINTS
            for key in list(self._series):
                if room == 0:
                    break
                steps, values, stamps = self._series[key]
                taken = min(room, len(values))
                series.append({"key": key, "steps": steps[:taken], "values": values[:taken],
                               "timestamps": stamps[:taken]})
                if taken == len(values):
                    del self._series[key]
                else:
                    del steps[:taken], values[:taken], stamps[:taken]
                room -= taken
            self._buffered -= MAX_BATCH_POINTS - room
            return uuid.uuid4().hex, (params, series, tags)

    def _put_back(self, keyed: Keyed) -> None:
        """Keep a batch that could not be sent, to be sent first and as it was (same id, same content: the
        backend may have stored it without answering)."""
        with self._lock:
            self._unsent = keyed
            self._buffered += _points(keyed[1])

    def _send_pending(self, until: Literal["empty", "one partial", "full only"] = "empty") -> None:
        """Send the buffer in batches: all of it, full batches plus at most one partial batch (the
        timer's round), or full batches only (woken early by a full buffer).

        A batch the backend could not be reached for (after the client's retries) goes back into the
        buffer; one it refused (4xx: a changed param, a bad key) is dropped, as the API stores all
        of a batch or none of it."""
        while True:
            if until == "full only" and self._buffered < MAX_BATCH_POINTS:
                return
            keyed = self._take()
            batch_id, (params, series, tags) = keyed
            if not (params or series or tags):
                return
            try:
                self.client.log_batch(self.id, params=params, series=series, tags=tags, batch_id=batch_id)
            except MlopsError as error:
                if error.unreachable or (error.status or 0) >= 500:
                    self._put_back(keyed)
                raise
            if until != "empty" and self._buffered < MAX_BATCH_POINTS:
                return

    def _heartbeat(self) -> None:
        try:
            self.client.heartbeat(self.id)
        except MlopsError:
            pass  # a missed heartbeat is harmless; sending data reports real trouble

    def _send_loop(self) -> None:
        """Every interval (or as soon as a batch is full) send what is buffered, at most one partial
        batch per interval, so steady logging makes few, large calls; a heartbeat every
        `heartbeat_interval` (the first at once)."""
        next_flush = time.monotonic() + self._flush_interval
        next_beat = time.monotonic()
        while not self._stop:
            now = time.monotonic()
            if now >= next_beat:
                self._heartbeat()
                next_beat = time.monotonic() + self._heartbeat_interval
            woke = self._wake.wait(max(0.0, min(next_flush, next_beat) - time.monotonic()))
            self._wake.clear()
            if self._stop:
                return
            timer = time.monotonic() >= next_flush
            if not (woke or timer):
                continue
            try:
                self._send_pending("one partial" if timer else "full only")
            except MlopsError as error:
                self._error = self._error or error
            if timer:
                next_flush = time.monotonic() + self._flush_interval


def _points(batch: Batch) -> int:
    return sum(len(item["values"]) for item in batch[1])


@contextmanager
def start_run(experiment: str = "Default", name: str | None = None, url: str | None = None,
              tags: dict[str, str] | None = None, parent_id: str | None = None,
              retry_seconds: float | None = None, heartbeat_seconds: float | None = None) -> Iterator[ActiveRun]:
    """Start a run, yield it, and end it: FINISHED, or FAILED if the block raised.

    `retry_seconds` (default `MLOPS_RETRY_SECONDS`, else 60): how long a backend outage is waited
    through. `heartbeat_seconds` (default `MLOPS_HEARTBEAT_SECONDS`, else 15): how often the run
    tells the backend it is alive. When the block raised, that error is what propagates; a failure
    to reach the backend while ending the run is added to it as a note."""
    retry = _setting(retry_seconds, "MLOPS_RETRY_SECONDS", DEFAULT_RETRY_SECONDS)
    beat = _setting(heartbeat_seconds, "MLOPS_HEARTBEAT_SECONDS", DEFAULT_HEARTBEAT_SECONDS)
    client = Client(ensure_backend(url), retry_seconds=retry)
    try:
        run = client.create_run(experiment, name, {**run_environment_tags(), **(tags or {})}, parent_id)
        active = ActiveRun(client, run.id, heartbeat_interval=beat)
        try:
            yield active
        except BaseException as error:
            try:
                active.end(RunStatus.KILLED if isinstance(error, KeyboardInterrupt) else RunStatus.FAILED)
            except MlopsError as lost:
                error.add_note(f"mlops: run {active.id} could not be ended: {lost.message}")
            raise
        active.end(RunStatus.FINISHED)
    finally:
        client.close()
