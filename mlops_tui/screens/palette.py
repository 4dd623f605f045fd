"""`ctrl+p`: the command palette jumps to things as well as views: an experiment's runs, a run
(by name or id), a job, a dataset, a model and its Monitor view (per alias), found by name as you type.

The names come from the backend when the palette opens (experiments, datasets, the latest jobs and
runs); a run id of 6 characters or more that is not among them is asked for directly.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from ..client import MlopsError
from ..formatting import safe_text
from .registry import RUN_ID_MIN

if TYPE_CHECKING:
    from ..app import MlopsApp

PALETTE_RUNS = 200
"""The latest runs whose names the palette knows."""
PALETTE_JOBS = 100


def _goto(app: MlopsApp, view: str, arg: str) -> Callable[[], None]:
    """What picking a target does: open `:view arg`."""
    return lambda: app.goto(view, arg)


@dataclass(frozen=True)
class Target:
    """Something the palette can open: the text it matches on, a help line, what opening does."""

    text: str
    help: str
    open: Callable[[], object]


class ConsoleSearch(Provider):
    """Experiments, runs, jobs, datasets and models by name (asks the backend when the palette opens)."""

    @property
    def mlops(self) -> MlopsApp:
        return cast("MlopsApp", self.app)

    async def startup(self) -> None:
        self.targets: list[Target] = []
        app, client = self.mlops, self.mlops.client
        try:
            experiments = await client.list_experiments()
            names = {e.id: e.name for e in experiments}
            self.targets += [Target(f"experiment {safe_text(e.name)}", f"the runs of {safe_text(e.name)}",
                                    _goto(app, "runs", e.name)) for e in experiments]
            runs = (await client.search_runs(limit=PALETTE_RUNS)).runs
            self.targets += [Target(f"run {safe_text(r.name)} {r.id[:8]}",
                                    f"in {safe_text(names.get(r.experiment_id, r.experiment_id))} · {r.status}",
                                    _goto(app, "run", r.id)) for r in runs]
            jobs = await client.list_jobs(limit=PALETTE_JOBS)
            self.targets += [Target(f"job {safe_text(j.name)} {j.id[:8]}", f"{j.status} · training job",
                                    _goto(app, "jobs", j.id)) for j in jobs]
            datasets = await client.list_datasets()
            self.targets += [Target(f"dataset {safe_text(d.name)}", f"{d.version_count} version(s)",
                                    _goto(app, "datasets", d.name)) for d in datasets]
            for model in (await client.list_models()).models:
                name = safe_text(model.name)
                self.targets.append(Target(f"model {name}", f"{model.version_count} version(s)",
                                           _goto(app, "models", model.name)))
                self.targets += [Target(f"monitor {name}@{safe_text(alias)}", f"live traffic, drift, accuracy of v{v}",
                                        _goto(app, "monitor", f"{model.name}@{alias}"))
                                 for alias, v in sorted(model.aliases.items())]
        except MlopsError:
            pass  # the palette still offers the views; what loaded stays offered

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for target in self.targets:
            score = matcher.match(target.text)
            if score > 0:
                yield Hit(score, matcher.highlight(target.text), target.open, text=target.text, help=target.help)
        word = query.strip()
        if len(word) >= RUN_ID_MIN and word.isalnum() and not any(word in t.text for t in self.targets):
            try:
                run = await self.mlops.client.get_run(word)
            except MlopsError:
                return
            text = f"run {safe_text(run.name)} {run.id[:8]}"
            yield Hit(1.0, text, lambda: self.mlops.goto("run", run.id), text=text, help=f"run id {run.id}")

    async def discover(self) -> Hits:
        for target in self.targets[:20]:
            yield DiscoveryHit(target.text, target.open, text=target.text, help=target.help)
