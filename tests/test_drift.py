"""Shift between dataset versions: PSI counts missing values, the 0.2 threshold, the empty-bin floor,
no verdict below the minimum row count, and the KS p-value beside PSI (API, CLI)."""
from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import LiveServer, unique
from fastapi.testclient import TestClient
from scipy.stats import ks_2samp
from typer.testing import CliRunner

from backend.datasets import drift
from backend.datasets.stats import column_stats
from mlops_tui.cli.main import app as cli


def shifts(a: pd.DataFrame, b: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {c["column"]: c for c in drift.compare(column_stats(a), column_stats(b), b, a)}


def upload(client: TestClient, name: str, frame: pd.DataFrame) -> dict[str, Any]:
    answer = client.post(f"/api/v1/datasets/{name}/versions", params={"filename": "d.csv"},
                         content=frame.to_csv(index=False).encode())
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_psi_counts_missing_values_as_a_bin() -> None:
    rng = np.random.default_rng(0)
    a = pd.DataFrame({"v": rng.normal(size=2000), "c": rng.choice(["x", "y"], 2000)})
    b = a.copy()
    b.loc[b.index[:600], ["v", "c"]] = np.nan  # the same values, 30 % of them now missing
    found = shifts(a, b)
    for column in ("v", "c"):
        assert found[column]["psi"] > 0.3 and found[column]["shifted"], found[column]
        assert found[column]["null_share_b"] == 0.3


@pytest.mark.parametrize(("share", "shifted"), [(0.70, False), (0.72, True)])
def test_the_threshold_is_psi_above_0_2(share: float, shifted: bool) -> None:
    a = pd.DataFrame({"c": ["x"] * 500 + ["y"] * 500})
    b = pd.DataFrame({"c": ["x"] * int(share * 1000) + ["y"] * int(round((1 - share) * 1000))})
    found = shifts(a, b)["c"]
    expected = (share - 0.5) * math.log(share / 0.5) + (0.5 - share) * math.log((1 - share) / 0.5)
    assert found["psi"] == pytest.approx(expected, abs=1e-6)  # 0.1695 and 0.2078: either side of 0.2
    assert found["shifted"] is shifted and found["verdict"] == ("shifted" if shifted else "stable")
    assert drift.SHIFT_THRESHOLD == 0.2


def test_an_empty_bin_is_floored_at_1e_4() -> None:
    p, q = 1e-4, 0.5  # a's second bin is empty: its share counts as 1e-4, not 0
    assert drift.PSI_FLOOR == 1e-4
    assert drift.psi([10, 0], [5, 5]) == pytest.approx((0.5 - 1.0) * math.log(0.5 / 1.0) + (q - p) * math.log(q / p))


def test_below_the_minimum_rows_no_column_is_called_shifted(app_client: TestClient) -> None:
    rng = np.random.default_rng(1)
    small = drift.MIN_ROWS - 1
    upload(app_client, "small", pd.DataFrame({"v": rng.normal(0, 1, small)}))
    upload(app_client, "small", pd.DataFrame({"v": rng.normal(3, 1, drift.MIN_ROWS)}))
    upload(app_client, "small", pd.DataFrame({"v": rng.normal(0, 1, drift.MIN_ROWS)}))
    few = app_client.get("/api/v1/datasets/small/diff", params={"a": 1, "b": 2}).json()
    assert few["judged"] is False and few["verdict"].startswith("too few rows to judge")
    assert few["shifted_columns"] == [] and few["min_rows"] == 500
    assert few["columns"][0]["psi"] > 1 and few["columns"][0]["verdict"] == "too few rows"
    enough = app_client.get("/api/v1/datasets/small/diff", params={"a": 3, "b": 2}).json()
    assert enough["judged"] is True and enough["shifted_columns"] == ["v"] and enough["verdict"] == "shifted"


def test_the_ks_p_value_is_scipys_on_both_versions_raw_values(app_client: TestClient, home: Path) -> None:
    rng = np.random.default_rng(2)
    a = pd.DataFrame({"v": rng.normal(0, 1, 600), "w": rng.normal(0, 1, 600), "c": ["x"] * 600})
    b = pd.DataFrame({"v": rng.normal(0.3, 1, 700), "w": rng.normal(0, 1, 700), "c": ["x"] * 700})
    b.loc[:9, "v"] = np.nan
    upload(app_client, "ks", a)
    second = upload(app_client, "ks", b)
    diff = app_client.get("/api/v1/datasets/ks/diff", params={"a": 1, "b": 2}).json()
    by_column = {c["column"]: c for c in diff["columns"]}
    back = {name: pd.read_csv(io.StringIO(frame.to_csv(index=False))) for name, frame in (("a", a), ("b", b))}
    for column in ("v", "w"):
        expected = ks_2samp(back["a"][column].dropna(), back["b"][column].dropna()).pvalue
        assert by_column[column]["ks_pvalue"] == pytest.approx(expected, rel=1e-5)
    assert by_column["v"]["ks_pvalue"] < 0.001 < by_column["w"]["ks_pvalue"]
    assert "ks_pvalue" not in by_column["c"]  # numeric columns only
    (home / "datasets" / f"{second['sha256']}.csv").unlink()  # without b's file: no sound KS test
    gone = app_client.get("/api/v1/datasets/ks/diff", params={"a": 1, "b": 2}).json()
    assert {c["column"]: c for c in gone["columns"]}["v"]["ks_pvalue"] is None


def test_mlops_data_diff_shows_ks_and_says_too_few_rows(live_env: LiveServer, tmp_path: Path) -> None:
    name = unique("few")
    rng = np.random.default_rng(3)
    for index, mean in enumerate((0, 3)):
        path = tmp_path / f"v{index}.csv"
        pd.DataFrame({"v": rng.normal(mean, 1, 100)}).to_csv(path, index=False)
        assert CliRunner().invoke(cli, ["data", "add", str(path), "--name", name]).exit_code == 0
    human = CliRunner().invoke(cli, ["data", "diff", name, "1", "2", "--all"])
    assert human.exit_code == 0, human.output
    assert "too few rows to judge" in human.stdout and "KS P" in human.stdout and "shifted (PSI" not in human.stdout
    found = json.loads(CliRunner().invoke(cli, ["data", "diff", name, "1", "2", "--json"]).stdout)
    assert found["judged"] is False and found["columns"][0]["ks_pvalue"] < 1e-10
