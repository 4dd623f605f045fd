"""`[validation]` rules: inferred from data, written as TOML, read back, and checked before training."""
from __future__ import annotations

import tomllib
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from backend.datasets.schema import check, infer, share_limit, to_toml
from backend.pipelines.config import ValidationConfig, parse

CHURN = ROOT / "sample_data" / "churn.csv"


@pytest.fixture(scope="module")
def churn() -> pd.DataFrame:
    return pd.read_csv(CHURN)


@pytest.fixture(scope="module")
def rules(churn: pd.DataFrame) -> ValidationConfig:
    """Inferred, written as TOML, read back with tomllib and validated: the path a user's file takes."""
    text = to_toml(infer(churn))
    return ValidationConfig.model_validate(tomllib.loads(text)["validation"])


def test_inferred_rules_round_trip_and_pass_on_the_same_data(churn: pd.DataFrame, rules: ValidationConfig) -> None:
    section = infer(churn)
    assert tomllib.loads(to_toml(section)) == {"validation": section}
    assert check(churn, rules) == []
    assert rules.required_columns == list(churn.columns)
    assert rules.min_rows == 2000 and rules.max_duplicate_share == 0.0
    assert rules.columns["plan"].allowed == ["basic", "premium", "standard"]
    assert rules.columns["customer_id"].allowed is None  # 4,000 distinct values: no list
    assert rules.columns["support_calls"].dtype == "int" and rules.columns["support_calls"].min == 0
    age = rules.columns["age"]
    observed = churn["age"].isna().mean()
    assert age.dtype == "float" and (age.min, age.max) == (churn["age"].min(), churn["age"].max())
    assert observed < age.max_null_share <= observed + 0.05  # rounded up a bit
    assert rules.columns["tenure_months"].max_null_share == 0.0


def test_inferred_rules_load_inside_a_pipeline_file(churn: pd.DataFrame) -> None:
    pipeline = ('name = "churn"\ntask = "classification"\n[data]\npath = "churn.csv"\ntarget = "churned"\n'
                '[[models]]\nestimator = "LogisticRegression"\n\n' + to_toml(infer(churn)))
    config = parse(pipeline)
    assert config.validation.columns["region"].allowed == ["east", "north", "south", "west"]
    assert check(churn, config.validation) == []


