"""The logging SDK: `with start_run(experiment="x") as run: run.log_metric("loss", 0.1)`.

Logging is buffered and sent in batches by a background thread: a loop that logs 100,000 points
makes a handful of HTTP calls. Leaving the block flushes and ends the run: FINISHED, or FAILED
when the block raised.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .client import Client, MlopsError
from .embedded import ensure_backend
from .environment import run_environment_tags

MAX_BATCH_POINTS = 10_000


class ActiveRun:
    """A run being logged to. Values are checked when logged; sending happens in the background."""

    def __init__(self, client: Client, run_id: str, flush_interval: float = 0.5) -> None:
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
        self._steps: dict[str, int] = {}
        self._error: MlopsError | None = None
        self._flush_interval = flush_interval
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

    def end(self, status: str = "FINISHED") -> None:
        """Flush and set the final status; a run whose last data could not be stored ends FAILED."""
        self._stop = True
        self._wake.set()
        self._sender.join()
        try:
            self._send_pending()
        except MlopsError:
            status = "FAILED"
            raise
        finally:
            if self._error is not None:
                status = "FAILED"
            self.client.update_run(self.id, status=status)
        self._raise_pending()

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _take(self) -> tuple[dict[str, str], list[dict[str, Any]], dict[str, str]]:
        """Up to MAX_BATCH_POINTS buffered points (as columns per key), and all params and tags."""
        with self._lock:
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
            return params, series, tags

    def _send_pending(self, whole: bool = True) -> None:
        """Send the buffer in batches; with `whole=False` leave a partial batch for the next round."""
        while True:
            params, series, tags = self._take()
            if not (params or series or tags):
                return
            self.client.log_batch(self.id, params=params, series=series, tags=tags)
            if not whole and self._buffered < MAX_BATCH_POINTS:
                return

    def _send_loop(self) -> None:
        """Every interval (or as soon as a batch is full) send what is buffered, at most one partial
        batch per interval, so steady logging makes few, large calls."""
        while not self._stop:
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            try:
                self._send_pending(whole=False)
            except MlopsError as error:
                self._error = self._error or error


@contextmanager
def start_run(experiment: str = "Default", name: str | None = None, url: str | None = None,
              tags: dict[str, str] | None = None, parent_id: str | None = None) -> Iterator[ActiveRun]:
    """Start a run, yield it, and end it: FINISHED, or FAILED if the block raised."""
    client = Client(ensure_backend(url))
    try:
        run = client.create_run(experiment, name, {**run_environment_tags(), **(tags or {})}, parent_id)
        active = ActiveRun(client, run.id)
        try:
            yield active
        except KeyboardInterrupt:
            active.end("KILLED")
            raise
        except BaseException:
            active.end("FAILED")
            raise
        active.end("FINISHED")
    finally:
        client.close()

