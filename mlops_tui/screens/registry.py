"""Every view of the console is built here, and only here: the command bar, the palette and the
number keys jump to the `VIEWS` registered below (`MlopsApp.goto`); a view that drills into another
pushes what a builder of this module returns (`app.push_screen(registry.run_detail(run_id))`).
Dialogs that answer their opener (a question, a picker, the `:` bar) are pushed by that opener.

Later features register theirs here (`register(ViewSpec(...))`).
Screens are imported when first opened, so the console starts without loading every view.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from textual.screen import Screen

from ..client import AsyncClient
from ..contract import ArtifactFile, Run
from ..formatting import safe_text

RUN_ID_MIN = 6
"""The shortest run id prefix the backend resolves (the tables show 8 characters)."""
JOB_ID_MIN = 4
"""The shortest job id prefix the backend resolves."""

Check = Callable[[AsyncClient, str], Awaitable[None]]
"""Asks the backend whether a view's argument names something; raises `MlopsError` (404) or
`ValueError` (a message for the user) when it does not."""


@dataclass(frozen=True)
class ViewSpec:
    """A top-level view: `:name [arg]` opens `build(arg)`; `arg_hint` says what the argument is.
    `check`, when given, runs first: a wrong argument then says so and the view is not opened."""

    name: str
    description: str
    build: Callable[[str | None], Screen[None]]
    arg_hint: str | None = None
    aliases: tuple[str, ...] = ()
    check: Check | None = None
    needs_arg: bool = False
    """The view cannot open without its argument (the palette offers it by name, not bare)."""


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


def _check_prefix(kind: str, arg: str, minimum: int) -> None:
    if len(arg) < minimum:
        raise ValueError(f"{kind} ids need at least {minimum} characters: {safe_text(arg)!r} is too short "
                         f"to find one (the tables show the first 8)")


async def _check_run(client: AsyncClient, arg: str) -> None:
    _check_prefix("run", arg, RUN_ID_MIN)
    await client.get_run(arg)


async def _check_job(client: AsyncClient, arg: str) -> None:
    _check_prefix("job", arg, JOB_ID_MIN)
    await client.get_job(arg)


async def _check_experiment(client: AsyncClient, arg: str) -> None:
    if not any(arg in (e.id, e.name) for e in await client.list_experiments()):
        raise ValueError(f"experiment {safe_text(arg)!r} not found")


async def _check_dataset(client: AsyncClient, arg: str) -> None:
    from .datasets import split_ref

    name, version = split_ref(arg)
    if version is None:
        await client.get_dataset(name)
    else:
        await client.get_dataset_version(name, version)


# -- every view is built here (screens are imported when first opened) ----------------------------
def overview() -> Screen[None]:
    from .overview import OverviewScreen
    return OverviewScreen()


def experiments(filter_text: str = "") -> Screen[None]:
    from .experiments import ExperimentsScreen
    return ExperimentsScreen(filter_text=filter_text)


def runs(experiment: str | None = None) -> Screen[None]:
    from .runs import RunsScreen
    return RunsScreen(experiment=experiment)


def run_detail(run_id: str) -> Screen[None]:
    from .run_detail import RunDetailScreen
    return RunDetailScreen(run_id)


def compare(marked: list[Run]) -> Screen[None]:
    from .compare import CompareScreen
    return CompareScreen(marked)


def artifact_preview(run_id: str, file: ArtifactFile) -> Screen[None]:
    from .preview import ArtifactPreview
    return ArtifactPreview(run_id, file)


def jobs() -> Screen[None]:
    from .jobs import JobsScreen
    return JobsScreen()


def job_detail(job_id: str) -> Screen[None]:
    from .job_detail import JobDetailScreen
    return JobDetailScreen(job_id)


def datasets() -> Screen[None]:
    from .datasets import DatasetsScreen
    return DatasetsScreen()


def dataset_detail(ref: str) -> Screen[None]:
    """`name` or `name@version`."""
    from .dataset_detail import DatasetDetailScreen
    from .datasets import split_ref
    return DatasetDetailScreen(*split_ref(ref))


def dataset_diff(name: str, a: int, b: int) -> Screen[None]:
    from .dataset_detail import DatasetDiffScreen
    return DatasetDiffScreen(name, a, b)


def models() -> Screen[None]:
    from .models import ModelsScreen
    return ModelsScreen()


def model_detail(name: str) -> Screen[None]:
    from .model_detail import ModelScreen
    return ModelScreen(name)


def model_version(name: str, version: int) -> Screen[None]:
    from .model_version import VersionScreen
    return VersionScreen(name, version)


def model_ref(ref: str) -> Screen[None]:
    """`name` → the model; `name/3` → its version 3; `name@production` → the version the alias holds."""
    from ..contract.registry import parse_model_ref

    name, which = parse_model_ref(ref.strip())
    if which is None:
        return model_detail(name)
    if isinstance(which, int):
        return model_version(name, which)
    from .model_version import VersionScreen
    return VersionScreen(name, alias=which)


def monitor(name: str, alias: str | None = None, at: int | None = None,
            window: str | None = None) -> Screen[None]:
    """A model's live view: the alias's traffic (the backend's default alias when None) over `window`
    (the model's own when None); `at` (epoch ms) shows a past moment instead (an alert's), until `l`
    returns it to live."""
    from .monitor import MonitorScreen
    return MonitorScreen(name, alias, at=at, window=window)


def alerts(filter_text: str = "") -> Screen[None]:
    from .alerts import AlertsScreen
    return AlertsScreen(filter_text=filter_text)


def monitor_ref(ref: str) -> Screen[None]:
    """`name` or `name@alias` → its Monitor view (a version, `name/3`, is not monitored on its own)."""
    from ..contract.registry import parse_model_ref

    name, which = parse_model_ref(ref.strip())
    if isinstance(which, int):
        raise ValueError(f":monitor watches an alias's traffic: {safe_text(name)}@ALIAS or {safe_text(name)}, "
                         "not a version number")
    return monitor(name, which)


def help_screen(keymap: dict[str, str]) -> Screen[None]:
    from .help import HelpScreen
    return HelpScreen(keymap)


async def _check_model(client: AsyncClient, arg: str) -> None:
    from ..contract.registry import parse_model_ref

    name, which = parse_model_ref(arg.strip())
    if which is None:
        await client.get_model(name)
    elif isinstance(which, int):
        await client.get_version(name, which)
    else:
        await client.get_alias(name, which)


async def _check_monitored(client: AsyncClient, arg: str) -> None:
    """The model must exist; its alias need not (the view says it points nowhere, and keeps asking)."""
    from ..contract.registry import parse_model_ref

    name, which = parse_model_ref(arg.strip())
    if isinstance(which, int):
        monitor_ref(arg)  # raises the message
    await client.get_model(name)


def _monitor(arg: str | None) -> Screen[None]:
    if not arg:
        raise ValueError(":monitor needs a model: :monitor churn-classifier or :monitor churn-classifier@production")
    return monitor_ref(arg)


# -- the views `:name [arg]` opens ------------------------------------------------------------------
def _run(arg: str | None) -> Screen[None]:
    if not arg:
        raise ValueError(":run needs a run id (6 characters or more), e.g. :run 3f2a9c1b")
    return run_detail(arg)


register(ViewSpec("overview", "Experiments, latest and failed runs", lambda arg: overview(), aliases=("home", "o")))
register(ViewSpec("experiments", "Every experiment with its run count", lambda arg: experiments(arg or ""),
                  "name filter", aliases=("exp", "experiment", "e")))
register(ViewSpec("runs", "Runs of one experiment (or of all)", lambda arg: runs(arg or None), "experiment",
                  aliases=("run-list", "r"), check=_check_experiment))
register(ViewSpec("run", "One run: params, metrics, charts, artifacts", _run, "run id", check=_check_run,
                  needs_arg=True))
register(ViewSpec("jobs", "Training jobs: queue, progress, logs; one job with `:jobs <id>`",
                  lambda arg: job_detail(arg) if arg else jobs(), "job id", aliases=("job",), check=_check_job))
register(ViewSpec("datasets", "Datasets and their versions; one with `:datasets name[@version]`",
                  lambda arg: dataset_detail(arg) if arg else datasets(), "dataset",
                  aliases=("dataset", "data", "ds"), check=_check_dataset))
register(ViewSpec("models", "Registered models, their aliases and versions; one with `:models name`, "
                  "`name/N` or `name@alias`",
                  lambda arg: model_ref(arg) if arg else models(), "model", aliases=("model", "m"),
                  check=_check_model))
register(ViewSpec("alerts", "Alerts of every model: open first; a acknowledges, enter opens the Monitor view then",
                  lambda arg: alerts(arg or ""), "filter", aliases=("alert", "al")))
register(ViewSpec("monitor", "A model's live traffic, latency, drift and accuracy: `:monitor name[@alias]`",
                  _monitor, "model[@alias]", aliases=("mon",), check=_check_monitored, needs_arg=True))