def _nulls(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[frame.index[::3], "age"] = np.nan
    return frame


def _out_of_range(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[frame.index[:7], "tenure_months"] = -5.0
    return frame


def _too_high(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[frame.index[:2], "support_calls"] = 99
    return frame


def _unknown_category(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[frame.index[:4], "plan"] = "gold"
    return frame


def _missing_column(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["region"])


def _duplicates(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame.iloc[:300]], ignore_index=True)


def _wrong_dtype(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(churned=np.where(frame["churned"] == 1, "yes", "no"))


@pytest.mark.parametrize(("corrupt", "expected"), [
    (_nulls, ["column 'age'", "nulls", "max_null_share"]),
    (_out_of_range, ["column 'tenure_months'", "7 values below min 1", "lowest -5"]),
    (_too_high, ["column 'support_calls'", "2 values above max 9", "highest 99"]),
    (_unknown_category, ["column 'plan'", "4 values not in allowed", "'gold' (4)"]),
    (_missing_column, ["missing required column 'region'"]),
    (_duplicates, ["300 duplicated rows", "max_duplicate_share"]),
    (_wrong_dtype, ["column 'churned'", "dtype is string, expected int"]),
])
def test_each_corruption_gives_its_problem(churn: pd.DataFrame, rules: ValidationConfig,
                                           corrupt: Callable[[pd.DataFrame], pd.DataFrame],
                                           expected: list[str]) -> None:
    problems = check(corrupt(churn), rules)
    assert len(problems) == 1, problems
    for part in expected:
        assert part in problems[0], (part, problems[0])


def test_too_few_rows(churn: pd.DataFrame, rules: ValidationConfig) -> None:
    problems = check(churn.head(100), rules)
    assert "100 rows, fewer than min_rows 2000" in problems


def test_several_problems_are_all_reported(churn: pd.DataFrame, rules: ValidationConfig) -> None:
    broken = _unknown_category(_out_of_range(_missing_column(churn)))
    problems = check(broken, rules)
    assert len(problems) == 3
    assert any("region" in p for p in problems) and any("gold" in p for p in problems)
    assert any("tenure_months" in p for p in problems)


def test_hand_written_rules() -> None:
    frame = pd.DataFrame({
        "age": [20.0, 30.0, None, 40.0],  # integers with a gap: read as floats
        "score": [0.1, 0.5, 0.9, 1.5],
        "flag": [True, False, True, True],
        "when": ["2024-01-01", "2024-02-01", "2024-03-01", None],
        "code": [1, 2, 2, 3],
        "note": ["a", None, None, None],
    })
    rules = ValidationConfig.model_validate({
        "max_null_share": 0.5,  # the default for columns without their own
        "columns": {
            "age": {"dtype": "int", "min": 18, "max": 99},
            "score": {"dtype": "number", "max": 1.0},
            "flag": {"dtype": "bool"},
            "when": {"dtype": "datetime", "max_null_share": 0.3},
            "code": {"dtype": "category", "allowed": [1, 2]},
            "absent": {"dtype": "string"},  # not required: rules on a missing column are skipped
        },
    })
    problems = check(frame, rules)
    assert problems == [
        "column 'score': 1 values above max 1 (highest 1.5)",
        "column 'code': 1 values not in allowed: '3' (1)",
        "column 'note': 75.0% nulls, over max_null_share 0.5",
    ]
    strict = ValidationConfig.model_validate({"columns": {"score": {"dtype": "int"}, "flag": {"dtype": "float"},
                                                          "note": {"dtype": "string", "min": 0}}})
    assert check(frame, strict) == [
        "column 'score': dtype is float, expected int",
        "column 'flag': dtype is bool, expected float",
        "column 'note': min/max need a numeric column, but it is string",
    ]


def test_infer_on_varied_types() -> None:
    frame = pd.DataFrame({
        "when": pd.date_range("2024-01-01", periods=30, freq="D"),
        "flag": [True, False] * 15,
        "kind": pd.Categorical(["x", "y", "z"] * 10),
        "ids": [f"id{i}" for i in range(30)],
        "level": [f"L{i % 20}" for i in range(30)],
        "empty": [None] * 30,
    })
    section = infer(frame)
    columns = section["columns"]
    assert {c: r["dtype"] for c, r in columns.items()} == {"when": "datetime", "flag": "bool", "kind": "category",
                                                          "ids": "string", "level": "string", "empty": "string"}
    assert columns["kind"]["allowed"] == ["x", "y", "z"]
    assert len(columns["level"]["allowed"]) == 20 and "allowed" not in columns["ids"]  # 30 distinct > 20
    assert columns["empty"]["max_null_share"] == 1.0 and "allowed" not in columns["empty"]
    assert section["min_rows"] == 15
    rules = ValidationConfig.model_validate(tomllib.loads(to_toml(section))["validation"])
    assert check(frame, rules) == []


def test_toml_writer_escapes_awkward_names_and_values() -> None:
    section: dict[str, Any] = {
        "required_columns": ['quote " col', "back\\slash", "tab\tand\nnewline", "ünïcödé", "a.b", ""],
        "min_rows": 3,
        "max_null_share": 0.25,
        "columns": {
            'quote " col': {"dtype": "string", "allowed": ["it's", 'say "hi"', "\x01ctl", "tab\t"]},
            "a.b": {"dtype": "float", "min": -1.5e-07, "max": 1e16},
            "": {"dtype": "bool", "allowed": [True, False]},
            "ünïcödé": {"dtype": "int", "min": -3, "max": 12345678901234},
        },
    }
    text = to_toml(section)
    assert tomllib.loads(text) == {"validation": section}
    ValidationConfig.model_validate(tomllib.loads(text)["validation"])
    assert tomllib.loads(to_toml({"columns": {}})) == {"validation": {"columns": {}}}


def test_share_limit_rounds_up_a_bit() -> None:
    assert share_limit(0) == 0.0
    for observed in (0.001, 0.04, 0.0595, 0.3, 0.5, 0.99, 1.0):
        limit = share_limit(observed)
        assert observed < limit <= 1.0 or observed == limit == 1.0
        assert limit == round(limit, 2)
