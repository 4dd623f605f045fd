"""The run search against MLflow's: a conformance table.

Every run-search filter and order_by string in MLflow's own tests (`tests/utils/test_search_utils.py` and
the `search`/`order_by` tests of `tests/store/tracking/test_sqlalchemy_store.py`), on runs built like the
runs those tests build, with the answer MLflow gives: the runs (a set, or an order), or an error. Plus
the strings MLflow refuses that this backend also refuses, and the documented extensions (`Ext`: MLflow
refuses the string, this backend answers it). Each row runs through the native search
(`POST /api/v1/runs/search`) and MLflow's (`POST /api/2.0/mlflow/runs/search`), on one backend seeded once.

Differences from MLflow's fixtures, forced by this backend: NaN and infinite metrics are refused at
logging, so the NaN/inf runs of the ordering tests are left out (the others keep their order); artifact
URIs are `mlflow-artifacts:/<experiment>/<run>`. Runs are named by labels; `T(...)` in an expected order
is a group of runs that tie on every key, which MLflow orders by run id.

`SEARCH_CHECK_MLFLOW=1` also runs the table against MLflow's own SQLite store in-process (needs
`sqlalchemy` and `alembic`; about 20 s), to check the expected answers themselves.
"""
from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend import Settings
from backend.db import MIGRATIONS, Database
from backend.mlflow_api.shapes import run_artifact_uri
from backend.store import runs
from tests.conftest import make_client

MLFLOW = "/api/2.0/mlflow"
NAME_TAG_MIGRATION = next(i for i, script in enumerate(MIGRATIONS) if "mlflow.runName" in script)
"""The migration that gives existing runs their `mlflow.runName` tag."""
CONTEXT_TAG = "mlflow.data.context"

Points = list[tuple[float, int, int]]
"""A metric's points: (value, timestamp, step)."""


@dataclass(frozen=True)
class Run:
    """One run of a scenario, as MLflow's test builds it."""

    label: str
    start: int
    name: str | None = None
    """The run name (the label when not given)."""
    end: int | None = None
    status: str | None = None
    """Set by an update with `end` (the run stays RUNNING when None)."""
    user: str = "user"
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float | Points] = field(default_factory=dict)
    inputs: tuple[tuple[str, str, str | None], ...] = ()
    """Datasets: (name, digest, context)."""


def scenario(*specs: Run) -> list[Run]:
    return list(specs)


# --- the runs MLflow's tests build, one experiment each ----------------------------------------------

SCENARIOS: dict[str, list[Run]] = {
    # test_search_utils.py::test_correct_filtering (`u_filter` is created first: experiment 1)
    "u_filter": scenario(
        Run("hi", 0, end=1, status="FAILED", user="user-id", metrics={"key1": 121}, params={"my_param": "A"},
            inputs=(("name1", "digest1", "train"),)),
        Run("hi2", 0, end=1, status="FINISHED", user="user-id", metrics={"key1": 123}, params={"my_param": "A"},
            tags={"tag1": "C"}, inputs=(("name1", "digest1", None),)),
        Run("hi3", 0, end=1, status="FAILED", user="user-id", metrics={"key1": 125}, params={"my_param": "B"},
            tags={"tag1": "D"}, inputs=(("name2", "digest2", None),)),
    ),
    # test_search_utils.py::test_filter / test_correct_quote_trimming: the strings only parse there; these
    # runs give each one something to find.
    "u_parse": scenario(
        Run("p1", 1000, metrics={"acc": 0.95, "legit name": 0.3, "XYZ": 3, "X-Y-Z": 3,
                                 "accuracy.2.0": 6, "spacey name": 6, "rmse": 0.5, "a": 0.2},
            params={"m": "tf", "cat dog": "pets", "model": "LinearRegression", "model_class": "LR",
                    "p.a.r.a.m": "a", "b": "val"},
            tags={"version": "commit-hash", "source_name": "a notebook", "t.a.g": "a"},
            inputs=(("my_dataset", "d1", "train"),)),
        Run("p2", 2000, end=3000, status="FINISHED",
            metrics={"acc": 150, "legit name": 0.1, "XYZ": 4, "rmse": 2, "a": 0.05},
            params={"m": "pt", "cat dog": "cats", "model": "LR", "model_class": "LR", "p.a.r.a.m": "b",
                    "lr": "0.01"},
            tags={"version": "v2", "t.a.g": "b", "a": "x"}),
        Run("p3", 3000, params={"m": "L'Hosp"}),
    ),
    # test_search_utils.py::test_correct_sorting (run ids 9, 8, 7 there)
    "u_sort": scenario(
        Run("9", 0, end=1, status="FAILED", metrics={"key1": 121}, params={"my_param": "A"}),
        Run("8", 1, end=1, status="FINISHED", metrics={"key1": 123}, params={"my_param": "A"}, tags={"tag1": "C"}),
        Run("7", 1, end=1, status="FAILED", metrics={"key1": 125}, params={"my_param": "B"}, tags={"tag1": "D"}),
    ),
    # test_search_utils.py::test_filter_runs_by_tag_and_param_is_null
    "u_null": scenario(Run("run1", 0, end=1, status="FINISHED", tags={"env": "prod"}),
                   Run("run2", 0, end=1, status="FINISHED", params={"lr": "0.01"})),
    # test_search_utils.py::test_filter_runs_by_start_time / _by_end_time / _by_user_id
    "u_times": scenario(Run("a", 0, end=0, status="FINISHED", user="user-id"),
                    Run("b", 1, end=1, status="FINISHED", user="user-id2"),
                    Run("c", 2, end=2, status="FINISHED", user="user-id")),
    # test_sqlalchemy_store.py::test_order_by_metric_tag_param (less the NaN and infinite runs)
    "s_order_mtp": scenario(*[
        Run(f"{x}/{y}", 123, tags={"metric": y}, params={"metric": y},
            metrics={} if x == "None" else {"x": float(x), "y": float(y)})
        for x, y in [("None", "1"), ("-1000", "5"), ("0", "6"), ("0", "7"), ("1000", "8")]]),
    # test_sqlalchemy_store.py::test_order_by_attributes (the run with no end time stays RUNNING)
    "s_order_attr": scenario(*[
        Run(str(end), 123 + index, end=end, status=None if end is None else "FINISHED")
        for index, end in enumerate([234, None, 456, -123, 789, 123])]),
    # test_sqlalchemy_store.py::test_search_params
    "s_params": scenario(Run("r1", 1, params={"generic_param": "p_val", "generic_2": "some value", "p_a": "abc"}),
                     Run("r2", 2, params={"generic_param": "p_val", "generic_2": "another value", "p_b": "ABC"})),
    # test_sqlalchemy_store.py::test_search_tags
    "s_tags": scenario(Run("r1", 1, tags={"generic_tag": "p_val", "generic_2": "some value", "p_a": "abc"}),
                   Run("r2", 2, tags={"generic_tag": "p_val", "generic_2": "another value", "p_b": "ABC"})),
    # test_sqlalchemy_store.py::test_search_metrics: a metric's latest point (by step, then timestamp) counts
    "s_metrics": scenario(
        Run("r1", 1, metrics={"common": [(1.0, 1, 0)], "measure_a": [(1.0, 1, 0)], "m_a": [(2.0, 2, 0)]}),
        Run("r2", 2, metrics={"common": [(1.0, 1, 0)], "measure_a": [(200.0, 2, 0), (400.0, 3, 0)],
                              "m_b": [(3.0, 2, 0), (4.0, 8, 0), (8.0, 3, 0)]})),
    # test_sqlalchemy_store.py::test_search_attrs: two experiments, r2 FAILED at 300
    "s_attrs_1": scenario(Run("r1", 1)),
    "s_attrs_2": scenario(Run("r2", 2, end=300, status="FAILED")),
    # test_sqlalchemy_store.py::test_search_full
    "s_full": scenario(
        Run("r1", 1, params={"generic_param": "p_val", "p_a": "abc"},
            metrics={"common": [(1.0, 1, 0)], "m_a": [(2.0, 2, 0)]}),
        Run("r2", 2, params={"generic_param": "p_val", "p_b": "ABC"},
            metrics={"common": [(1.0, 1, 0)], "m_b": [(3.0, 2, 0), (4.0, 8, 0), (8.0, 3, 0)]})),
    # test_sqlalchemy_store.py::test_search_runs_run_name (before the rename; the rename is tested below)
    "s_names": scenario(Run("run_name1", 1), Run("run_name2", 2)),
    # test_sqlalchemy_store.py::test_search_runs_run_id and ::test_search_runs_start_time_alias
    "s_ids": scenario(Run("r1", 1, name="name"), Run("r2", 2, name="name")),
    # test_sqlalchemy_store.py::test_search_runs_datasets
    "s_datasets": scenario(
        Run("r1", 1, inputs=(("name1", "digest1", "train"), ("name2", "digest2", "eval"))),
        Run("r2", 3, inputs=(("name1", "digest1", "train"), ("name3", "digest3", "eval"))),
        Run("r3", 2, inputs=(("name2", "digest2", "test"),))),
    # test_sqlalchemy_store.py::test_search_runs_keep_all_runs_when_sorting
    "s_keep": scenario(Run("r1", 0, tags={"t1": "1", "t2": "1"}), Run("r2", 0, tags={"t2": "1"})),
    # test_search_utils.py::test_space_order_by_search_runs
    "u_space": scenario(Run("x", 1, metrics={"Mean Square Error": 1.0}),
                        Run("y", 2, metrics={"Mean Square Error": 2.0}), Run("z", 3)),
}


