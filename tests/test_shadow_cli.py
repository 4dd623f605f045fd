"""A shadow started by another process (as a job or a second backend would: written to the database) is
followed by a real server within its table's re-read, and `mlops monitor shadow` shows the comparison
(`--json` exactly the API's document; a model without a shadow exits 1 with a message, no traceback)."""
from __future__ import annotations

import json
import time
from pathlib import Path

from conftest import LiveServer, unique
from registry_support import run_with_files, tiny_model_files
from typer.testing import CliRunner

from backend.db import Database
from backend.services import shadow
from mlops_tui import Client
from mlops_tui.cli.main import app

runner = CliRunner()
ROWS = {"dataframe_records": [{"a": 0.5, "b": -1.0}, {"a": -0.5, "b": 1.0}]}


def test_a_shadow_started_elsewhere_is_followed_and_shown(live_env: LiveServer, tmp_path: Path) -> None:
    server = live_env
    with Client(server.url, token="", timeout=60) as client:
        files = tiny_model_files(tmp_path / "tiny")
        name = unique("shadow-cli")
        for _ in range(2):
            client.register_version(name, run_with_files(client, files))
        client.promote(name, 1, "production", force=True, reason="shadow cli test")
        db = Database(server.home / "mlops.db")
        try:
            shadow.start(db, name, 2)
        finally:
            db.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert client.predict(name, "production", ROWS).predictions == [1, 0]
            if client.shadow(name).rows:
                break
            time.sleep(0.2)
        found = client.shadow(name)
    assert found.rows >= 2 and found.agreement == 1.0 and (found.champion.version, found.shadow.version) == (1, 2)

    result = runner.invoke(app, ["monitor", "shadow", name, "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert (shown["model"], shown["alias"], shown["shadow"]["version"], shown["agreement"]) == \
        (name, "production", 2, 1.0)
    assert shown["verdict"] == "waiting" and shown["reason"].endswith(" of 100 rows compared")

    result = runner.invoke(app, ["monitor", "shadow", f"{name}@production"])
    assert result.exit_code == 0, result.output
    assert "version 1, shadowed by version 2 (staging)" in result.stdout and "agreement 100.0%" in result.stdout
    assert "verdict waiting" in result.stdout

    result = runner.invoke(app, ["monitor", "shadow", f"{name}@canary"])
    assert result.exit_code == 1
    assert f"{name}@canary has no shadow running" in result.stderr and "Traceback" not in result.output
