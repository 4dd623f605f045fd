"""The backend's `Settings` from the environment, and the facts both sides share (`mlops_tui.contract.defaults`)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import platformdirs
import pytest
from conftest import ROOT, free_port

from backend.settings import Settings
from backend.settings import default_home as backend_home
from mlops_tui.contract.defaults import PidFile, local_url
from mlops_tui.embedded import default_home as console_home


def test_variables_are_read_and_parsed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("MLOPS_MAX_JOBS", "3")
    monkeypatch.setenv("MLOPS_HEARTBEAT_TIMEOUT", "2.5")
    monkeypatch.setenv("MLOPS_WARM_WORKER", "0")
    monkeypatch.setenv("MLOPS_TOKEN", "")
    settings = Settings()
    assert settings.home == tmp_path / "h" and settings.db_path == tmp_path / "h" / "mlops.db"
    assert settings.max_running_jobs == 3 and settings.heartbeat_timeout_seconds == 2.5
    assert settings.warm_worker is False and settings.token is None
    monkeypatch.setenv("MLOPS_WARM_WORKER", "false")  # only 0 turns the warm worker off
    monkeypatch.setenv("MLOPS_TOKEN", "s3cret")
    assert Settings().warm_worker is True and Settings().token == "s3cret"


def test_given_values_win_over_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLOPS_TOKEN", "s3cret")
    monkeypatch.setenv("MLOPS_MAX_JOBS", "3")
    settings = Settings(home=tmp_path, token=None, max_running_jobs=1)
    assert settings.home == tmp_path and settings.token is None and settings.max_running_jobs == 1


def test_only_the_documented_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("max_body_bytes", "MAX_BODY_BYTES", "MLOPS_MAX_BODY_BYTES", "run_jobs", "MLOPS_RUN_JOBS",
                 "pid_file", "bind_host", "home", "mlops_max_jobs"):
        monkeypatch.setenv(name, "0")
    settings = Settings(home=tmp_path)
    assert settings.max_body_bytes == 64 * 1024 * 1024 and settings.run_jobs is True
    assert settings.pid_file is None and settings.bind_host is None and settings.max_running_jobs == 2


@pytest.mark.parametrize(("name", "value"), [("MLOPS_MAX_JOBS", "two"), ("MLOPS_MAX_CANDIDATES", ""),
                                             ("MLOPS_HEARTBEAT_TIMEOUT", "soon"), ("MLOPS_MAX_COLUMNS", "1e3x")])
def test_a_bad_value_is_an_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        Settings()


def test_both_sides_agree_on_the_default_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MLOPS_HOME", raising=False)
    assert backend_home() == console_home() == Path(platformdirs.user_data_dir("mlops-tui"))
    monkeypatch.setenv("MLOPS_HOME", "")
    assert backend_home() == console_home() == Path(platformdirs.user_data_dir("mlops-tui"))
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path))
    assert backend_home() == console_home() == tmp_path


def test_the_backend_refuses_to_bind_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "MLOPS_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "backend.server", "--host", "0.0.0.0", "--port", str(free_port()),
                             "--home", str(tmp_path)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr == ("error: refusing to bind 0.0.0.0: turn auth on before serving beyond loopback "
                             "(MLOPS_TOKEN=<server token>, or MLOPS_AUTH=1 with tokens made by `mlops auth token "
                             "create`)\n")
    assert not (tmp_path / "server.pid").exists()


def test_pid_file_round_trip_and_the_url_it_names(tmp_path: Path) -> None:
    path = tmp_path / "server.pid"
    PidFile(123, "::1", 5055).save(path)
    assert path.read_text() == "123 ::1 5055\n"
    loaded = PidFile.load(path)
    assert loaded == PidFile(123, "::1", 5055) and loaded.url == "http://[::1]:5055"
    assert local_url("0.0.0.0", 8) == local_url("::", 8) == "http://127.0.0.1:8"
    path.write_text("not a pid file\n")
    assert PidFile.load(path) is None and PidFile.load(tmp_path / "none") is None