# --- the table ------------------------------------------------------------------------------------

class Error:
    """The search is refused: native 422 naming `filter` / `order_by[i]`, MLflow INVALID_PARAMETER_VALUE."""

    def __repr__(self) -> str:
        return "ERROR"


ERROR = Error()


@dataclass(frozen=True)
class T:
    """Runs tied on every sort key: MLflow orders them by run id."""

    labels: tuple[str, ...]

    def __init__(self, *labels: str) -> None:
        object.__setattr__(self, "labels", labels)


Expected = set[str] | list[str | T] | Error


@dataclass(frozen=True)
class Ext:
    """A documented extension: MLflow refuses the string; this backend answers `expected`."""

    expected: set[str] | list[str | T]


@dataclass(frozen=True)
class Case:
    scenario: str | tuple[str, ...]
    filter: str | None
    order_by: tuple[str, ...]
    expected: Expected | Ext


def F(scenario: str | tuple[str, ...], text: str | None, expected: Expected | Ext) -> Case:
    return Case(scenario, text, (), expected)


def O(scenario: str | tuple[str, ...], order_by: list[str] | None, expected: Expected | Ext,  # noqa: E743
      text: str | None = None) -> Case:
    return Case(scenario, text, tuple(order_by or ()), expected)


ALL_P = {"p1", "p2", "p3"}
S = "s_attrs_1", "s_attrs_2"

