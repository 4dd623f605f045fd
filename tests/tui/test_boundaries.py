"""The layers stay apart: the backend loads neither the console nor Textual (only the shared contract), and the console
loads no backend module (it starts the embedded server as a separate process)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_backend_imports_neither_mlops_tui_nor_textual() -> None:
    """The shared contract (`mlops_tui.contract`) is the one part of `mlops_tui` the backend loads."""
    result = _run("import backend, backend.app, backend.server, backend.jobs.worker, sys; "
                  "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('mlops_tui', 'textual') "
                  "and m != 'mlops_tui' and not m.startswith('mlops_tui.contract')); "
                  "assert not bad, bad")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("module", ["mlops_tui", "mlops_tui.cli.main", "mlops_tui.app",
                                    "mlops_tui.screens.runs", "mlops_tui.screens.run_detail",
                                    "mlops_tui.screens.compare"])
def test_console_imports_no_backend(module: str) -> None:
    result = _run(f"import {module}, sys; "
                  "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'backend'); assert not bad, bad")
    assert result.returncode == 0, result.stderr


def test_cli_loads_textual_only_for_the_console() -> None:
    result = _run("import mlops_tui.cli.main, sys; assert 'textual' not in sys.modules")
    assert result.returncode == 0, result.stderr


def test_widgets_and_the_config_import_no_screen() -> None:
    """Widgets sit below the screens (and the config file below both): neither loads `screens/`."""
    result = _run("import pkgutil, sys, mlops_tui.widgets, mlops_tui.config; "
                  "path = mlops_tui.widgets.__path__; "
                  "[__import__(f'mlops_tui.widgets.{m.name}') for m in pkgutil.iter_modules(path)]; "
                  "mlops_tui.config.parse_config({'keys': {'runs.mark': 'x'}}); "
                  "bad = sorted(m for m in sys.modules if m.startswith('mlops_tui.screens')); assert not bad, bad")
    assert result.returncode == 0, result.stderr
