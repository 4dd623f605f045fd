"""Pipeline files, the expression language, features, and the sweep (local and on Dask)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, mean_squared_error, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from backend.errors import Invalid
from backend.pipelines import checks, expressions, model_io, sweep
from backend.pipelines.config import parse
from backend.pipelines.features import DerivedColumns

ROOT = Path(__file__).resolve().parent.parent
CHURN = ROOT / "sample_data" / "churn.csv"
NUMERIC = ["tenure_months", "monthly_charges", "support_calls", "usage_gb", "age"]
CATEGORICAL = ["plan", "region", "payment_method", "contract"]

BASE = """
name = "t"
task = "classification"
[data]
dataset = "churn@1"
target = "churned"
[data.split]
test_size = 0.25
seed = 11
[features]
numeric = {numeric}
categorical = {categorical}
[[models]]
estimator = "LogisticRegression"
params = {{ C = [0.5, 2.0], max_iter = 400 }}
cv = 2
[[models]]
estimator = "DecisionTreeClassifier"
params = {{ max_depth = [3], random_state = 0 }}
cv = 2
""".format(numeric=str(NUMERIC).replace("'", '"'), categorical=str(CATEGORICAL).replace("'", '"'))


def plain_pipeline(estimator: object) -> Pipeline:
    """The same transforms as the pipeline's defaults, written with plain scikit-learn."""
    return Pipeline([
        ("features", ColumnTransformer([
            ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
             NUMERIC),
            ("categorical", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                                      ("encode", OneHotEncoder(handle_unknown="ignore"))]), CATEGORICAL),
        ])),
        ("model", estimator),
    ])


@pytest.fixture(scope="module")
def churn() -> pd.DataFrame:
    return pd.read_csv(CHURN)


@pytest.mark.parametrize(("text", "named"), [
    ("bogus = 1\n" + BASE, "unknown key 'bogus'"),
    (BASE + "\nbogus = 1\n", "unknown key 'models[1].bogus'"),
    (BASE.replace("[data.split]", "[data.split]\nshuffle = true"), "unknown key 'data.split.shuffle'"),
    (BASE.replace('target = "churned"\n', ""), "missing key 'data.target'"),
    (BASE.replace("cv = 2", 'cv = "two"', 1), "models[0].cv"),
    (BASE.replace('task = "classification"', 'task = "clustering"'), "task"),
    ("name = [", "not valid TOML"),
], ids=["top", "last-table", "nested", "missing", "type", "enum", "toml"])
def test_bad_pipeline_files_name_the_key(text: str, named: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse(text)
    assert named in caught.value.message
    assert caught.value.field == "pipeline"


def test_semantic_checks_refuse_unlisted_estimators_params_metrics_and_expressions() -> None:
    config = parse(BASE.replace('estimator = "DecisionTreeClassifier"', 'estimator = "os.system"')
                   .replace("max_iter = 400", "max_iter = 400, bogus_param = 1")
                   + '\n[evaluate]\nmetrics = ["accuracy", "rmse"]\n')
    found = " | ".join(checks.problems(config))
    assert "estimator 'os.system' is not allowed" in found
    assert "no param(s) bogus_param" in found
    assert "unknown metric 'rmse'" in found
    assert checks.problems(parse(BASE)) == []


def test_sample_pipelines_are_valid() -> None:
    for name in ("churn_pipeline.toml", "spend_pipeline.toml"):
        config = parse((ROOT / "sample_data" / name).read_text())
        assert checks.problems(config) == []
        assert sweep.candidates(config)


def test_expressions_compute_and_refuse_python() -> None:
    frame = pd.DataFrame({"a": [1.0, 4.0, 9.0], "b c": [2.0, 0.0, 3.0]})
    assert expressions.evaluate(expressions.parse("sqrt(a) + 1"), frame).tolist() == [2.0, 3.0, 4.0]
    assert expressions.evaluate(expressions.parse("clip(a, 2, 5) * (a > 1)"), frame).tolist() == [0.0, 4.0, 5.0]
    assert expressions.evaluate(expressions.parse("-a ^ 2"), frame).tolist() == [-1.0, -16.0, -81.0]
    assert expressions.columns_of(expressions.parse("log1p(`b c`) / a")) == {"a", "b c"}
    for bad, where in (("__import__('os')", "position"), ("a.real", "position 1"), ("open(a)", "unknown function"),
                       ("a +", "end of expression"), ("clip(a, 1)", "3 argument")):
        with pytest.raises(expressions.ExpressionError, match=where):
            expressions.parse(bad)


def test_derived_columns_turn_division_by_zero_into_missing_values() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, 4.0]})
    out = DerivedColumns([("ratio", "a / b")]).fit(frame).transform(frame)
    assert math.isnan(out["ratio"][0]) and out["ratio"][1] == 0.5
    assert list(frame.columns) == ["a", "b"]  # the input is not modified