CASES: list[Case] = [
    # test_search_utils.py::test_correct_filtering
    F("u_filter", None, {"hi", "hi2", "hi3"}),
    F("u_filter", "", {"hi", "hi2", "hi3"}),
    F("u_filter", "attributes.status = 'FAILED'", {"hi", "hi3"}),
    F("u_filter", "metrics.key1 = 123", {"hi2"}),
    F("u_filter", "metrics.key1 != 123", {"hi", "hi3"}),
    F("u_filter", "metrics.key1 >= 123", {"hi2", "hi3"}),
    F("u_filter", "params.my_param = 'A'", {"hi", "hi2"}),
    F("u_filter", "tags.tag1 = 'D'", {"hi3"}),
    F("u_filter", "tags.tag1 != 'D'", {"hi2"}),
    F("u_filter", "params.my_param = 'A' AND attributes.status = 'FAILED'", {"hi"}),
    F("u_filter", "datasets.name = 'name1'", {"hi", "hi2"}),
    F("u_filter", "datasets.name IN ('name1', 'name2')", {"hi", "hi2", "hi3"}),
    F("u_filter", "datasets.digest IN ('digest1', 'digest2')", {"hi", "hi2", "hi3"}),
    F("u_filter", "datasets.name = 'name1' AND datasets.digest = 'digest2'", set()),
    F("u_filter", "datasets.context = 'train'", {"hi"}),
    F("u_filter", "datasets.name = 'name1' AND datasets.context = 'train'", {"hi"}),
    # test_search_utils.py::test_filter
    F("u_parse", "metric.acc >= 0.94", {"p1", "p2"}),
    F("u_parse", "metric.acc>=100", {"p2"}),
    F("u_parse", "params.m!='tf'", {"p2", "p3"}),
    F("u_parse", 'params."m"!="tf"', {"p2", "p3"}),
    F("u_parse", 'metric."legit name" >= 0.243', {"p1"}),
    F("u_parse", "metrics.XYZ = 3", {"p1"}),
    F("u_parse", 'params."cat dog" = "pets"', {"p1"}),
    F("u_parse", 'metrics."X-Y-Z" = 3', {"p1"}),
    F("u_parse", 'metrics."X//Y#$$@&Z" = 3', set()),  # this backend refuses such keys at logging
    F("u_parse", "params.model = 'LinearRegression'", {"p1"}),
    F("u_parse", "metrics.rmse < 1 and params.model_class = 'LR'", {"p1"}),
    F("u_parse", "", ALL_P),
    F("u_parse", "`metric`.a >= 0.1", {"p1"}),
    F("u_parse", "`params`.model >= 'LR'", ERROR),  # parses, but a param is never ordered
    F("u_parse", "tags.version = 'commit-hash'", {"p1"}),
    F("u_parse", "`tags`.source_name = 'a notebook'", {"p1"}),
    F("u_parse", 'metrics."accuracy.2.0" > 5', {"p1"}),
    F("u_parse", "metrics.`spacey name` > 5", {"p1"}),
    F("u_parse", 'params."p.a.r.a.m" != "a"', {"p2"}),
    F("u_parse", 'tags."t.a.g" = "a"', {"p1"}),
    F("u_parse", "attribute.artifact_uri = '1/23/4'", set()),
    F("u_parse", "attribute.start_time >= 1234", {"p2", "p3"}),
    F("u_parse", "run.status = 'RUNNING'", {"p1", "p3"}),
    F("u_parse", "dataset.name = 'my_dataset'", {"p1"}),
    F("u_parse", "tags.version IS NULL", {"p3"}),
    F("u_parse", "tags.version IS NOT NULL", {"p1", "p2"}),
    F("u_parse", "params.lr IS NULL", {"p1", "p3"}),
    F("u_parse", "params.lr IS NOT NULL", {"p2"}),
    F("u_parse", "tags.a IS NULL AND params.b = 'val'", {"p1"}),
    # test_search_utils.py::test_correct_quote_trimming
    F("u_parse", "params.model = 'LR'", {"p2"}),
    F("u_parse", 'params.model = "LR"', {"p2"}),
    F("u_parse", 'params.m = "L\'Hosp"', {"p3"}),
    # test_search_utils.py::test_error_filter
    *[F("u_parse", text, ERROR) for text in [
        "metric.acc >= 0.94; metrics.rmse < 1", "m.acc >= 0.94", "acc >= 0.94", "p.model >= 'LR'", "attri.x != 1",
        "a.x != 1", "model >= 'LR'", "metrics.A > 0.1 OR params.B = 'LR'", "metrics.A > 0.1 NAND params.B = 'LR'",
        "metrics.A > 0.1 AND (params.B = 'LR')", "`metrics.A > 0.1", "param`.A > 0.1", "`dummy.A > 0.1",
        "dummy`.A > 0.1", "attribute.start != 1", "attribute.lifecycle_stage = 'ACTIVE'", "attribute.name != 1",
        "attribute.time != 1", "attribute._status != 'RUNNING'", "attribute.status = true",
        "dataset.status = 'true'", "dataset.profile = 'num_rows: 10'", "attribute.status IS NULL"]],
    F("u_parse", "attribute.experiment_id != 1", Ext(ALL_P)),  # u_filter is experiment 1
    F("u_parse", "metrics.acc IS NULL", Ext({"p3"})),
    # test_search_utils.py::test_error_comparison_clauses
    *[F("u_parse", text, ERROR) for text in [
        "metric.model = 'LR'", "metric.model = '5'", "metrics.acc != metrics.acc", "1.0 > metrics.acc",
        "attribute.status = 1"]],
    F("u_parse", "params.acc = 5", Ext(set())),  # a param or tag against a number compares as a number
    F("u_parse", "tags.acc = 5", Ext(set())),
    # test_search_utils.py::test_bad_quotes and ::test_invalid_clauses
    *[F("u_parse", text, ERROR) for text in [
        "params.acc = LR", "tags.acc = LR", "params.acc = `LR`", "params.'acc = LR", "params.acc = 'LR",
        "params.acc = LR'", "params.acc = \"LR'", "tags.acc = \"LR'", "tags.acc = = 'LR'",
        "attribute.status IS 'RUNNING'", "params.acc LR !=", "params.acc LR", "metric.acc !=", "acc != 1.0",
        "foo is null", "1=1", "1==2"]],
    # test_search_utils.py::test_bad_comparators
    *[F("u_parse", f"{entity}.{key} {op} {value}", ERROR) for entity, ops, key, value in [
        ("metrics", ["~", "~="], "abc", "1.0"),
        ("params", [">", "<", ">=", "<=", "~"], "abc", "'my-param-value'"),
        ("tags", [">", "<", ">=", "<=", "~"], "abc", "'my-tag-value'"),
        ("attributes", [">", "<", ">=", "<=", "~"], "status", "'my-tag-value'"),
        ("attributes", ["LIKE", "ILIKE"], "start_time", "1234"),
        ("datasets", [">", "<", ">=", "<=", "~"], "name", "'my-dataset-name'")] for op in ops],
    # the list of strings MLflow refuses that this backend used to answer
    *[F("u_parse", text, ERROR) for text in [
        "attributes.status < 'x'", "params.m > 'a'", "tags.version >= 'a'", "attributes.status = 5",
        "attributes.start_time = '5'", "datasets.name = 5", "attributes.run_id < 'z'", "attributes.run_name LIKE 5",
        "datasets.name IS NULL", "attributes.status IN ('RUNNING', 5)"]],
    # documented extensions
    F("u_parse", "params.lr < 0.05", Ext({"p2"})),
    F("u_parse", "params.model IN ('LR', 'LinearRegression')", Ext({"p1", "p2"})),
    F("u_parse", "params.m NOT IN ('tf')", Ext({"p2", "p3"})),
    F("u_parse", "metrics.acc IN (150, 1)", Ext({"p2"})),
    F("u_parse", "status IN ('FINISHED')", Ext({"p2"})),
    F("u_parse", "metrics.rmse IS NOT NULL", Ext({"p1", "p2"})),
    F("u_parse", "attributes.duration > 500", Ext({"p2"})),
    F("u_parse", "attributes.parent_id IS NULL", Ext(ALL_P)),
    F("u_parse", "attributes.end_time IS NULL", Ext({"p1", "p3"})),
    F("u_parse", "name = 'p1'", Ext({"p1"})),
    F("u_parse", "id = '{run[p2]}'", Ext({"p2"})),
    # test_search_utils.py::test_correct_sorting
    O("u_sort", None, [T("7", "8"), "9"]),
    O("u_sort", [], [T("7", "8"), "9"]),
    O("u_sort", ["tags.noSuchTag"], [T("7", "8"), "9"]),
    O("u_sort", ["attributes.status"], ["7", "9", "8"]),
    O("u_sort", ["attributes.start_time"], ["9", T("7", "8")]),
    O("u_sort", ["metrics.key1 asc"], ["9", "8", "7"]),
    O("u_sort", ['metrics."key1"  desc'], ["7", "8", "9"]),
    O("u_sort", ["params.my_param"], ["8", "9", "7"]),
    O("u_sort", ["params.my_param aSc", "attributes.status  ASC"], ["9", "8", "7"]),
    O("u_sort", ["params.my_param", "attributes.status DESC"], ["8", "9", "7"]),
    O("u_sort", ["params.my_param DESC", "attributes.status   DESC"], ["7", "8", "9"]),
    O("u_sort", ["params.`my_param` DESC", "attributes.status DESC"], ["7", "8", "9"]),
    O("u_sort", ["tags.tag1"], ["8", "7", "9"]),
    O("u_sort", ["tags.tag1    DESC"], ["7", "8", "9"]),
    # test_search_utils.py::test_invalid_order_by_search_runs
    *[O("u_sort", [text], ERROR) for text in [
        "m.acc", "acc", "attri.x", "`metrics.A", "`metrics.A`", "attribute.start", "metrics.A != 1",
        "attribute.run_id ACS", "attribute.run_id decs", "datasets.name"]],
    O("u_sort", ["attribute.experiment_id"], Ext([T("7", "8"), "9"])),
    O("u_sort", ["params.my_param "], Ext(["8", "9", "7"])),  # surrounding blanks are ignored
    # test_search_utils.py::test_space_order_by_search_runs
    O("u_space", ["metrics.`Mean Square Error`"], ["x", "y", "z"]),
    O("u_space", ["metrics.`Mean Square Error` ASC"], ["x", "y", "z"]),
    O("u_space", ["metrics.`Mean Square Error` DESC"], ["y", "x", "z"]),
    # test_search_utils.py::test_filter_runs_by_tag_and_param_is_null
    F("u_null", "tags.env IS NOT NULL", {"run1"}),
    F("u_null", "tags.env IS NULL", {"run2"}),
    F("u_null", "params.lr IS NOT NULL", {"run2"}),
    F("u_null", "params.lr IS NULL", {"run1"}),
    # test_search_utils.py::test_filter_runs_by_start_time, _by_end_time, _by_user_id (times 0, 1, 2)
    F("u_times", "attribute.start_time >= 0", {"a", "b", "c"}),
    F("u_times", "attribute.start_time > 1", {"c"}),
    F("u_times", "attribute.start_time = 2", {"c"}),
    F("u_times", "attribute.start_time = 0", {"a"}),
    F("u_times", "attribute.end_time >= 0", {"a", "b", "c"}),
    F("u_times", "attribute.end_time > 1", {"c"}),
    F("u_times", "attribute.end_time = 2", {"c"}),
    F("u_times", "attribute.end_time = 0", {"a"}),
    F("u_times", "attribute.user_id = 'user-id2'", {"b"}),
    # test_sqlalchemy_store.py::test_order_by_metric_tag_param
    O("s_order_mtp", ["metrics.x asc", "metrics.y asc"], ["-1000/5", "0/6", "0/7", "1000/8", "None/1"]),
    O("s_order_mtp", ["metrics.x asc", "tag.metric asc"], ["-1000/5", "0/6", "0/7", "1000/8", "None/1"]),
    O("s_order_mtp", ["metrics.x asc", "metrics.y desc"], ["-1000/5", "0/7", "0/6", "1000/8", "None/1"]),
    O("s_order_mtp", ["metrics.x asc", "tag.metric desc"], ["-1000/5", "0/7", "0/6", "1000/8", "None/1"]),
    O("s_order_mtp", ["metrics.x desc", "metrics.y asc"], ["1000/8", "0/6", "0/7", "-1000/5", "None/1"]),
    O("s_order_mtp", ["metrics.x desc", "param.metric desc"], ["1000/8", "0/7", "0/6", "-1000/5", "None/1"]),
    # test_sqlalchemy_store.py::test_order_by_attributes
    O("s_order_attr", ["attribute.end_time asc"], ["-123", "123", "234", "456", "789", "None"]),
    O("s_order_attr", ["attribute.end_time desc"], ["789", "456", "234", "123", "-123", "None"]),
    O("s_order_attr", ["attribute.start_time asc", "attribute.end_time desc"],
      ["234", "None", "456", "-123", "789", "123"]),
    # test_sqlalchemy_store.py::test_get_orderby_clauses: a key twice is refused, across aliases too
    *[O("u_sort", keys, ERROR) for keys in [
        ["attribute.start_time", "attribute.start_time"], ["param.p", "param.p"], ["metric.m", "metric.m"],
        ["tag.t", "tag.t"], ["attribute.start_time", "attributes.created DESC"]]],
    O("u_sort", ["param.a", "metric.a", "tag.a"], [T("7", "8"), "9"]),
    # test_sqlalchemy_store.py::test_search_params
    F("s_params", "params.generic_param = 'p_val'", {"r1", "r2"}),
    F("s_params", "params.generic_2 = 'some value'", {"r1"}),
    F("s_params", "params.generic_2 = 'another value'", {"r2"}),
    F("s_params", "params.generic_param = 'wrong_val'", set()),
    F("s_params", "params.generic_param != 'p_val'", set()),
    F("s_params", "params.generic_param != 'wrong_val'", {"r1", "r2"}),
    F("s_params", "params.generic_2 != 'wrong_val'", {"r1", "r2"}),
    F("s_params", "params.p_a = 'abc'", {"r1"}),
    F("s_params", "params.p_a = 'ABC'", set()),
    F("s_params", "params.p_a != 'ABC'", {"r1"}),
    F("s_params", "params.p_b = 'ABC'", {"r2"}),
    F("s_params", "params.generic_2 LIKE '%other%'", {"r2"}),
    F("s_params", "params.generic_2 LIKE 'other%'", set()),
    F("s_params", "params.generic_2 LIKE '%other'", set()),
    F("s_params", "params.generic_2 LIKE 'other'", set()),
    F("s_params", "params.generic_2 LIKE '%Other%'", set()),
    F("s_params", "params.generic_2 ILIKE '%Other%'", {"r2"}),
    # test_sqlalchemy_store.py::test_search_tags
    F("s_tags", "tags.generic_tag = 'p_val'", {"r1", "r2"}),
    F("s_tags", "tags.generic_tag = 'P_VAL'", set()),
    F("s_tags", "tags.generic_tag != 'P_VAL'", {"r1", "r2"}),
    F("s_tags", "tags.generic_2 = 'some value'", {"r1"}),
    F("s_tags", "tags.generic_2 = 'another value'", {"r2"}),
    F("s_tags", "tags.generic_tag = 'wrong_val'", set()),
    F("s_tags", "tags.generic_tag != 'p_val'", set()),
    F("s_tags", "tags.generic_tag != 'wrong_val'", {"r1", "r2"}),
    F("s_tags", "tags.generic_2 != 'wrong_val'", {"r1", "r2"}),
    F("s_tags", "tags.p_a = 'abc'", {"r1"}),
    F("s_tags", "tags.p_b = 'ABC'", {"r2"}),
    F("s_tags", "tags.generic_2 LIKE '%other%'", {"r2"}),
    F("s_tags", "tags.generic_2 LIKE '%Other%'", set()),
    F("s_tags", "tags.generic_2 LIKE 'other%'", set()),
    F("s_tags", "tags.generic_2 LIKE '%other'", set()),
    F("s_tags", "tags.generic_2 LIKE 'other'", set()),
    F("s_tags", "tags.generic_2 ILIKE '%Other%'", {"r2"}),
    F("s_tags", "tags.generic_2 ILIKE '%Other%' and tags.generic_tag = 'p_val'", {"r2"}),
    F("s_tags", "tags.generic_2 ILIKE '%Other%' and tags.generic_tag ILIKE 'p_val'", {"r2"}),
    # test_sqlalchemy_store.py::test_search_metrics
    *[F("s_metrics", text, expected) for text, expected in [
        ("metrics.common = 1.0", {"r1", "r2"}), ("metrics.common > 0.0", {"r1", "r2"}),
        ("metrics.common >= 0.0", {"r1", "r2"}), ("metrics.common < 4.0", {"r1", "r2"}),
        ("metrics.common <= 4.0", {"r1", "r2"}), ("metrics.common != 1.0", set()),
        ("metrics.common >= 3.0", set()), ("metrics.common <= 0.75", set()),
        ("metrics.measure_a > 0.0", {"r1", "r2"}), ("metrics.measure_a < 50.0", {"r1"}),
        ("metrics.measure_a < 1000.0", {"r1", "r2"}), ("metrics.measure_a != -12.0", {"r1", "r2"}),
        ("metrics.measure_a > 50.0", {"r2"}), ("metrics.measure_a = 1.0", {"r1"}),
        ("metrics.measure_a = 400.0", {"r2"}), ("metrics.m_a > 1.0", {"r1"}), ("metrics.m_b > 1.0", {"r2"}),
        ("metrics.m_b > 5.0", set()), ("metrics.m_b = 4.0", {"r2"})]],
    # test_sqlalchemy_store.py::test_search_attrs
    F(S, "", {"r1", "r2"}),
    F(S, "attribute.status != 'blah'", {"r1", "r2"}),
    F(S, "attribute.status = 'RUNNING'", {"r1"}),
    F(S, "attribute.status = 'FAILED'", {"r2"}),
    F(S, "attribute.status != 'SCHEDULED'", {"r1", "r2"}),
    F(S, "attribute.status = 'SCHEDULED'", set()),
    F(S, "attribute.status = 'KILLED'", set()),
    F(S, "attr.artifact_uri = '{uri[r1]}'", {"r1"}),
    F(S, "attr.artifact_uri = '{URI[r1]}'", set()),
    F(S, "attr.artifact_uri != '{URI[r1]}'", {"r1", "r2"}),
    F(S, "attr.artifact_uri = '{uri[r2]}'", {"r2"}),
    F(S, "attribute.artifact_uri = 'random_artifact_path'", set()),
    F(S, "attribute.artifact_uri != 'random_artifact_path'", {"r1", "r2"}),
    F(S, "attribute.artifact_uri LIKE '%{run[r1]}%'", {"r1"}),
    F(S, "attribute.artifact_uri LIKE '%{head[r1]}%'", {"r1"}),
    F(S, "attribute.artifact_uri LIKE '%{tail[r1]}%'", {"r1"}),
    F(S, "attribute.artifact_uri LIKE '%{RUN[r1]}%'", set()),
    F(S, "attribute.artifact_uri ILIKE '%{RUN[r1]}%'", {"r1"}),
    F(S, "attribute.artifact_uri ILIKE '%{HEAD[r1]}%'", {"r1"}),
    F(S, "attribute.artifact_uri ILIKE '%{TAIL[r1]}%'", {"r1"}),
    F(S, "attribute.experiment_id = '{exp[s_attrs_1]}'", ERROR),  # an extension, but a number
    F(S, "attribute.experiment_id = {exp[s_attrs_1]}", Ext({"r1"})),
    F(S, "attribute.lifecycle_stage = 'ACTIVE'", ERROR),
    # test_sqlalchemy_store.py::test_search_full
    F("s_full", "params.generic_param = 'p_val' and metrics.common = 1.0", {"r1", "r2"}),
    F("s_full", "params.generic_param = 'p_val' and metrics.common = 1.0 and metrics.m_a > 1.0", {"r1"}),
    F("s_full", "params.generic_param = 'p_val' and metrics.common = 1.0 and metrics.m_a > 1.0 "
                "and params.p_a LIKE 'a%'", {"r1"}),
    F("s_full", "params.generic_param = 'p_val' and metrics.common = 1.0 and metrics.m_a > 1.0 "
                "and params.p_a LIKE 'A%'", set()),
    F("s_full", "params.generic_param = 'p_val' and metrics.common = 1.0 and metrics.m_a > 1.0 "
                "and params.p_a ILIKE 'A%'", {"r1"}),
    F("s_full", "params.random_bad_name = 'p_val' and metrics.common = 1.0 and metrics.m_a > 1.0", set()),
    F("s_full", "params.generic_param = 'p_val' and metrics.common = 1.0 and metrics.m_a > 100.0", set()),
    # test_sqlalchemy_store.py::test_search_runs_run_name
    F("s_names", "attributes.run_name = 'run_name1'", {"run_name1"}),
    F("s_names", "attributes.`Run name` = 'run_name1'", {"run_name1"}),
    F("s_names", "attributes.`run name` = 'run_name2'", {"run_name2"}),
    F("s_names", "attributes.`Run Name` = 'run_name2'", {"run_name2"}),
    F("s_names", "tags.`mlflow.runName` = 'run_name2'", {"run_name2"}),
    F("s_names", "`Run name` = 'run_name1'", {"run_name1"}),
    O("s_names", ["attributes.run_name DESC"], ["run_name2", "run_name1"]),
    O("s_names", ["tags.`mlflow.runName`"], ["run_name1", "run_name2"]),
    # test_sqlalchemy_store.py::test_search_runs_run_id
    F("s_ids", "attributes.run_id = '{run[r1]}'", ["r1"]),
    F("s_ids", "attributes.run_id != '{run[r1]}'", ["r2"]),
    F("s_ids", "attributes.run_id IN ('{run[r1]}')", ["r1"]),
    F("s_ids", "attributes.run_id NOT IN ('{run[r1]}')", ["r2"]),
    F("s_ids", "run_name = 'name' AND run_id IN ('{run[r1]}')", ["r1"]),
    F("s_ids", "attributes.run_id IN ('{run[r1]}','{run[r2]}')", ["r2", "r1"]),
    F("s_ids", "attributes.run_id IN ('{run[r1]}', '{run[r2]}')", ["r2", "r1"]),
    F("s_ids", "attributes.run_id IN ('{run[r1]}',  '{run[r2]}')", ["r2", "r1"]),
    F("s_ids", "attributes.run_id NOT IN ('{run[r1]}', '{run[r2]}')", []),
    # test_sqlalchemy_store.py::test_search_runs_start_time_alias
    O("s_ids", ["attributes.start_time DESC"], ["r2", "r1"], "attributes.run_name = 'name'"),
    O("s_ids", ["attributes.created ASC"], ["r1", "r2"], "attributes.run_name = 'name'"),
    O("s_ids", ["attributes.Created DESC"], ["r2", "r1"], "attributes.run_name = 'name'"),
    O("s_ids", ["created"], ["r1", "r2"]),
    F("s_ids", "attributes.start_time > 0", {"r1", "r2"}),
    F("s_ids", "attributes.created > 1", ["r2"]),
    F("s_ids", "attributes.Created > 2", []),
    F("s_ids", "Created <= 1", ["r1"]),
    # test_sqlalchemy_store.py::test_search_runs_datasets
    F("s_datasets", "dataset.name = 'name1'", {"r1", "r2"}),
    F("s_datasets", "dataset.digest = 'digest2'", {"r1", "r3"}),
    F("s_datasets", "dataset.name = 'name4'", set()),
    F("s_datasets", "dataset.context = 'train'", {"r1", "r2"}),
    F("s_datasets", "dataset.context = 'test'", {"r3"}),
    F("s_datasets", "dataset.context = 'test' and dataset.name = 'name2'", {"r3"}),
    F("s_datasets", "dataset.name = 'name2' and dataset.context = 'test'", {"r3"}),
    F("s_datasets", "datasets.name IN ('name1', 'name2')", {"r1", "r2", "r3"}),
    F("s_datasets", "datasets.digest IN ('digest1', 'digest2')", {"r1", "r2", "r3"}),
    F("s_datasets", "datasets.name LIKE 'Name%'", set()),
    F("s_datasets", "datasets.name ILIKE 'Name%'", {"r1", "r2", "r3"}),
    F("s_datasets", "datasets.context ILIKE 'test%'", {"r3"}),
    F("s_datasets", "datasets.context IN ('test', 'train')", {"r1", "r2", "r3"}),
    F("s_datasets", "datasets.name != 'name1'", {"r1", "r2", "r3"}),  # one input of each differs
    F("s_datasets", "datasets.name NOT IN ('name1', 'name2')", {"r2"}),
    # test_sqlalchemy_store.py::test_search_runs_keep_all_runs_when_sorting
    O("s_keep", ["tag.t1"], ["r1", "r2"]),
]


