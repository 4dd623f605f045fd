"""The runs view against the REAL backend (a uvicorn server on a temporary home, seeded through the
API): sorting, reversing, filtering, paging, grouping, ★ and the leaderboard go through the real
async client and the real search, so a client that drops `order_by` or a server that ignores a
filter turns these red."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Label, OptionList

from mlops_tui.app import MlopsApp
from mlops_tui.client import AsyncClient
from mlops_tui.columns_state import load_columns
from mlops_tui.screens.compare import CompareScreen
from mlops_tui.screens.pickers import ColumnPicker
from mlops_tui.screens.runs import RunsScreen
from mlops_tui.widgets.filter_bar import FilterBar
from mlops_tui.widgets.tables import NavTable

from .conftest import QUIET, settle

SIZE = (120, 40)
T0 = 1_741_942_800_000  # 2025-03-14 09:00 UTC


@dataclass
class Seeded:
    """What was written to the server: names are unique per test, so tests share one server."""

    experiment: str
    top: list[dict[str, Any]] = field(default_factory=list)
    """Top-level runs, oldest first (each: id, name, start, metrics)."""
    children: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    best: dict[str, str] = field(default_factory=dict)
    """Parent id → the id of its child tagged best."""


class Seeder:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)

    def run(self, experiment: str, name: str, start: int, *, parent: str | None = None,
            params: dict[str, str] | None = None, metrics: dict[str, float] | None = None,
            tags: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.http.post("/api/v1/runs", json={"experiment": experiment, "name": name, "start_time": start,
                                                         "parent_id": parent})
        response.raise_for_status()
        run_id = response.json()["id"]
        body = {"params": params or {}, "tags": tags or {},
                "metrics": [{"key": k, "value": v, "step": 0, "timestamp": start} for k, v in (metrics or {}).items()]}
        self.http.post(f"/api/v1/runs/{run_id}/batch", json=body).raise_for_status()
        self.http.patch(f"/api/v1/runs/{run_id}", json={"status": "FINISHED", "end_time": start + 5_000}
                        ).raise_for_status()
        return {"id": run_id, "name": name, "start": start, "metrics": metrics or {}, "params": params or {}}


@pytest.fixture
def seeder(live_server: Any) -> Iterator[Seeder]:
    seeder = Seeder(live_server.url)
    yield seeder
    seeder.http.close()


def jobs_experiment(seeder: Seeder) -> Seeded:
    """Two sweeps (a parent with three candidates each, one tagged best) and four plain runs."""
    seeded = Seeded(f"churn-{uuid.uuid4().hex[:8]}")
    scores = {0: [(0.81, 0.010), (0.86, 0.040), (0.84, 0.002)], 1: [(0.88, 0.030), (0.83, 0.001), (0.91, 0.020)]}
    start = T0
    for job in (0, 1):
        best = max(range(3), key=lambda i: scores[job][i][0])
        parent = seeder.run(seeded.experiment, f"sweep-{job}", start, params={"primary_metric": "roc_auc"},
                            metrics={"best_roc_auc": scores[job][best][0] - 0.01})
        seeded.top.append(parent)
        seeded.children[parent["id"]] = []
        for index, (mean, std) in enumerate(scores[job]):
            start += 1_000
            child = seeder.run(
                seeded.experiment, f"RandomForestClassifier-{index}", start, parent=parent["id"],
                params={"estimator": "RandomForestClassifier", "n_estimators": str(50 * (index + 1))},
                metrics={"cv_roc_auc_mean": mean, "cv_roc_auc_std": std, "test_roc_auc": mean - 0.01,
                         "fit_time_s": 1.0 + index},
                tags={"mlops.best": "true"} if index == best else None)
            seeded.children[parent["id"]].append(child)
            if index == best:
                seeded.best[parent["id"]] = child["id"]
        seeder.http.post(f"/api/v1/runs/{parent['id']}/batch",
                         json={"tags": {"mlops.best_run_id": seeded.best[parent["id"]]}}).raise_for_status()
        start += 60_000
    for index, acc in enumerate((0.7, 0.95, 0.6, 0.8)):
        seeded.top.append(seeder.run(seeded.experiment, f"plain-{index}", start, params={"lr": str(0.1 * (index + 1))},
                                     metrics={"acc": acc}))
        start += 60_000
    return seeded


@pytest.fixture
async def console(live_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                  ) -> AsyncIterator[Any]:
    """Build the real app on the real async client; the remembered columns go to a temporary file."""
    monkeypatch.setenv("MLOPS_TUI_STATE", str(tmp_path / "columns.json"))
    clients: list[AsyncClient] = []

    def build(start: str, page_size: int) -> MlopsApp:
        client = AsyncClient(url=live_server.url, token="")
        clients.append(client)
        return MlopsApp(client=client, config=replace(QUIET, page_size=page_size), start=start)

    yield build
    for client in clients:
        await client.aclose()


@asynccontextmanager
async def runs_view(console: Any, experiment: str, page_size: int = 50,
                    size: tuple[int, int] = SIZE) -> AsyncIterator[tuple[Pilot[int], RunsScreen]]:
    """The console started on `:runs EXPERIMENT`, loaded."""
    app = console(f"runs {experiment}", page_size=page_size)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        yield pilot, app.screen


def names(screen: RunsScreen) -> list[str]:
    return [screen._rows[key].name for key in screen.table.keys if key in screen._rows]


def cell(screen: RunsScreen, key: str, column: str) -> str:
    index = [c.key for c in screen.table.columns].index(column)
    return screen.table.get_row(key)[index].plain


def status_line(screen: RunsScreen) -> str:
    return str(screen.query_one("#status", Label).render())


def newest_first(runs: list[dict[str, Any]]) -> list[str]:
    return [run["name"] for run in sorted(runs, key=lambda r: -r["start"])]


async def test_grouped_by_default_sorted_and_reversed_by_the_server(seeder: Seeder, console: Any) -> None:
    seeded = jobs_experiment(seeder)
    async with runs_view(console, seeded.experiment) as (pilot, screen):
        # only the top-level runs, newest first; the children stay with their parent
        assert names(screen) == newest_first(seeded.top)
        assert screen.total == len(seeded.top) and "6 runs (top level)" in status_line(screen)
        await pilot.press("S")  # reverse: oldest first, asked of the server
        await settle(pilot)
        assert names(screen) == newest_first(seeded.top)[::-1]
        screen.sort_by("metrics.acc", True)
        await settle(pilot)
        plain = sorted((r for r in seeded.top if "acc" in r["metrics"]), key=lambda r: -r["metrics"]["acc"])
        assert names(screen)[:4] == [r["name"] for r in plain]  # runs without acc come last
        await pilot.press("S")
        await settle(pilot)
        assert names(screen)[:4] == [r["name"] for r in plain[::-1]]


async def test_parent_expands_to_its_children_with_a_star_on_the_best(seeder: Seeder, console: Any) -> None:
    seeded = jobs_experiment(seeder)
    async with runs_view(console, seeded.experiment) as (pilot, screen):
        parent = seeded.top[1]  # sweep-1, the newer sweep
        children = seeded.children[parent["id"]]
        name = cell(screen, parent["id"], "name")
        assert name.startswith("▸ sweep-1") and "(3)" in name
        best_label = next(c.label for c in screen.table.columns if c.key == "best")
        assert best_label == "BEST roc_auc" and cell(screen, parent["id"], "best") == "0.9"
        screen.table.move_cursor(screen.table.keys.index(parent["id"]))
        await pilot.press("plus")
        await settle(pilot)
        keys = screen.table.keys
        at = keys.index(parent["id"])
        # children follow their parent (newest first, like the list), one request for all of them
        assert keys[at + 1:at + 4] == [c["id"] for c in sorted(children, key=lambda c: -c["start"])]
        assert cell(screen, parent["id"], "name").startswith("▾ sweep-1")
        starred = [k for k in keys if "★" in cell(screen, k, "name")]
        assert starred == [seeded.best[parent["id"]]]
        assert cell(screen, keys[at + 3], "name").lstrip().startswith("└")
        screen.table.move_cursor(at + 2)
        await pilot.press("minus")
        await settle(pilot)
        assert screen.table.keys == keys[:at + 1] + keys[at + 4:] and screen.table.cursor_key == parent["id"]


async def test_leaderboard_ranks_every_candidate_by_the_primary_metric(seeder: Seeder, console: Any) -> None:
    seeded = jobs_experiment(seeder)
    async with runs_view(console, seeded.experiment) as (pilot, screen):
        await pilot.press("L")
        await settle(pilot)
        candidates = [c for found in seeded.children.values() for c in found]
        ranked = sorted(candidates, key=lambda c: -c["metrics"]["cv_roc_auc_mean"])
        assert screen.table.keys[:len(ranked)] == [c["id"] for c in ranked]  # across both sweeps, best first
        assert screen.query_state.sort == "metrics.cv_roc_auc_mean" and screen.query_state.descending
        assert "leaderboard: cv_roc_auc_mean (higher is better)" in status_line(screen)
        assert "★" in cell(screen, ranked[0]["id"], "name")  # 0.91 is the best of its sweep
        await pilot.press("L")
        await settle(pilot)
        assert names(screen) == newest_first(seeded.top)


async def test_leaderboard_ranks_by_the_score_that_chose_lower_first_for_errors(seeder: Seeder,
                                                                                   console: Any) -> None:
    experiment = f"reg-{uuid.uuid4().hex[:8]}"
    parent = seeder.run(experiment, "sweep", T0, params={"primary_metric": "rmse"}, metrics={"best_rmse": 1.5},
                        tags={"mlops.selected_by": "test_rmse"})  # a sweep without cross-validation
    for index, (cv, test) in enumerate(((3.0, 2.0), (1.5, 2.5), (2.2, 1.0))):
        seeder.run(experiment, f"cand-{index}", T0 + 1000 * (index + 1), parent=parent["id"],
                   metrics={"cv_rmse_mean": cv, "test_rmse": test, "cv_rmse_std": 0.1 * index})
    async with runs_view(console, experiment) as (pilot, screen):
        await pilot.press("L")
        await settle(pilot)
        assert names(screen)[:3] == ["cand-2", "cand-0", "cand-1"]
        assert "leaderboard: test_rmse (lower is better)" in status_line(screen)


async def test_filter_lists_flat_and_an_unknown_key_says_so(seeder: Seeder, console: Any) -> None:
    seeded = jobs_experiment(seeder)
    async with runs_view(console, seeded.experiment) as (pilot, screen):
        bar = screen.query_one(FilterBar)

        async def apply(text: str) -> None:
            await pilot.press("slash")
            bar.query_one(Input).value = text
            await pilot.press("enter")
            await settle(pilot)

        await apply("metrics.cv_roc_auc_mean > 0.85")  # children match: listed flat
        assert sorted(names(screen)) == sorted(c["name"] for found in seeded.children.values() for c in found
                                               if c["metrics"]["cv_roc_auc_mean"] > 0.85)
        assert not bar.is_open and bar.error is None
        await apply("metrics.acc > 2")  # a known key, no match: empty, no hint
        assert screen.table.row_count == 0 and not bar.is_open
        await apply("metrics.accuracy > 0.5 and params.lr = '0.1'")
        assert screen.table.row_count == 0 and bar.is_open
        assert bar.error == f"✗ no run in {seeded.experiment} has metrics.accuracy (unknown key)"
        await apply("params.lr = '0.1'")
        assert names(screen) == ["plain-0"] and not bar.is_open


async def test_default_columns_are_the_most_common_and_the_choice_is_remembered(
        seeder: Seeder, console: Any, tmp_path: Path) -> None:
    seeded = jobs_experiment(seeder)
    async with runs_view(console, seeded.experiment) as (pilot, screen):
        assert screen.columns is not None
        # six candidates have these; only the parents have best_roc_auc, four plain runs have acc
        assert screen.columns.metrics == ["cv_roc_auc_mean", "test_roc_auc", "cv_roc_auc_std"]
        assert screen.columns.params == ["estimator", "n_estimators"]
        await pilot.press("C")
        await settle(pilot)
        picker = screen.app.screen
        assert isinstance(picker, ColumnPicker)
        options = picker.query_one(OptionList)
        prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert "[✓] metrics.cv_roc_auc_mean" in prompts and "[ ] metrics.acc" in prompts
        await pilot.press("G")
        assert options.highlighted == options.option_count - 1
        await pilot.press("g")
        assert options.highlighted == 0
        await pilot.press(*"fit")  # type-to-filter: the first key moves to the filter line, nothing is lost
        await settle(pilot)
        assert picker.query_one("#column-filter", Input).value == "fit"
        assert [str(options.get_option_at_index(i).id) for i in range(options.option_count)] == ["metrics.fit_time_s"]
        await pilot.press("enter", "space", "enter")  # back to the list, tick, apply
        await settle(pilot)
        assert screen.columns.metrics == ["cv_roc_auc_mean", "cv_roc_auc_std", "fit_time_s", "test_roc_auc"]
    assert load_columns(seeded.experiment, tmp_path / "columns.json") == (
        ["estimator", "n_estimators"], ["cv_roc_auc_mean", "cv_roc_auc_std", "fit_time_s", "test_roc_auc"])
    async with runs_view(console, seeded.experiment) as (pilot, screen):
        assert screen.columns is not None
        assert screen.columns.metrics == ["cv_roc_auc_mean", "cv_roc_auc_std", "fit_time_s", "test_roc_auc"]


async def test_paging_and_both_ends_of_a_large_experiment(seeder: Seeder, console: Any) -> None:
    experiment = f"big-{uuid.uuid4().hex[:8]}"
    count = 130
    for index in range(count):
        seeder.run(experiment, f"r{index:03d}", T0 + index * 1000, metrics={"acc": (index * 37 % 101) / 100})
    async with runs_view(console, experiment, page_size=20, size=(100, 30)) as (pilot, screen):
        assert screen.total == count and names(screen)[0] == "r129"
        for _ in range(6):
            await pilot.press("pagedown")
            await settle(pilot)
        shown = names(screen)
        assert shown == sorted(shown, reverse=True) and len(set(shown)) == len(shown)
        assert screen.table.cursor_key is not None and len(shown) > 20  # later pages came in
        await pilot.press("G")
        await settle(pilot)
        assert names(screen)[-1] == "r000" and screen.table.cursor_key == screen.table.keys[-1]
        assert f"row {count}" in status_line(screen)
        await pilot.press("g")
        await settle(pilot)
        assert names(screen)[0] == "r129"
        screen.sort_by("metrics.acc", False)
        await settle(pilot)
        await pilot.press("G")
        await settle(pilot)
        top_acc = max((index * 37 % 101) / 100 for index in range(count))
        last = screen._rows[screen.table.keys[-1]]
        assert last.metrics["acc"] == top_acc  # the real last row of the ascending order


def test_server_filters_by_presence_and_counts_children_and_keys(seeder: Seeder) -> None:
    seeded = jobs_experiment(seeder)
    http = seeder.http
    found = http.post("/api/v1/runs/search", json={"experiment": seeded.experiment,
                                                   "filter": "attributes.parent_id IS NULL", "limit": 100}).json()
    assert sorted(r["name"] for r in found["runs"]) == sorted(r["name"] for r in seeded.top)
    counts = {r["name"]: r["child_count"] for r in found["runs"]}
    assert counts["sweep-0"] == 3 and counts["plain-0"] == 0
    nested = http.post("/api/v1/runs/count", json={"experiment": seeded.experiment,
                                                   "filter": "parent_id IS NOT NULL and metrics.acc IS NULL"}).json()
    assert nested["count"] == 6
    assert http.post("/api/v1/runs/count", json={"experiment": seeded.experiment,
                                                 "filter": "tags.mlops.best IS NOT NULL"}).json()["count"] == 2
    bad = http.post("/api/v1/runs/count", json={"experiment": seeded.experiment, "filter": "parent_id IS 3"})
    assert bad.status_code == 422 and bad.json()["field"] == "filter" and "NULL" in bad.json()["detail"]
    keys = http.get(f"/api/v1/experiments/{seeded.experiment}/keys").json()
    assert keys["runs"] == 12 and keys["counts"]["metrics"]["cv_roc_auc_mean"] == 6
    assert keys["counts"]["metrics"]["best_roc_auc"] == 2 and keys["counts"]["params"]["lr"] == 4
    assert keys["metrics"] == sorted(keys["counts"]["metrics"])


async def test_compare_stars_the_smallest_spread(seeder: Seeder, console: Any) -> None:
    seeded = jobs_experiment(seeder)
    async with runs_view(console, seeded.experiment) as (pilot, screen):
        parent = seeded.top[0]  # sweep-0: stds 0.010, 0.040, 0.002; means 0.81, 0.86, 0.84
        screen.table.move_cursor(screen.table.keys.index(parent["id"]))
        await pilot.press("plus")
        await settle(pilot)
        await pilot.press("down", "space", "space", "space", "c")
        await settle(pilot)
        compare = screen.app.screen
        assert isinstance(compare, CompareScreen)
        table = compare.query_one("#compare-metrics", NavTable)
        order = [run.id for run in compare.runs]
        by_id = {c["id"]: c for c in seeded.children[parent["id"]]}

        def starred(key: str) -> str:
            cells = [str(c) for c in table.get_row(key)[1:]]
            return order[next(i for i, c in enumerate(cells) if "★" in c)]

        assert str(table.get_row("cv_roc_auc_std")[0]) == "cv_roc_auc_std ↓"
        assert by_id[starred("cv_roc_auc_std")]["metrics"]["cv_roc_auc_std"] == 0.002
        assert by_id[starred("cv_roc_auc_mean")]["metrics"]["cv_roc_auc_mean"] == 0.86
        assert by_id[starred("fit_time_s")]["metrics"]["fit_time_s"] == 1.0
