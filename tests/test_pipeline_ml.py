"""ML correctness of the sweep: the best candidate chosen by cross-validation, bool and datetime
columns, time-ordered folds, target checks, the positive class, and which types a model file may hold."""
from __future__ import annotations

import builtins
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.metrics import f1_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from backend.pipelines import model_io, sweep, target
from backend.pipelines.config import parse

HEAD = 'name = "t"\ntask = "classification"\n[data]\ndataset = "d"\ntarget = "y"\n[data.split]\ntest_size = 0.25\n'
LOGISTIC = '[[models]]\nestimator = "LogisticRegression"\ncv = {cv}\n'


def config(extra: str = "", cv: int = 3, split: str = "") -> object:
    return parse(HEAD + split + extra + LOGISTIC.format(cv=cv))


def result(index: int, cv_mean: float, holdout: float) -> sweep.CandidateResult:
    candidate = sweep.Candidate(index, 0, "LogisticRegression", {"C": index})
    return sweep.CandidateResult(candidate, {"roc_auc": (cv_mean, 0.01)}, {"roc_auc": holdout}, 0.1, 10, None)


def test_the_best_is_the_cv_winner_when_cv_and_holdout_disagree() -> None:
    results = [result(0, 0.70, 0.95), result(1, 0.90, 0.60), result(2, 0.80, 0.80)]
    by_cv = sweep.selection(config(cv=3), 2)
    assert by_cv == sweep.Selection("roc_auc", "maximize", True) and by_cv.key == "cv_roc_auc_mean"
    assert sweep.pick_best(results, by_cv) is results[1]
    holdout = sweep.selection(config(cv=0), 2)
    assert holdout.key == "test_roc_auc" and sweep.pick_best(results, holdout) is results[0]
    lowest = sweep.Selection("roc_auc", "minimize", True)
    assert sweep.pick_best(results, lowest) is results[0]
    mixed = parse(HEAD + LOGISTIC.format(cv=3) + LOGISTIC.format(cv=1))
    assert not sweep.selection(mixed, 2).by_cv  # one model without cv: all compared on the holdout


def test_the_sweep_picks_by_cv_on_real_candidates() -> None:
    rng = np.random.default_rng(1)  # a seed where the holdout and cross-validation disagree
    frame = pd.DataFrame({"x": rng.normal(size=240), "z": rng.normal(size=240)})
    frame["y"] = (frame["x"] + rng.normal(scale=1.5, size=240) > 0).astype(int)
    cfg = parse(HEAD + '[[models]]\nestimator = "DecisionTreeClassifier"\n'
                'params = { max_depth = [1, 2, 3, 5, 8], random_state = 0 }\ncv = 3\n')
    data = sweep.split(cfg, frame)
    results = list(sweep.run(cfg, data, sweep.candidates(cfg)))
    chooser = sweep.selection(cfg, 2)
    best = sweep.pick_best(results, chooser)
    assert best is not None and best.cv["roc_auc"][0] == max(r.cv["roc_auc"][0] for r in results)
    holdout_best = max(results, key=lambda r: r.holdout["roc_auc"])
    assert holdout_best is not best  # on this data the holdout would choose another candidate


def flag_frame(rows: int = 400, missing: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    flag = rng.random(rows) < 0.5
    y = np.where(rng.random(rows) < 0.05, ~flag, flag).astype(int)
    column: pd.Series = pd.Series(flag)
    if missing:
        column = column.astype(object)
        column[::50] = None
    return pd.DataFrame({"flag": column, "noise": rng.normal(size=rows), "y": y})


@pytest.mark.parametrize("features", ["", '[features]\ncategorical = ["flag"]\nnumeric = ["noise"]\n',
                                      '[features]\nnumeric = ["flag", "noise"]\nencode = "ordinal"\n'],
                         ids=["default", "categorical", "numeric"])
@pytest.mark.parametrize("missing", [False, True], ids=["bool", "bool-with-gaps"])
def test_a_bool_flag_that_predicts_the_target_is_used(features: str, missing: bool) -> None:
    cfg = parse(HEAD + features + '[evaluate]\nprimary = "accuracy"\n' + LOGISTIC.format(cv=2))
    data = sweep.split(cfg, flag_frame(missing=missing))
    assert "flag" in data.columns.inputs and data.columns.excluded == {}
    if not features:
        assert data.numeric == ["flag", "noise"]  # bool is 0/1 numeric by default
    outcome = sweep.evaluate(cfg, sweep.candidates(cfg)[0], data)
    assert outcome.holdout["accuracy"] > 0.9 and outcome.cv["accuracy"][0] > 0.9


def dated_frame(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({
        "x": rng.normal(size=rows),
        "few_days": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 10, rows), unit="D"),
        "many_times": pd.to_datetime("2024-01-01") + pd.to_timedelta(np.arange(rows), unit="h"),
        "empty": [np.nan] * rows,
        "empty_text": pd.Series([None] * rows, dtype=object),
    })
    frame["y"] = (frame["x"] > 0).astype(int)
    return frame