# --- the backend, seeded once ----------------------------------------------------------------------

@dataclass
class Seeded:
    """What the seeding made: experiment ids by scenario, run ids by (scenario, label), artifact URIs."""

    experiments: dict[str, str] = field(default_factory=dict)
    ids: dict[tuple[str, str], str] = field(default_factory=dict)
    uris: dict[tuple[str, str], str] = field(default_factory=dict)

    def scenarios(self, case: Case) -> tuple[str, ...]:
        return case.scenario if isinstance(case.scenario, tuple) else (case.scenario,)

    def labels(self, case: Case) -> dict[str, str]:
        """label -> run id, over the case's scenarios."""
        return {label: run_id for (scenario, label), run_id in self.ids.items() if scenario in self.scenarios(case)}

    def fill(self, case: Case, text: str) -> str:
        """Put run ids, pieces of them and artifact URIs into a string: `{run[r1]}`, `{RUN[r1]}` (upper case),
        `{head[r1]}` / `{tail[r1]}` (16 characters), `{uri[r1]}`, `{URI[r1]}`, `{exp[scenario]}`."""
        labels = self.labels(case)
        uris = {label: self.uris[(scenario, label)] for (scenario, label) in self.ids
                if scenario in self.scenarios(case)}
        return text.format(
            run=labels, RUN={k: v.upper() for k, v in labels.items()},
            head={k: v[:16] for k, v in labels.items()}, tail={k: v[-16:] for k, v in labels.items()},
            HEAD={k: v[:16].upper() for k, v in labels.items()}, TAIL={k: v[-16:].upper() for k, v in labels.items()},
            uri=uris, URI={k: v.upper() for k, v in uris.items()}, exp=self.experiments)


