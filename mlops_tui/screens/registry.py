"""The views the command bar, the palette and the number keys jump to.

Later features register theirs here (`register(ViewSpec(...))`): `:models`, `:monitor` ….
Screens are imported when first opened, so the console starts without loading every view.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.screen import Screen


@dataclass(frozen=True)
class ViewSpec:
    """A top-level view: `:name [arg]` opens `build(arg)`; `arg_hint` says what the argument is."""

    name: str
    description: str
    build: Callable[[str | None], Screen[None]]
    arg_hint: str | None = None
    aliases: tuple[str, ...] = ()


VIEWS: dict[str, ViewSpec] = {}


def register(spec: ViewSpec) -> None:
    VIEWS[spec.name] = spec


def find(name: str) -> ViewSpec | None:
    """The view called `name` (or one of its aliases), else None."""
    lowered = name.lower()
    for spec in VIEWS.values():
        if lowered == spec.name or lowered in spec.aliases:
            return spec
    return None


def _overview(arg: str | None) -> Screen[None]:
    from .overview import OverviewScreen
    return OverviewScreen()


def _experiments(arg: str | None) -> Screen[None]:
    from .experiments import ExperimentsScreen
    return ExperimentsScreen(filter_text=arg or "")


def _runs(arg: str | None) -> Screen[None]:
    from .runs import RunsScreen
    return RunsScreen(experiment=arg or None)


def _run(arg: str | None) -> Screen[None]:
    if not arg:
        raise ValueError(":run needs a run id, e.g. :run 3f2a9c1b")
    from .run_detail import RunDetailScreen
    return RunDetailScreen(arg)


def _jobs(arg: str | None) -> Screen[None]:
    if arg:
        from .job_detail import JobDetailScreen
        return JobDetailScreen(arg)
    from .jobs import JobsScreen
    return JobsScreen()


def _datasets(arg: str | None) -> Screen[None]:
    if arg:
        from .dataset_detail import DatasetDetailScreen
        from .datasets import split_ref
        return DatasetDetailScreen(*split_ref(arg))
    from .datasets import DatasetsScreen
    return DatasetsScreen()


register(ViewSpec("overview", "Experiments, latest and failed runs", _overview, aliases=("home", "o")))
register(ViewSpec("experiments", "Every experiment with its run count", _experiments, "name filter",
                  aliases=("exp", "experiment", "e")))
register(ViewSpec("runs", "Runs of one experiment (or of all)", _runs, "experiment", aliases=("run-list", "r")))
register(ViewSpec("run", "One run: params, metrics, charts, artifacts", _run, "run id"))
register(ViewSpec("jobs", "Training jobs: queue, progress, logs; one job with `:jobs <id>`", _jobs, "job id",
                  aliases=("job",)))
register(ViewSpec("datasets", "Datasets and their versions; one with `:datasets name[@version]`", _datasets,
                  "dataset", aliases=("dataset", "data", "ds")))
