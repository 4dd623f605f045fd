"""The console's pure parts: the config file, the run window's paging arithmetic, the key table."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.text import Text

from mlops_tui.config import ConfigError, TuiConfig, config_path, load_config, parse_config
from mlops_tui.contract import JobStatus, Run, RunPage, RunStatus
from mlops_tui.formatting import duration, number, status, status_markup
from mlops_tui.keymap import KEY_SPECS
from mlops_tui.screens.run_window import RunQuery, RunWindow

from .seed import T0, run_id


def test_missing_config_gives_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_CONFIG", str(tmp_path / "nope.toml"))
    assert load_config() == TuiConfig()


def test_config_path_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config_path() == tmp_path / "mlops-tui" / "config.toml"


def test_config_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[keys]\n"runs.mark" = "x"\n[tui]\nrefresh_seconds = 1.5\ntheme = "nord"\n'
                    '[runs]\npage_size = 50\nmetrics = ["acc"]\n')
    config = load_config(path)
    assert config.keys == {"runs.mark": "x"} and config.refresh_seconds == 1.5 and config.theme == "nord"
    assert config.page_size == 50 and config.metrics == ("acc",) and config.params is None


@pytest.mark.parametrize(("document", "message"), [
    ({"keys": {"runs.nope": "x"}}, "unknown binding id"),
    ({"tui": {"refresh_seconds": "fast"}}, "tui.refresh_seconds"),
    ({"runs": {"metrics": "acc"}}, "runs.metrics"),
    ({"keys": {"runs.mark": ""}}, "[keys]"),
])
def test_bad_config_names_the_problem(document: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(document)  # type: ignore[arg-type]


@pytest.mark.parametrize(("section", "key"), [("tui", "refresh_secs"), ("runs", "page_sise")])
def test_an_unknown_key_in_tui_or_runs_is_an_error_naming_it(section: str, key: str) -> None:
    with pytest.raises(ConfigError, match=f"unknown key '{key}' in \\[{section}\\]"):
        parse_config({section: {key: 1}})


def test_mlops_tui_stops_on_an_unknown_config_key_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[tui]\nrefresh_seconds = 5\nrefersh_seconds = 1\n")
    env = {**os.environ, "MLOPS_CONFIG": str(path), "NO_COLOR": "1", "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "mlops_tui.cli.main", "tui"], env=env, capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 1 and result.stdout == ""
    assert "unknown key 'refersh_seconds' in [tui]" in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("word", sorted({*RunStatus, *JobStatus}))
def test_the_cli_colours_a_status_as_the_console_does(word: str) -> None:
    cli, console = Text.from_markup(status_markup(word)), status(word)
    assert cli.plain == word and cli.spans[0].style == console.spans[0].style != ""
    assert status_markup("RUNNING") == "[cyan]RUNNING[/]"  # the console's colour, the CLI's since issue 8


def test_every_binding_has_a_unique_id_and_a_description() -> None:
    assert all(spec.id == key and spec.description for key, spec in KEY_SPECS.items())


def test_order_by_head_and_tail() -> None:
    assert RunQuery().order_by() is None  # the server's own default order
    assert RunQuery().order_by(tail=True) == ["start_time ASC"]
    query = RunQuery(sort="metrics.acc", descending=True)
    assert query.order_by() == ["metrics.acc DESC"]
    assert query.order_by(tail=True) == ["metrics.acc ASC", "start_time ASC"]


def _page(start: int, size: int, more: bool) -> RunPage:
    return RunPage(runs=[Run(id=run_id(i), experiment_id="1", name=f"run-{i:03d}", status="FINISHED",
                             start_time=T0 + i * 60_000) for i in range(start, start + size)],
                   next_page_token=str(start + size) if more else None)


def test_window_walks_down_and_keeps_at_most_max_pages() -> None:
    window = RunWindow(page_size=10, max_pages=2)
    assert window.below() is None  # nothing fetched yet
    window.store(0, _page(0, 10, True))
    assert window.at_top and not window.at_bottom and window.below() == 1 and window.above() is None
    window.store(1, _page(10, 10, True))
    window.store(2, _page(20, 5, False))
    window.trim(keep_below=True)
    assert window.indices == [1, 2] and window.at_bottom and window.below() is None
    assert window.above() == 0
    assert window.position(0, None) == 10 and len(window.rows()) == 15


def test_tail_window_counts_from_the_end() -> None:
    window = RunWindow(page_size=10, tail=True)
    window.store(0, _page(100, 10, True))  # the last 10 runs, in reversed order
    rows = window.rows()
    assert rows[0].name == "run-109" and rows[-1].name == "run-100"
    assert window.position(9, 50) == 49 and window.position(0, 50) == 40
    assert window.at_bottom and not window.at_top and window.above() == 1 and window.below() is None


def test_formats_read_without_colour() -> None:
    assert status("FAILED").plain == "✗ FAILED" and status("RUNNING").plain == "▸ RUNNING"
    assert duration(1500) == "1.5s" and duration(3_725_000) == "1h02m" and number(0.123456) == "0.1235"


def test_cli_refuses_a_bad_config(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "config.toml"
    path.write_text('[keys]\n"runs.nope" = "x"\n')
    result = subprocess.run([sys.executable, "-m", "mlops_tui.cli.main", "tui"], capture_output=True, text=True,
                            env={"MLOPS_CONFIG": str(path), "PATH": "/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "500"},
                            timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 1
    assert "unknown binding id(s) in [keys]: runs.nope" in " ".join(result.stderr.split())


@pytest.mark.parametrize(("keys", "named"), [
    ({"runs.mark": "j"}, ("nav.down", "runs.mark", "runs")),
    ({"app.refresh": "x"}, ("app.refresh", "jobs.cancel", "jobs")),
    ({"datasets.diff": "space"}, ("datasets.mark", "datasets.diff", "dataset versions")),
    ({"job.run": "x"}, ("jobs.cancel", "job.run", "job detail")),
    ({"confirm.yes": "n"}, ("confirm.yes", "confirm.no", "yes/no question")),
])
def test_a_remap_onto_a_key_another_binding_of_the_same_screen_uses_is_refused(
        keys: dict[str, str], named: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({"keys": keys})
    assert all(word in str(refused.value) for word in named), str(refused.value)


@pytest.mark.parametrize("keys", [
    {},  # the defaults never clash
    {"jobs.cancel": "c"},  # c compares runs: another screen
    {"datasets.mark": "m", "runs.mark": "m"},  # two screens, one key
    {"runs.mark": "c", "runs.compare": "space"},  # a swap on one screen
    {"confirm.yes": "enter"},  # a question's keys come before the screen's under it
])
def test_a_key_shared_by_different_screens_is_fine(keys: dict[str, str]) -> None:
    assert parse_config({"keys": keys}).keys == keys


def test_the_key_contexts_match_the_bindings_each_screen_really_has() -> None:
    """CONTEXTS decides which ids may clash: derive each screen's bindings from its classes (the
    app's, the screen's and its table's) and check the table covers them."""
    from textual.binding import Binding

    from mlops_tui.app import MlopsApp
    from mlops_tui.keymap import CONTEXTS
    from mlops_tui.screens.dataset_detail import DatasetDetailScreen
    from mlops_tui.screens.job_detail import JobDetailScreen
    from mlops_tui.screens.jobs import JobsScreen
    from mlops_tui.screens.run_detail import RunDetailScreen
    from mlops_tui.screens.runs import RunsScreen
    from mlops_tui.widgets.grid import RunGrid
    from mlops_tui.widgets.tables import NavTable

    def scopes(*classes: type) -> set[str]:
        ids = {b.id for cls in classes for klass in cls.__mro__ for b in getattr(klass, "BINDINGS", [])
               if isinstance(b, Binding) and b.id}
        return {KEY_SPECS[i].scope for i in ids if i in KEY_SPECS}

    assert {spec.scope for spec in KEY_SPECS.values()} <= {s for group in CONTEXTS.values() for s in group}
    for context, classes in {"runs": (MlopsApp, RunsScreen, RunGrid),
                             "run detail": (MlopsApp, RunDetailScreen, NavTable),
                             "jobs": (MlopsApp, JobsScreen, NavTable),
                             "job detail": (MlopsApp, JobDetailScreen, NavTable),
                             "dataset versions": (MlopsApp, DatasetDetailScreen, NavTable)}.items():
        assert scopes(*classes) <= set(CONTEXTS[context]), context


def test_cli_refuses_a_remap_that_takes_another_bindings_key(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "config.toml"
    path.write_text('[keys]\n"runs.mark" = "j"\n')
    result = subprocess.run([sys.executable, "-m", "mlops_tui.cli.main", "tui"], capture_output=True, text=True,
                            env={"MLOPS_CONFIG": str(path), "PATH": "/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "500"},
                            timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 1
    assert "key 'j' is bound to both nav.down and runs.mark (both act in runs)" in " ".join(result.stderr.split())


def test_counts_read_in_the_singular_for_one() -> None:
    from mlops_tui.formatting import plural

    assert [plural(1, "run"), plural(2, "run"), plural(0, "run"), plural(1000, "run")] == \
        ["1 run", "2 runs", "0 runs", "1,000 runs"]
    assert plural(3, "child", "children") == "3 children"