def mlflow_post(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"{MLFLOW}/{path}", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def seed_run(client: TestClient, experiment_id: str, spec: Run) -> str:
    """One run through MLflow's routes, as the MLflow client would log it."""
    run = mlflow_post(client, "runs/create", {"experiment_id": experiment_id, "user_id": spec.user,
                                              "run_name": spec.name or spec.label, "start_time": spec.start})["run"]
    run_id: str = run["info"]["run_id"]
    metrics = [{"key": key, "value": value, "timestamp": timestamp, "step": step}
               for key, points in spec.metrics.items()
               for value, timestamp, step in (points if isinstance(points, list) else [(points, 0, 0)])]
    if spec.params or spec.tags or metrics:
        mlflow_post(client, "runs/log-batch", {
            "run_id": run_id, "metrics": metrics, "params": [{"key": k, "value": v} for k, v in spec.params.items()],
            "tags": [{"key": k, "value": v} for k, v in spec.tags.items()]})
    if spec.inputs:
        mlflow_post(client, "runs/log-inputs", {"run_id": run_id, "datasets": [
            {"tags": [] if context is None else [{"key": CONTEXT_TAG, "value": context}],
             "dataset": {"name": name, "digest": digest, "source_type": "local", "source": "source"}}
            for name, digest, context in spec.inputs]})
    if spec.status is not None:
        mlflow_post(client, "runs/update", {"run_id": run_id, "status": spec.status, "end_time": spec.end})
    return run_id


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Seeded]]:
    with make_client(Settings(home=tmp_path_factory.mktemp("search-conformance"), token=None)) as client:
        seeded = Seeded()
        for scenario, specs in SCENARIOS.items():
            experiment_id = str(mlflow_post(client, "experiments/create", {"name": scenario})["experiment_id"])
            seeded.experiments[scenario] = experiment_id
            for spec in specs:
                run_id = seed_run(client, experiment_id, spec)
                seeded.ids[(scenario, spec.label)] = run_id
                seeded.uris[(scenario, spec.label)] = run_artifact_uri(experiment_id, run_id)
        assert seeded.experiments["u_filter"] == "1"
        yield client, seeded


