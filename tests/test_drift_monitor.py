"""Live drift against a version's profile: the numbers (PSI to a direct computation, KS, chi-square,
Wasserstein and Jensen–Shannon to scipy), verdicts on known shifts and on undrifted data, the
false-alarm rate over many undrifted windows, merged minute summaries equal to their rows, the
`[monitor]` table, and accuracy / ROC AUC estimated before labels."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from drift_support import (
    CATEGORICAL,
    NUMERIC,
    classifier,
    direct_numeric_counts,
    direct_psi,
    population,
)
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline

from backend.errors import Invalid
from backend.monitoring import bins, profile
from backend.monitoring.drift import DRIFT_FLOOR, VALUE_ROWS, WARN_FLOOR, assess, prediction_drift, rules_of, thresholds
from backend.monitoring.estimate import estimate
from backend.pipelines.config import MonitorConfig, parse
from mlops_tui.contract.monitoring import DriftStatus, FeatureDrift

TRAIN_ROWS = 20_000


@pytest.fixture(scope="module")
def trained() -> dict[str, Any]:
    """A classifier trained on 20,000 rows, its holdout of 5,000 and the profile built from both."""
    x, y = population(TRAIN_ROWS + 5_000, seed=1)
    x_train, y_train, x_holdout, y_holdout = x[:TRAIN_ROWS], y[:TRAIN_ROWS], x[TRAIN_ROWS:], y[TRAIN_ROWS:]
    model = classifier(x_train, y_train)
    return {"model": model, "x_train": x_train, "profile": profile.build(x_train, x_holdout, y_holdout, model,
                                                                          "classification", seed=3)}


def by_feature(found: list[FeatureDrift]) -> dict[str, FeatureDrift]:
    return {item.feature: item for item in found}


# --- the numbers -----------------------------------------------------------------------------


def test_psi_equals_a_direct_computation_on_the_frozen_bins(trained: dict[str, Any]) -> None:
    window, _ = population(3_000, seed=11, age_shift=3.0)
    found = by_feature(assess(trained["profile"], window))
    for name in NUMERIC:
        entry = trained["profile"]["features"][name]
        assert entry["counts"] == direct_numeric_counts(entry["edges"], trained["x_train"][name].to_numpy(float))
        window_counts = direct_numeric_counts(entry["edges"], window[name].to_numpy(float))
        assert found[name].psi == pytest.approx(direct_psi(entry["counts"], window_counts), abs=1e-9)
        assert found[name].rows == 3_000
    for name in CATEGORICAL:
        entry = trained["profile"]["features"][name]
        kept = entry["values"]
        window_counts = [int((window[name] == v).sum()) for v in kept] + [int((~window[name].isin(kept)).sum()), 0]
        assert found[name].psi == pytest.approx(direct_psi(entry["counts"], window_counts), abs=1e-9)
    small, _ = population(100, seed=15)  # rare regions are missing from it: the floor of empty bins counts
    for item in assess(trained["profile"], small):
        entry = trained["profile"]["features"][item.feature]
        counts = (direct_numeric_counts(entry["edges"], small[item.feature].to_numpy(float))
                  if item.kind == "numeric" else bins.counts(entry, small[item.feature]).tolist())
        assert item.psi == pytest.approx(direct_psi(entry["counts"], counts), abs=1e-9)
        assert item.feature != "region" or 0 in counts[:-2]
    assert trained["profile"]["features"]["income"]["counts"][-1] > 0, "missing incomes have their own bin"
    assert len(trained["profile"]["features"]["region"]["values"]) == 20
    assert trained["profile"]["features"]["region"]["counts"][-2] > 0, "the rare regions fall in `other`"


def test_p_values_and_distances_equal_scipys(trained: dict[str, Any]) -> None:
    window, _ = population(1_500, seed=12, age_shift=1.0)
    found = by_feature(assess(trained["profile"], window))
    for name in NUMERIC:
        entry = trained["profile"]["features"][name]
        values = window[name].dropna().to_numpy(float)
        assert found[name].test == "ks"
        assert found[name].p_value == pytest.approx(ks_2samp(entry["sample"], values, method="asymp").pvalue,
                                                    rel=1e-12)
        assert found[name].distance == pytest.approx(wasserstein_distance(entry["sample"], values) / entry["std"],
                                                     rel=1e-12)
    for name in CATEGORICAL:
        entry = trained["profile"]["features"][name]
        counts = bins.counts(entry, window[name])
        table = np.vstack([entry["counts"], counts])
        table = table[:, table.sum(axis=0) > 0]
        assert found[name].test == "chi2"
        assert found[name].p_value == pytest.approx(chi2_contingency(table).pvalue, rel=1e-9)
        assert found[name].distance == pytest.approx(jensenshannon(entry["counts"], counts, base=2), rel=1e-12)
    small, _ = population(300, seed=14, age_shift=1.0)  # 300 x 2,000 pairs: scipy's default (exact) p-value
    assert by_feature(assess(trained["profile"], small))["age"].p_value == pytest.approx(
        ks_2samp(trained["profile"]["features"]["age"]["sample"], small["age"].to_numpy(float)).pvalue, rel=1e-12)


def test_ks_reads_a_bounded_sample_of_a_large_window(trained: dict[str, Any]) -> None:
    window, _ = population(30_000, seed=13)
    found = by_feature(assess(trained["profile"], window))
    assert found["age"].rows == 30_000, "PSI counts every row"
    sample = window.iloc[np.sort(np.random.default_rng(0).choice(30_000, VALUE_ROWS, replace=False))]
    assert found["age"].p_value == pytest.approx(
        ks_2samp(trained["profile"]["features"]["age"]["sample"], sample["age"].to_numpy(float),
                 method="asymp").pvalue, rel=1e-12)


# --- verdicts ----------------------------------------------------------------------------------


def test_a_shifted_mean_and_a_changed_category_share_drift(trained: dict[str, Any]) -> None:
    window, _ = population(2_000, seed=21, age_shift=10.0, plan_shares=(0.2, 0.3, 0.5))
    found = assess(trained["profile"], window)
    verdicts = {item.feature: item.status for item in found}
    assert verdicts == {"age": DriftStatus.DRIFT, "plan": DriftStatus.DRIFT, "income": DriftStatus.OK,
                        "calls": DriftStatus.OK, "region": DriftStatus.OK}
    assert [item.feature for item in found[:2]] == sorted(["age", "plan"], key=lambda f: -by_feature(found)[f].psi)
    assert found[0].psi > found[0].drift_at >= DRIFT_FLOOR


def test_a_small_shift_warns_and_a_large_window_does_not_turn_it_into_drift(trained: dict[str, Any]) -> None:
    window, _ = population(200_000, seed=22, age_shift=3.5)
    age = by_feature(assess(trained["profile"], window))["age"]
    assert age.status == DriftStatus.WARN, age
    assert age.p_value is not None and age.p_value < 1e-6, "the p-value alone would call it drift"


def test_a_bootstrap_resample_of_the_training_data_does_not_drift(trained: dict[str, Any]) -> None:
    resample = trained["x_train"].sample(n=3_000, replace=True, random_state=5)
    found = assess(trained["profile"], resample)
    assert {item.status for item in found} == {DriftStatus.OK}, found


def test_the_false_alarm_rate_on_undrifted_traffic_is_at_most_5_percent(trained: dict[str, Any]) -> None:
    """420 windows of fresh undrifted rows (60 per size, 30 to 20,000 rows; `min_rows` lowered so the
    smallest get verdicts, where PSI's noise is largest): a feature drifts in at most 5 % of them. `warn`
    is calibrated at the 5 % level, so warn-or-drift stays near it."""
    rules = MonitorConfig(min_rows=20)
    features = trained["profile"]["features"]
    rates = {}
    for size in (30, 50, 100, 200, 500, 2_000, 20_000):
        alarms = warnings = verdicts = 0
        for seed in range(60):
            window, _ = population(size, seed=1_000 + seed * 7 + size)
            counts = {name: bins.counts(entry, window[name]) for name, entry in features.items()}
            for item in assess(trained["profile"], counts=counts, rules=rules):
                verdicts += 1
                alarms += item.status == DriftStatus.DRIFT
                warnings += item.status in (DriftStatus.WARN, DriftStatus.DRIFT)
        assert verdicts == 60 * 5
        rates[size] = (alarms / verdicts, warnings / verdicts)
    assert all(drift <= 0.05 for drift, _ in rates.values()), rates
    assert all(warn <= 0.075 for _, warn in rates.values()), rates
    assert sum(drift for drift, _ in rates.values()) / len(rates) <= 0.02, rates


def test_thresholds_grow_as_the_window_shrinks(trained: dict[str, Any]) -> None:
    region = trained["profile"]["features"]["region"]
    rules = MonitorConfig(min_rows=1)
    warn_small, drift_small = thresholds(region, 50, rules)
    warn_large, drift_large = thresholds(region, 100_000, rules)
    assert warn_small > WARN_FLOOR and drift_small > DRIFT_FLOOR and drift_small > warn_small
    assert (warn_large, drift_large) == (WARN_FLOOR, DRIFT_FLOOR)


def test_too_few_rows_give_no_verdict(trained: dict[str, Any]) -> None:
    window, _ = population(150, seed=31, age_shift=20.0)
    found = by_feature(assess(trained["profile"], window))
    assert found["age"].status == DriftStatus.TOO_FEW and found["age"].psi is not None and found["age"].psi > 1
    assert by_feature(assess(trained["profile"], window, rules=MonitorConfig(min_rows=100)))["age"].status == \
        DriftStatus.DRIFT
    nothing = assess(trained["profile"])
    assert {(item.status, item.rows, item.psi) for item in nothing} == {(DriftStatus.TOO_FEW, 0, None)}


def test_monitor_table_thresholds_and_features_replace_the_defaults(trained: dict[str, Any]) -> None:
    window, _ = population(2_000, seed=32, age_shift=3.5)
    age = by_feature(assess(trained["profile"], window))["age"]
    strict = MonitorConfig(psi_warn=age.psi / 4, psi_drift=age.psi / 2, features=["age", "plan"])
    found = by_feature(assess(trained["profile"], window, rules=strict))
    assert set(found) == {"age", "plan"}
    assert (found["age"].status, found["age"].warn_at, found["age"].drift_at) == \
        (DriftStatus.DRIFT, age.psi / 4, age.psi / 2)


# --- predictions and estimated performance ----------------------------------------------------


def test_prediction_drift_and_distribution(trained: dict[str, Any]) -> None:
    same, _ = population(3_000, seed=41)
    older, _ = population(3_000, seed=42, age_shift=-15.0)
    model, found = trained["model"], trained["profile"]
    quiet = prediction_drift(found, pd.Series(model.predict(same)))
    moved = prediction_drift(found, pd.Series(model.predict(older)))
    assert quiet is not None and moved is not None
    assert quiet[0].status == DriftStatus.OK and moved[0].status == DriftStatus.DRIFT
    assert moved[1].labels == ["0", "1"] and quiet[1].labels == ["0", "1"]
    assert moved[1].reference == quiet[1].reference
    assert moved[1].current[1] > moved[1].reference[1] + 0.2, "younger customers churn more: more 1s"
    assert sum(moved[1].current) == pytest.approx(1.0)


def test_estimated_accuracy_and_auc_are_close_to_the_actual_on_undrifted_data(trained: dict[str, Any]) -> None:
    x, y = population(8_000, seed=51)
    probabilities = trained["model"].predict_proba(x)
    found = estimate(trained["profile"], probabilities)
    assert found["accuracy"] == pytest.approx(accuracy_score(y, trained["model"].predict(x)), abs=0.02)
    assert found["roc_auc"] == pytest.approx(roc_auc_score(y, probabilities[:, 1]), abs=0.02)
    assert estimate(trained["profile"], []) == {}
    assert estimate({"calibration": None}, probabilities) == {}


def test_the_estimate_corrects_an_overconfident_model_through_the_holdout_calibration() -> None:
    """Naive Bayes on copies of the same columns counts each piece of evidence three times: its top
    probability averages 0.83 where it is right 68 % of the time. The calibrated estimate is not fooled."""
    from sklearn.naive_bayes import GaussianNB

    def copies(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[["age", "calls"]].assign(age2=frame["age"], age3=frame["age"], calls2=frame["calls"],
                                              calls3=frame["calls"])

    x, y = population(25_000, seed=1)
    model = make_pipeline(SimpleImputer(), GaussianNB()).fit(copies(x[:20_000]), y[:20_000])
    found = profile.build(copies(x[:20_000]), copies(x[20_000:]), y[20_000:], model, "classification")
    fresh, truth = population(8_000, seed=54)
    probabilities = model.predict_proba(copies(fresh))
    actual = accuracy_score(truth, model.predict(copies(fresh)))
    assert probabilities.max(axis=1).mean() > actual + 0.1, "the raw confidence overstates accuracy"
    estimated = estimate(found, probabilities)
    assert estimated["accuracy"] == pytest.approx(actual, abs=0.02)
    assert estimated["roc_auc"] == pytest.approx(roc_auc_score(truth, probabilities[:, 1]), abs=0.02)


def test_estimated_accuracy_follows_a_covariate_shift(trained: dict[str, Any]) -> None:
    """Older customers are predicted with more confidence: the estimate follows the actual change."""
    x, y = population(8_000, seed=52, age_shift=15.0)
    found = estimate(trained["profile"], trained["model"].predict_proba(x))
    actual = accuracy_score(y, trained["model"].predict(x))
    baseline = estimate(trained["profile"], trained["model"].predict_proba(population(8_000, seed=53)[0]))
    assert found["accuracy"] == pytest.approx(actual, abs=0.02)
    assert found["accuracy"] > baseline["accuracy"] + 0.03


# --- the [monitor] table ----------------------------------------------------------------------


PIPELINE = """name = "p"
task = "classification"
[data]
dataset = "d"
target = "y"
[[models]]
estimator = "LogisticRegression"
"""


def test_monitor_table_is_validated_at_submit_and_read_back_from_a_version() -> None:
    config = parse(PIPELINE + '[monitor]\nwindow = "15m"\nmin_rows = 50\npsi_warn = 0.05\nfeatures = ["a"]\n')
    assert config.monitor == MonitorConfig(window="15m", min_rows=50, psi_warn=0.05, features=["a"])
    stored = rules_of({"monitor": config.monitor.model_dump()})
    assert stored == config.monitor
    assert rules_of(None) == MonitorConfig() and rules_of({"monitor": {"min_rows": -1}}) == MonitorConfig()
    assert parse(PIPELINE).monitor is None
    for bad, named in (('window = "an hour"', "monitor.window"), ("min_rows = 0", "monitor.min_rows"),
                       ("psi_warn = 0.3\npsi_drift = 0.2", "psi_warn (0.3) is above psi_drift"),
                       ("alpha = 1", "unknown key 'monitor.alpha'")):
        with pytest.raises(Invalid) as caught:
            parse(PIPELINE + "[monitor]\n" + bad + "\n")
        assert named in caught.value.message and caught.value.field == "pipeline"


def test_the_profile_is_plain_json_with_calibrated_noise(trained: dict[str, Any]) -> None:
    import json

    found = trained["profile"]
    assert json.loads(json.dumps(found)) == found
    assert found["classes"] == [0, 1] and found["task"] == "classification"
    noise = found["features"]["age"]["noise"]
    assert noise["sizes"] == list(profile.SIZES)
    assert all(a >= b for a, b in zip(noise["q95"], noise["q95"][1:], strict=False)), "noise shrinks with n"
    assert all(q99 >= q95 for q95, q99 in zip(noise["q95"], noise["q99"], strict=True))
    assert len(found["features"]["age"]["sample"]) == profile.SAMPLE


def test_a_regressor_gets_binned_prediction_drift_and_no_estimate() -> None:
    from sklearn.linear_model import LinearRegression

    x, _ = population(3_000, seed=61)
    numeric = x[["age", "calls"]]
    model = LinearRegression().fit(numeric[:2_000], numeric["age"][:2_000] * 3 + numeric["calls"][:2_000])
    found = profile.build(numeric[:2_000], numeric[2_000:], numeric["age"][2_000:], model, "regression")
    assert found["prediction"]["kind"] == "numeric" and found["calibration"] is None and found["classes"] is None
    older, _ = population(1_000, seed=62, age_shift=8.0)
    verdict, shares = prediction_drift(found, model.predict(older[["age", "calls"]]))  # type: ignore[misc]
    assert verdict.status == DriftStatus.DRIFT and verdict.test == "ks" and verdict.p_value is not None
    assert shares.labels[0].startswith("< ") and shares.labels[-1].startswith(">= ") and len(shares.labels) == 10, \
        "deciles; the empty null bin left out"
    assert sum(shares.current) == pytest.approx(1.0) and shares.current[-1] > shares.reference[-1]
    assert estimate(found, model.predict(older[["age", "calls"]]).reshape(-1, 1)) == {}


def test_expected_auc_with_certain_labels_is_the_roc_auc_ties_included() -> None:
    from backend.monitoring.estimate import expected_auc

    rng = np.random.default_rng(71)
    scores = rng.integers(0, 5, 400) / 4  # many ties
    truth = (rng.random(400) < 0.2 + 0.6 * scores).astype(int)
    assert expected_auc(scores, truth.astype(float)) == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)
    assert expected_auc(scores, np.ones(400)) is None
