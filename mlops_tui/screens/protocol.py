"""What the console needs from a client: `AsyncClient` satisfies it, and tests pass a fake."""
from __future__ import annotations

from typing import Protocol

from ..contract import (
    ArtifactFile,
    Dataset,
    DatasetDiff,
    DatasetVersion,
    Experiment,
    ExperimentKeys,
    Health,
    Job,
    JobLog,
    MetricHistory,
    Run,
    RunPage,
)


class ConsoleClient(Protocol):
    """The async client methods the screens call (always from workers, never to build URLs)."""

    url: str

    async def health(self) -> Health: ...

    async def list_experiments(self, include_deleted: bool = False) -> list[Experiment]: ...

    async def experiment_keys(self, ref: str) -> ExperimentKeys: ...

    async def get_run(self, run_id: str) -> Run: ...

    async def search_runs(self, experiment: str | list[str] | None = None, filter: str | None = None,
                          order_by: list[str] | str | None = None, limit: int = 100,
                          page_token: str | None = None) -> RunPage: ...

    async def count_runs(self, experiment: str | list[str] | None = None, filter: str | None = None) -> int: ...

    async def metric_history(self, run_id: str, key: str, max_points: int | None = None) -> MetricHistory: ...

    async def list_artifacts(self, run_id: str, path: str = "") -> list[ArtifactFile]: ...

    async def download_artifact(self, run_id: str, path: str, byte_range: str | None = None) -> bytes: ...

    async def list_jobs(self, status: str | None = None, limit: int = 100) -> list[Job]: ...

    async def get_job(self, job_id: str) -> Job: ...

    async def job_logs(self, job_id: str, offset: int = 0, tail: int | None = None) -> JobLog: ...

    async def cancel_job(self, job_id: str) -> Job: ...

    async def retry_job(self, job_id: str) -> Job: ...

    async def submit_job(self, pipeline: str, dataset: str | None = None, executor: str | None = None,
                         scheduler: str | None = None) -> Job: ...

    async def add_dataset_version(self, name: str, filename: str, content: bytes) -> DatasetVersion: ...

    async def list_datasets(self) -> list[Dataset]: ...

    async def get_dataset(self, name: str) -> Dataset: ...

    async def get_dataset_version(self, name: str, version: int | str = "latest") -> DatasetVersion: ...

    async def diff_datasets(self, name: str, a: int, b: int) -> DatasetDiff: ...