# --- asking both searches --------------------------------------------------------------------------

Answer = list[str] | str
"""The run ids in order, or the error: native `422 <field>`, MLflow its error code."""


def native_search(client: TestClient, experiment_ids: list[str], text: str | None, order_by: list[str]) -> Answer:
    response = client.post("/api/v1/runs/search", json={"experiment": experiment_ids, "filter": text,
                                                        "order_by": order_by, "limit": 1000})
    if response.status_code == 422:
        return f"422 {response.json()['field']}"
    assert response.status_code == 200, response.text
    return [run["id"] for run in response.json()["runs"]]


def mlflow_search(client: TestClient, experiment_ids: list[str], text: str | None, order_by: list[str]) -> Answer:
    body: dict[str, Any] = {"experiment_ids": experiment_ids, "order_by": order_by, "max_results": 1000}
    if text is not None:
        body["filter"] = text
    response = client.post(f"{MLFLOW}/runs/search", json=body)
    if response.status_code == 400:
        return str(response.json()["error_code"])
    assert response.status_code == 200, response.text
    return [run["info"]["run_id"] for run in response.json().get("runs", [])]


SEARCHES = {"native": native_search, "mlflow": mlflow_search}


def expected_ids(expected: set[str] | list[str | T], labels: dict[str, str]) -> set[str] | list[str]:
    """Labels as run ids; a tie group in the order MLflow breaks ties in, by run id."""
    if isinstance(expected, set):
        return {labels[label] for label in expected}
    ordered: list[str] = []
    for item in expected:
        ordered += sorted(labels[label] for label in item.labels) if isinstance(item, T) else [labels[item]]
    return ordered