def test_grid_and_random_candidates(churn: pd.DataFrame) -> None:
    config = parse(BASE.replace('params = {{ C = [0.5, 2.0], max_iter = 400 }}'.replace("{{", "{").replace("}}", "}"),
                                'params = { C = { dist = "loguniform", low = 0.01, high = 10 } }\n'
                                'search = { kind = "random", n_iter = 4 }'))
    found = sweep.candidates(config)
    assert [c.estimator for c in found] == ["LogisticRegression"] * 4 + ["DecisionTreeClassifier"]
    assert len({c.params["C"] for c in found[:4]}) == 4
    assert all(0.01 <= c.params["C"] <= 10 for c in found[:4])
    assert sweep.candidates(config) == found  # the seed makes the draw repeatable


def test_pipeline_holdout_metrics_equal_plain_scikit_learn(churn: pd.DataFrame) -> None:
    config = parse(BASE)
    data = sweep.split(config, churn)
    result = sweep.evaluate(config, sweep.candidates(config)[1], data)  # LogisticRegression C=2.0

    x = churn.drop(columns=["churned"])
    x_train, x_test, y_train, y_test = train_test_split(x, churn["churned"], test_size=0.25, random_state=11,
                                                        stratify=churn["churned"])
    plain = plain_pipeline(LogisticRegression(C=2.0, max_iter=400)).fit(x_train, y_train)
    assert result.holdout["accuracy"] == pytest.approx(accuracy_score(y_test, plain.predict(x_test)), abs=1e-12)
    assert result.holdout["roc_auc"] == pytest.approx(roc_auc_score(y_test, plain.predict_proba(x_test)[:, 1]),
                                                      abs=1e-12)
    assert set(result.cv) == set(result.holdout) and all(std >= 0 for _, std in result.cv.values())


def test_regression_pipeline_matches_plain_scikit_learn(churn: pd.DataFrame) -> None:
    text = (BASE.replace('task = "classification"', 'task = "regression"')
            .replace('target = "churned"', 'target = "monthly_spend_next"')
            .split("[[models]]")[0] + '[[models]]\nestimator = "Ridge"\nparams = { alpha = 3.0 }\ncv = 0\n')
    config = parse(text)
    result = sweep.evaluate(config, sweep.candidates(config)[0], sweep.split(config, churn))
    x = churn.drop(columns=["monthly_spend_next"])
    x_train, x_test, y_train, y_test = train_test_split(x, churn["monthly_spend_next"], test_size=0.25,
                                                        random_state=11)
    plain = plain_pipeline(Ridge(alpha=3.0)).fit(x_train, y_train)
    assert result.holdout["rmse"] == pytest.approx(math.sqrt(mean_squared_error(y_test, plain.predict(x_test))))
    assert result.cv == {}


def test_time_column_split_holds_out_the_latest_rows() -> None:
    frame = pd.DataFrame({"t": list(range(100))[::-1], "x": np.arange(100.0), "y": [0, 1] * 50})
    config = parse('name = "t"\ntask = "classification"\n[data]\ndataset = "d"\ntarget = "y"\n'
                   '[data.split]\ntest_size = 0.2\ntime_column = "t"\n[[models]]\nestimator = "GaussianNB"\n')
    data = sweep.split(config, frame)
    assert data.x_test["t"].min() > data.x_train["t"].max()
    assert len(data.x_test) == 20


def test_saved_model_loads_with_skops_and_predicts_the_same(churn: pd.DataFrame, tmp_path: Path) -> None:
    config = parse(BASE.replace("[features]", '[features]\nderived = [{ name = "r", expr = "monthly_charges / '
                                '(tenure_months + 1)" }]'))
    data = sweep.split(config, churn)
    result = sweep.evaluate(config, sweep.candidates(config)[0], data)
    model_io.save(result.model, tmp_path, model_io.signature(data.x_train), {"features": {}})
    loaded = model_io.load(tmp_path / model_io.MODEL_FILE)
    assert np.array_equal(loaded.predict_proba(data.x_test), result.model.predict_proba(data.x_test))
    signature = (tmp_path / model_io.SIGNATURE_FILE).read_text()
    assert '"tenure_months"' in signature and '"churned"' not in signature


def test_sweep_on_a_dask_local_cluster_matches_the_local_executor(churn: pd.DataFrame) -> None:
    distributed = pytest.importorskip("dask.distributed")
    config = parse(BASE)
    data = sweep.split(config, churn)
    found = sweep.candidates(config)
    local = {r.candidate.index: r.holdout for r in sweep.run(config, data, found)}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        on_dask = {r.candidate.index: r.holdout for r in sweep.run(config, data, found, "dask",
                                                                    cluster.scheduler_address)}
    assert on_dask == local
    assert len(local) == 3
