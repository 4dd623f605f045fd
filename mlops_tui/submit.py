"""Start a pipeline from its TOML file: what `mlops train` and the console's `n` both do.

When the file's `[data]` names a `path` (relative to the TOML's folder), that file is uploaded first
as a version of the dataset named after its stem (content-addressed: the same bytes give the same
version), and the job is submitted with that version's ref; otherwise the pipeline goes as it is
(a `data.dataset` ref, or a file the server will refuse with a message naming the field).

`submit_pipeline` is the synchronous side (the CLI), `submit_pipeline_async` the asynchronous one
(the console's workers); both share the reading and the path logic below.
"""
from __future__ import annotations

import asyncio
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .client import MlopsError
from .contract import DatasetVersion, Job


class PipelineFileError(Exception):
    """The pipeline file itself cannot be read."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot read {path}: {reason}")
        self.path = path


class DataFileMissing(Exception):
    """`data.path` names a file that is not there (`mlops train` exits 4)."""

    def __init__(self, declared: str, source: Path) -> None:
        super().__init__(f"data.path {declared!r}: no such file {source}")
        self.declared = declared
        self.source = source


class DataUploadError(MlopsError):
    """The server refused the data file's upload (kept apart from a refused pipeline); the message
    is the server's."""

    def __init__(self, error: MlopsError, source: Path) -> None:
        super().__init__(error.message, error.status, error.field)
        self.source = source


@dataclass(frozen=True)
class Pipeline:
    """A pipeline file read from disk: its text and, when `data.path` is set, the file to upload."""

    path: Path
    text: str
    data_file: Path | None = None

    @property
    def dataset_name(self) -> str | None:
        """The dataset the data file is registered as: the file's stem."""
        return self.data_file.stem if self.data_file else None


def read_pipeline(path: Path) -> Pipeline:
    """Read the TOML file; raises `PipelineFileError` (unreadable), `DataFileMissing`, or
    `UnicodeDecodeError` (not text)."""
    try:
        text = path.read_text()
    except OSError as error:
        raise PipelineFileError(path, error.strerror or str(error)) from None
    return Pipeline(path, text, data_file(path, text))


def data_file(pipeline_file: Path, text: str) -> Path | None:
    """The file `data.path` names, resolved against the pipeline's folder; None when there is none
    (or when the TOML does not parse: the server then names the problem)."""
    try:
        data = tomllib.loads(text).get("data", {})
    except tomllib.TOMLDecodeError:
        return None
    declared = data.get("path") if isinstance(data, dict) else None
    if not isinstance(declared, str):
        return None
    source = (pipeline_file.parent / declared).resolve()
    if not source.is_file():
        raise DataFileMissing(declared, source)
    return source


class SyncJobs(Protocol):
    def add_dataset_version(self, name: str, filename: str, content: bytes) -> DatasetVersion: ...

    def submit_job(self, pipeline: str, dataset: str | None = None, executor: str | None = None,
                   scheduler: str | None = None) -> Job: ...


class AsyncJobs(Protocol):
    async def add_dataset_version(self, name: str, filename: str, content: bytes) -> DatasetVersion: ...

    async def submit_job(self, pipeline: str, dataset: str | None = None, executor: str | None = None,
                         scheduler: str | None = None) -> Job: ...


def register_data(client: SyncJobs, pipeline: Pipeline) -> str | None:
    """Upload the data file (when there is one) as a dataset version; its ref."""
    if pipeline.data_file is None:
        return None
    try:
        version = client.add_dataset_version(pipeline.data_file.stem, pipeline.data_file.name,
                                             pipeline.data_file.read_bytes())
    except MlopsError as error:
        if error.unreachable:
            raise
        raise DataUploadError(error, pipeline.data_file) from None
    return version.ref


async def register_data_async(client: AsyncJobs, pipeline: Pipeline) -> str | None:
    if pipeline.data_file is None:
        return None
    content = await asyncio.to_thread(pipeline.data_file.read_bytes)
    try:
        version = await client.add_dataset_version(pipeline.data_file.stem, pipeline.data_file.name, content)
    except MlopsError as error:
        if error.unreachable:
            raise
        raise DataUploadError(error, pipeline.data_file) from None
    return version.ref


def submit_pipeline(client: SyncJobs, pipeline: Pipeline, executor: str | None = None,
                    scheduler: str | None = None) -> Job:
    """Register the data, then submit the job. A refused upload raises `DataUploadError`, a refused
    pipeline the server's `MlopsError` (422, naming the field)."""
    dataset = register_data(client, pipeline)
    return client.submit_job(pipeline.text, dataset, executor, scheduler)


async def submit_pipeline_async(client: AsyncJobs, pipeline: Pipeline, executor: str | None = None,
                                scheduler: str | None = None) -> Job:
    dataset = await register_data_async(client, pipeline)
    return await client.submit_job(pipeline.text, dataset, executor, scheduler)