def case_id(case: Case) -> str:
    scenario = case.scenario if isinstance(case.scenario, str) else "+".join(case.scenario)
    text = case.filter if case.filter is not None else "None"
    return f"{scenario}: {text}" + (f" | {', '.join(case.order_by)}" if case.order_by else "")


@pytest.mark.parametrize("route", list(SEARCHES))
@pytest.mark.parametrize("case", CASES, ids=[case_id(case) for case in CASES])
def test_search_answers_as_mlflow(backend: tuple[TestClient, Seeded], case: Case, route: str) -> None:
    client, seeded = backend
    experiment_ids = [seeded.experiments[s] for s in seeded.scenarios(case)]
    text = None if case.filter is None else seeded.fill(case, case.filter)
    answer = SEARCHES[route](client, experiment_ids, text, list(case.order_by))
    expected = case.expected.expected if isinstance(case.expected, Ext) else case.expected
    if isinstance(expected, Error):
        field_name = "filter" if not case.order_by else "order_by"
        assert answer in ("INVALID_PARAMETER_VALUE", f"422 {field_name}") or (
            isinstance(answer, str) and answer.startswith(f"422 {field_name}")), answer
        return
    assert_answer(answer, expected, seeded.labels(case))


def assert_answer(answer: Answer, expected: set[str] | list[str | T], labels: dict[str, str]) -> None:
    assert isinstance(answer, list), answer
    wanted = expected_ids(expected, labels)
    assert (set(answer) if isinstance(wanted, set) else answer) == wanted
    assert len(answer) == len(set(answer))



def test_the_table_counts() -> None:
    """325 strings: 210 MLflow-valid (answered as MLflow answers), 97 refused as MLflow refuses them, 18
    documented extensions."""
    valid = [c for c in CASES if not isinstance(c.expected, (Error, Ext))]
    refused = [c for c in CASES if isinstance(c.expected, Error)]
    assert (len(CASES), len(valid), len(refused)) == (325, 210, 97)


# --- ties and paging ------------------------------------------------------------------------------

def test_runs_tied_on_start_time_page_in_run_id_order(backend: tuple[TestClient, Seeded]) -> None:
    """test_search_with_deterministic_max_results and test_search_runs_pagination: ten runs started at
    the same instant come in run-id order, whatever the page size, through both searches."""
    client, _ = backend
    experiment_id = str(mlflow_post(client, "experiments/create", {"name": "ties"})["experiment_id"])
    ids = sorted(seed_run(client, experiment_id, Run(f"t{i}", 10)) for i in range(10))
    for n in [1, 2, 4, 8, 10, 20]:
        native = client.post("/api/v1/runs/search", json={"experiment": [experiment_id], "limit": n}).json()
        assert [run["id"] for run in native["runs"]] == ids[:n]
        found = mlflow_post(client, "runs/search", {"experiment_ids": [experiment_id], "max_results": n})
        assert [run["info"]["run_id"] for run in found["runs"]] == ids[:n]
    pages: dict[str, list[list[str]]] = {"native": [], "mlflow": []}
    token: str | None = None
    while True:
        body = client.post("/api/v1/runs/search", json={"experiment": [experiment_id], "limit": 4,
                                                        "page_token": token}).json()
        pages["native"].append([run["id"] for run in body["runs"]])
        if not (token := body["next_page_token"]):
            break
    while True:
        found = mlflow_post(client, "runs/search", {"experiment_ids": [experiment_id], "max_results": 4,
                                                    **({"page_token": token} if token else {})})
        pages["mlflow"].append([run["info"]["run_id"] for run in found["runs"]])
        if not (token := found.get("next_page_token")):
            break
    assert pages["native"] == pages["mlflow"] == [ids[0:4], ids[4:8], ids[8:]]


# --- the run name and its tag ---------------------------------------------------------------------

def run_name_and_tag(client: TestClient, run_id: str) -> tuple[str, str | None]:
    native = client.get(f"/api/v1/runs/{run_id}").json()
    run = client.get(f"{MLFLOW}/runs/get", params={"run_id": run_id}).json()["run"]
    tags = {tag["key"]: tag["value"] for tag in run["data"].get("tags", [])}
    assert (native["name"], native["tags"].get(RUN_NAME)) == (run["info"]["run_name"], tags.get(RUN_NAME))
    return native["name"], native["tags"].get(RUN_NAME)


RUN_NAME = "mlflow.runName"


