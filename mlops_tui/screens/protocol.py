"""What the console needs from a client: `AsyncClient` satisfies it, and tests pass a fake."""
from __future__ import annotations

from typing import Protocol

from ..models import ArtifactFile, Experiment, ExperimentKeys, Health, MetricHistory, Run, RunPage


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