def test_datetime_and_empty_columns_are_left_out_and_not_in_the_signature() -> None:
    cfg = config()
    data = sweep.split(cfg, dated_frame())
    assert data.columns.inputs == ["x"]
    assert set(data.columns.excluded) == {"few_days", "many_times", "empty", "empty_text"}
    assert "datetime" in data.columns.excluded["few_days"] and data.columns.excluded["empty"] == "all values missing"
    outcome = sweep.evaluate(cfg, sweep.candidates(cfg)[0], data)
    assert [c["name"] for c in model_io.signature(data.x_train)["inputs"]] == ["x"]
    assert outcome.model.predict(data.x_test[["x"]]).shape == (len(data.x_test),)


def test_a_listed_datetime_is_its_epoch_seconds_or_its_categories() -> None:
    cfg = config('[features]\nnumeric = ["x", "many_times"]\ncategorical = ["few_days"]\n')
    data = sweep.split(cfg, dated_frame())
    assert data.columns.inputs == ["x", "few_days", "many_times"]
    outcome = sweep.evaluate(cfg, sweep.candidates(cfg)[0], data)
    assert outcome.holdout["accuracy"] > 0.8


def test_time_column_folds_never_train_on_later_rows() -> None:
    rows = 120
    frame = pd.DataFrame({"t": np.arange(rows)[::-1], "x": np.arange(rows, dtype=float), "y": [0, 1] * (rows // 2)})
    cfg = config(split='time_column = "t"\n', cv=4)
    data = sweep.split(cfg, frame)
    folds = sweep.splitter(cfg, 4, data.time_ordered).split(data.x_train, data.y_train)
    times = data.x_train["t"].to_numpy()
    for train, test in folds:
        assert times[train].max() < times[test].min()
    shuffled = sweep.splitter(cfg, 4, False).split(data.x_train, data.y_train)
    assert any(times[train].max() > times[test].min() for train, test in shuffled)


def test_target_problems_name_the_column_the_count_and_the_class() -> None:
    frame = pd.DataFrame({"x": range(40), "y": ["a"] * 20 + ["b"] * 17 + ["rare"] * 3})
    frame.loc[[0, 5], "y"] = None
    found = target.problems(config(cv=3), frame)
    assert found[0] == "target column 'y' has 2 missing value(s) (of 40 rows): drop or fill those rows"
    assert found[1].startswith("target column 'y': class 'rare' has 3 row(s); 5 are needed")
    assert len(found) == 2
    one_class = pd.DataFrame({"x": range(10), "y": ["a"] * 10})
    assert target.problems(config(), one_class) == ["target column 'y' has 1 class(es); classification needs "
                                                    "at least two"]
    assert target.problems(config(), pd.DataFrame({"x": [1]})) == ["target column 'y' is missing"]
    unknown = parse(HEAD + '[evaluate]\npos_label = "maybe"\n' + LOGISTIC.format(cv=2))
    two = frame[frame["y"].isin(["a", "b"])]
    assert target.problems(unknown, two) == ["evaluate.pos_label 'maybe' is not a class of the target (classes: a, b)"]
    assert target.problems(config(cv=3), two) == []


def test_pos_label_chooses_the_positive_class_of_f1() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.normal(size=300)})
    frame["y"] = np.where(frame["x"] + rng.normal(size=300) > 0.8, "yes", "no")
    default = sweep.split(config(cv=0), frame)
    assert default.pos_label == "yes"
    cfg = parse(HEAD + '[evaluate]\npos_label = "no"\n' + LOGISTIC.format(cv=0))
    data = sweep.split(cfg, frame)
    assert data.pos_label == "no"
    outcome = sweep.evaluate(cfg, sweep.candidates(cfg)[0], data)
    predicted = outcome.model.predict(data.x_test)
    assert outcome.holdout["f1"] == pytest.approx(f1_score(data.y_test, predicted, pos_label="no"))
    assert outcome.holdout["f1"] != pytest.approx(f1_score(data.y_test, predicted, pos_label="yes"))
    assert sweep.find_label(np.array([False, True]), None) is True
    assert sweep.find_label(np.array([0, 1]), None) == 1


@pytest.mark.parametrize("function", [builtins.eval, os.system], ids=["builtins.eval", "os.system"])
def test_a_model_file_with_an_extra_type_is_refused(tmp_path: Path, function: object) -> None:
    path = tmp_path / "model.skops"
    skops.io.dump(Pipeline([("f", FunctionTransformer(func=function))]), path)
    with pytest.raises(ValueError, match="not trusted: (builtins.eval|posix.system|os.system)"):
        model_io.load(path)


def test_only_scikit_learn_classes_are_trusted_by_name() -> None:
    assert model_io.is_sklearn_class("sklearn.tree._tree.Tree")
    assert model_io.is_sklearn_class("sklearn.linear_model._logistic.LogisticRegression")
    assert not model_io.is_sklearn_class("sklearn.utils.check_array")  # a function
    assert not model_io.is_sklearn_class("sklearn.linear_model.LogisticRegression")  # a re-export
    assert not model_io.is_sklearn_class("sklearnx.evil.Thing")
    assert not model_io.is_sklearn_class("sklearn.no_such_module.Thing")