def test_the_run_name_tag_follows_the_name_as_mlflow_keeps_it(backend: tuple[TestClient, Seeded]) -> None:
    """test_create_run_sets_name and test_update_run_name: the tag is set on create, follows a rename, and
    setting it (alone or in a batch) renames the run; deleting it keeps the name; both APIs agree."""
    client, _ = backend
    experiment_id = str(mlflow_post(client, "experiments/create", {"name": "names"})["experiment_id"])
    run_id = mlflow_post(client, "runs/create", {"experiment_id": experiment_id, "run_name": "name"})["run"]["info"][
        "run_id"]
    assert run_name_and_tag(client, run_id) == ("name", "name")
    by_tag = mlflow_post(client, "runs/create", {"experiment_id": experiment_id,
                                                 "tags": [{"key": RUN_NAME, "value": "test"}]})["run"]["info"]
    assert run_name_and_tag(client, by_tag["run_id"]) == ("test", "test")
    both = client.post(f"{MLFLOW}/runs/create", json={"experiment_id": experiment_id, "run_name": "test",
                                                      "tags": [{"key": RUN_NAME, "value": "test_2"}]})
    assert (both.status_code, both.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    native_both = client.post("/api/v1/runs", json={"experiment_id": experiment_id, "name": "test",
                                                    "tags": {RUN_NAME: "test_2"}})
    assert native_both.status_code == 422

    mlflow_post(client, "runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": 1000,
                                        "run_name": "new name"})
    assert run_name_and_tag(client, run_id) == ("new name", "new name")
    mlflow_post(client, "runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": 1000, "run_name": ""})
    assert run_name_and_tag(client, run_id) == ("new name", "new name")
    mlflow_post(client, "runs/delete-tag", {"run_id": run_id, "key": RUN_NAME})
    assert run_name_and_tag(client, run_id) == ("new name", None)
    mlflow_post(client, "runs/update", {"run_id": run_id, "run_name": "newer name"})
    assert run_name_and_tag(client, run_id) == ("newer name", "newer name")
    mlflow_post(client, "runs/set-tag", {"run_id": run_id, "key": RUN_NAME, "value": "newest name"})
    assert run_name_and_tag(client, run_id) == ("newest name", "newest name")
    mlflow_post(client, "runs/log-batch", {"run_id": run_id, "tags": [{"key": RUN_NAME, "value": "batch name"}]})
    assert run_name_and_tag(client, run_id) == ("batch name", "batch name")
    assert client.patch(f"/api/v1/runs/{run_id}", json={"name": "native name"}).status_code == 200
    assert run_name_and_tag(client, run_id) == ("native name", "native name")
    for text in ["attributes.run_name = 'native name'", f"tags.`{RUN_NAME}` = 'native name'"]:
        assert native_search(client, [experiment_id], text, []) == [run_id]
        assert mlflow_search(client, [experiment_id], text, []) == [run_id]


def test_times_of_zero_are_kept(backend: tuple[TestClient, Seeded]) -> None:
    """A start or end time of 0 is 0 (the epoch), not "now"."""
    client, _ = backend
    experiment_id = str(mlflow_post(client, "experiments/create", {"name": "zero"})["experiment_id"])
    run_id = seed_run(client, experiment_id, Run("zero", 0, end=0, status="FINISHED"))
    info = client.get(f"{MLFLOW}/runs/get", params={"run_id": run_id}).json()["run"]["info"]
    assert (info["start_time"], info["end_time"]) == (0, 0)
    native = client.post("/api/v1/runs", json={"experiment_id": experiment_id, "start_time": 0}).json()
    assert native["start_time"] == 0
    ended = client.patch(f"/api/v1/runs/{native['id']}", json={"status": "KILLED", "end_time": 0}).json()
    assert ended["end_time"] == 0


def test_migration_gives_existing_runs_their_name_tag(tmp_path: Path) -> None:
    """Runs stored before the tag was kept get it when the backend opens their database."""
    path = tmp_path / "mlops.db"
    conn = sqlite3.connect(path)
    for step, script in enumerate(MIGRATIONS[:NAME_TAG_MIGRATION]):
        conn.executescript(script)
        conn.execute(f"PRAGMA user_version = {step + 1}")
    conn.execute("INSERT INTO experiments (id, name, created_at) VALUES (1, 'old', 0)")
    conn.execute("INSERT INTO runs (id, experiment_id, name, status, start_time) "
                 "VALUES ('r1', 1, 'older', 'RUNNING', 0)")
    conn.execute("INSERT INTO tags VALUES ('r1', 'team', 'a')")
    conn.commit()
    conn.close()
    db = Database(path)
    try:
        assert runs.get(db, "r1")["tags"] == {"team": "a", RUN_NAME: "older"}
    finally:
        db.close()


# --- the table against MLflow's own store -------------------------------------------------------------

@pytest.mark.skipif(not os.environ.get("SEARCH_CHECK_MLFLOW"), reason="SEARCH_CHECK_MLFLOW=1 checks the table "
                    "itself against MLflow's SQLite store (needs sqlalchemy and alembic; about 20 s)")
def test_the_table_is_what_mlflow_answers(tmp_path: Path) -> None:
    """Every row through MLflow's `SqlAlchemyStore` on SQLite: MLflow-valid rows give the expected runs, `ERROR`
    and `Ext` rows an error. This checks the expectations, not this backend."""
    from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunStatus, RunTag, ViewType
    from mlflow.exceptions import MlflowException
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{tmp_path / 'mlflow.db'}", (tmp_path / "artifacts").as_uri())
    seeded = Seeded()
    for scenario, specs in SCENARIOS.items():
        experiment_id = store.create_experiment(scenario)
        seeded.experiments[scenario] = experiment_id
        for spec in specs:
            run = store.create_run(experiment_id, spec.user, spec.start, [], spec.name or spec.label)
            run_id = run.info.run_id
            store.log_batch(run_id, [Metric(key, value, timestamp, step) for key, points in spec.metrics.items()
                                     for value, timestamp, step in
                                     (points if isinstance(points, list) else [(points, 0, 0)])],
                            [Param(k, v) for k, v in spec.params.items()], [RunTag(k, v) for k, v in spec.tags.items()])
            if spec.inputs:
                store.log_inputs(run_id, [
                    DatasetInput(Dataset(name, digest, "local", "source"),
                                 [] if context is None else [InputTag(CONTEXT_TAG, context)])
                    for name, digest, context in spec.inputs])
            if spec.status is not None:
                store.update_run_info(run_id, RunStatus.from_string(spec.status), spec.end, None)
            seeded.ids[(scenario, spec.label)] = run_id
            seeded.uris[(scenario, spec.label)] = run.info.artifact_uri
    assert seeded.experiments["u_filter"] == "1"
    wrong = []
    for case in CASES:
        text = None if case.filter is None else seeded.fill(case, case.filter)
        try:
            found = store.search_runs([seeded.experiments[s] for s in seeded.scenarios(case)], text,
                                      ViewType.ACTIVE_ONLY, 1000, list(case.order_by))
            answer: Answer = [run.info.run_id for run in found]
        except MlflowException:
            answer = "INVALID_PARAMETER_VALUE"
        if isinstance(case.expected, (Error, Ext)):
            if answer != "INVALID_PARAMETER_VALUE":
                wrong.append((case_id(case), "MLflow answers it"))
            continue
        try:
            assert_answer(answer, case.expected, seeded.labels(case))
        except AssertionError as error:
            wrong.append((case_id(case), str(error)[:200]))
    assert wrong == []
