"""Promotion gates on real trained models: pipelines run by the training job's own code on a dataset
version added through the datasets service, models saved with skops, scores recomputed now and
checked against scikit-learn on a holdout rebuilt independently here."""
from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from gates_support import SAMPLE, Home
from sklearn.metrics import log_loss, roc_auc_score, root_mean_squared_error
from sklearn.model_selection import train_test_split

from backend import artifacts
from backend.errors import Conflict
from backend.pipelines import holdout as holdouts
from backend.pipelines import promote, signature
from backend.pipelines.config import parse
from backend.services import gates
from backend.store.rows import VersionRow
from mlops_tui.contract.registry import AliasPolicy, GateName, GateReport, GateResult

HEAD = """name = "{name}"
task = "{task}"
[data]
dataset = "churn"
target = "{target}"
[data.split]
test_size = {test_size}
seed = {seed}
[features]
drop = ["customer_id", "{leak}"]
derived = [{{ name = "log_usage", expr = "log1p(usage_gb)" }}]
[evaluate]
primary = "{primary}"
[register]
name = "{model}"
"""
CHURN_HEAD = HEAD.format(name="churn-gates", task="classification", target="churned", test_size=0.25, seed=7,
                         leak="monthly_spend_next", primary="roc_auc", model="churn-classifier")
LOGISTIC = CHURN_HEAD + '[[models]]\nestimator = "LogisticRegression"\nparams = { C = 1.0, max_iter = 500 }\ncv = 0\n'
SPEND_HEAD = HEAD.format(name="spend-gates", task="regression", target="monthly_spend_next", test_size=0.2, seed=3,
                         leak="churned", primary="rmse", model="spend-regressor")
RIDGE = SPEND_HEAD + '[[models]]\nestimator = "Ridge"\nparams = { alpha = 1.0 }\ncv = 0\n'
STUMP = SPEND_HEAD + ('[[models]]\nestimator = "DecisionTreeRegressor"\nparams = { max_depth = 1, random_state = 0 }\n'
                      'cv = 0\n')
LENIENT = {"max_latency_ms": 1e6, "latency_rows": 5}
"""Latency is not what most tests check: a budget no loaded machine misses, and few rows timed."""


class Trained:
    """The versions every test scores: a logistic regression and the sample's deliberately worse
    churn pipeline (a depth-1 tree on two columns); a ridge and a depth-1 tree for `spend`."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.dataset = home.add_dataset("churn", SAMPLE / "churn.csv")
        self.good = home.train(LOGISTIC, self.dataset)
        self.worse = home.train((SAMPLE / "churn_worse_pipeline.toml").read_text(), self.dataset)
        self.ridge = home.train(RIDGE, self.dataset)
        self.stump = home.train(STUMP, self.dataset)
        assert [self.good["version"], self.worse["version"], self.stump["version"]] == [1, 2, 2]

    def evaluate(self, candidate: VersionRow, champion: VersionRow | None, alias: str = "production",
                 **table: Any) -> GateReport:
        policy = promote.for_alias({**LENIENT, **table}, alias)
        return gates.evaluate(self.home.settings, self.home.db, candidate, champion, alias, policy)

    def copy(self, version: VersionRow, number: int, **changes: Any) -> VersionRow:
        """Another registered version whose model file is a byte copy, in a run folder of its own."""
        settings = self.home.settings
        source = artifacts.run_root(settings.artifacts_root, version["experiment_id"], version["run_id"])
        run_id = uuid.uuid4().hex
        shutil.copytree(source, artifacts.run_root(settings.artifacts_root, version["experiment_id"], run_id))
        return VersionRow(**{**version, "version": number, "run_id": run_id, **changes})  # type: ignore[typeddict-item]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    home = Home.open(tmp_path_factory.mktemp("gates-home"))
    yield Trained(home)
    home.db.close()


def gate(report: GateReport, kind: GateName, name: str | None = None) -> GateResult:
    found = [g for g in report.gates if g.gate == kind and (name is None or g.name == name)]
    assert len(found) == 1, report.gates
    return found[0]


def holdout_by_hand(target: str, test_size: float, seed: int, stratify: bool) -> tuple[pd.DataFrame, pd.Series]:
    """The holdout rows rebuilt here with scikit-learn alone, from the sample file."""
    frame = pd.read_csv(SAMPLE / "churn.csv")
    y = frame[target]
    _, x_test, _, y_test = train_test_split(frame, y, test_size=test_size, random_state=seed,
                                            stratify=y if stratify else None)
    return x_test, y_test


def inputs(version: VersionRow) -> list[str]:
    return [entry["name"] for entry in version["signature"]["inputs"]]


def load(trained: Trained, version: VersionRow) -> Any:
    return gates.load_model(trained.home.settings, version)


# --- champion vs challenger, computed now ------------------------------------------------------


def test_the_worse_model_loses_to_the_better_one_with_both_scores_computed_now(trained: Trained) -> None:
    worse = {**trained.worse, "metrics": {"roc_auc": 0.99}, "primary_value": 0.99}  # what it logged is not read
    report = trained.evaluate(worse, trained.good, min_roc_auc=0.75)  # type: ignore[arg-type]
    x_test, y_test = holdout_by_hand("churned", 0.25, 7, True)
    theirs = roc_auc_score(y_test, load(trained, trained.good).predict_proba(x_test[inputs(trained.good)])[:, 1])
    ours = roc_auc_score(y_test, load(trained, trained.worse).predict_proba(x_test[inputs(trained.worse)])[:, 1])
    assert ours < theirs - 0.05  # the stump is clearly worse
    champion = gate(report, GateName.CHAMPION)
    assert not champion.passed and not report.passed
    assert champion.candidate == pytest.approx(ours, abs=1e-12)
    assert champion.champion == pytest.approx(theirs, abs=1e-12)
    assert champion.threshold == 0.0 and champion.name == "roc_auc vs production holder"
    assert f"improvement {ours - theirs:+.4f}" in champion.detail
    assert f"{theirs - ours:.4f} short" in champion.detail and "churn-classifier/1" in champion.detail
    assert report.data == "churn@1 holdout: 1,000 rows, seed 7" and report.primary_metric == "roc_auc"
    assert report.champion_version == 1 and report.candidate_version == 2
    # the split is the training one: the good model's score now is the holdout score it logged
    assert theirs == pytest.approx(trained.good["metrics"]["roc_auc"], abs=1e-12)
    # the other way round, the better one wins by the same margin
    better = gate(trained.evaluate(trained.good, trained.worse, signature=False), GateName.CHAMPION)
    assert better.passed and better.candidate == pytest.approx(theirs, abs=1e-12)
    assert better.champion == pytest.approx(ours, abs=1e-12)


def test_min_improvement_is_the_margin_the_candidate_must_win_by(trained: Trained) -> None:
    margin = gate(trained.evaluate(trained.good, trained.worse), GateName.CHAMPION)
    assert isinstance(margin.candidate, float) and isinstance(margin.champion, float)
    improvement = margin.candidate - margin.champion
    enough = gate(trained.evaluate(trained.good, trained.worse, min_improvement=improvement - 0.01), GateName.CHAMPION)
    assert enough.passed and enough.threshold == pytest.approx(improvement - 0.01)
    short = gate(trained.evaluate(trained.good, trained.worse, min_improvement=improvement + 0.01), GateName.CHAMPION)
    assert not short.passed and "0.0100 short" in short.detail
    # a tolerated regression: the worse model passes when allowed to lose by more than it does
    tolerated = gate(trained.evaluate(trained.worse, trained.good, min_improvement=-improvement - 0.01),
                     GateName.CHAMPION)
    assert tolerated.passed


def test_for_a_minimized_metric_lower_is_better(trained: Trained) -> None:
    x_test, y_test = holdout_by_hand("monthly_spend_next", 0.2, 3, False)
    ridge = root_mean_squared_error(y_test, load(trained, trained.ridge).predict(x_test[inputs(trained.ridge)]))
    stump = root_mean_squared_error(y_test, load(trained, trained.stump).predict(x_test[inputs(trained.stump)]))
    assert ridge < stump
    wins = trained.evaluate(trained.ridge, trained.stump)
    won = gate(wins, GateName.CHAMPION)
    assert won.passed and won.candidate == pytest.approx(ridge, abs=1e-9) and won.champion == pytest.approx(stump)
    assert "lower is better" in won.detail and f"improvement {stump - ridge:+.4f}" in won.detail
    assert wins.data == "churn@1 holdout: 800 rows, seed 3" and wins.primary_metric == "rmse"
    lost = gate(trained.evaluate(trained.stump, trained.ridge), GateName.CHAMPION)
    assert not lost.passed and f"{stump - ridge:.4f} short" in lost.detail
    # thresholds on a minimized metric: max_rmse is an upper bound
    over = gate(trained.evaluate(trained.ridge, None, max_rmse=ridge - 1), GateName.THRESHOLD, "max_rmse")
    assert not over.passed and over.detail == f"rmse {ridge:.4f} > max {ridge - 1:g}: 1.0000 over"
    under = gate(trained.evaluate(trained.ridge, None, max_rmse=ridge + 1), GateName.THRESHOLD, "max_rmse")
    assert under.passed


def test_no_current_holder_passes_and_the_same_version_is_not_compared(trained: Trained) -> None:
    first = trained.evaluate(trained.worse, None)
    assert first.passed and first.champion_version is None
    assert gate(first, GateName.CHAMPION).detail == "no current holder of production: nothing to beat"
    assert gate(first, GateName.SIGNATURE).detail == "no current holder: nothing to be compatible with"
    again = gate(trained.evaluate(trained.good, trained.good, min_improvement=0.1), GateName.CHAMPION)
    assert again.passed and again.detail == "churn-classifier/1 already holds production"


# --- thresholds -------------------------------------------------------------------------------


def test_thresholds_are_checked_on_scores_computed_now(trained: Trained) -> None:
    x_test, y_test = holdout_by_hand("churned", 0.25, 7, True)
    probabilities = load(trained, trained.good).predict_proba(x_test[inputs(trained.good)])
    auc, loss = roc_auc_score(y_test, probabilities[:, 1]), log_loss(y_test, probabilities)
    logged = {**trained.good, "metrics": {"roc_auc": 0.1, "log_loss": 9.0}}  # not what the gates read
    report = trained.evaluate(logged, None, min_roc_auc=0.75, max_log_loss=loss - 0.02)  # type: ignore[arg-type]
    passed = gate(report, GateName.THRESHOLD, "min_roc_auc")
    assert passed.passed and passed.candidate == pytest.approx(auc, abs=1e-12) and passed.threshold == 0.75
    assert passed.detail == f"roc_auc {auc:.4f} >= min 0.75"
    failed = gate(report, GateName.THRESHOLD, "max_log_loss")
    assert not failed.passed and failed.candidate == pytest.approx(loss, abs=1e-12)
    assert failed.detail.endswith(": 0.0200 over") and not report.passed
    stump = gate(trained.evaluate(trained.worse, trained.good, min_roc_auc=0.75), GateName.THRESHOLD, "min_roc_auc")
    assert not stump.passed and isinstance(stump.candidate, float)
    assert stump.detail == f"roc_auc {stump.candidate:.4f} < min 0.75: {0.75 - stump.candidate:.4f} short"
    assert stump.champion == pytest.approx(auc, abs=1e-12)  # the holder's score, for the report


def test_a_threshold_the_model_cannot_be_scored_on_fails_saying_why(trained: Trained) -> None:
    report = trained.evaluate(trained.good, None, max_rmse=10.0)
    wrong = gate(report, GateName.THRESHOLD, "max_rmse")
    assert not wrong.passed and wrong.detail == "rmse is not a classification metric"
    none_set = trained.evaluate(trained.good, None)
    assert gate(none_set, GateName.THRESHOLD).detail == "no min_<metric> or max_<metric> set"


# --- signature --------------------------------------------------------------------------------


def test_signature_fewer_columns_pass_and_a_column_callers_do_not_send_fails(trained: Trained) -> None:
    fewer = gate(trained.evaluate(trained.worse, trained.good), GateName.SIGNATURE)
    assert fewer.passed and fewer.candidate == "2 column(s)" and fewer.champion == "9 column(s)"
    assert "7 of its column(s) not needed: tenure_months" in fewer.detail
    more = gate(trained.evaluate(trained.good, trained.worse), GateName.SIGNATURE)
    assert not more.passed
    assert more.detail == ("the candidate needs column(s) churn-classifier/2 does not take, so callers do not send: "
                           "tenure_months, monthly_charges, usage_gb, plan, region, payment_method, contract")
    off = gate(trained.evaluate(trained.good, trained.worse, signature=False), GateName.SIGNATURE)
    assert off.passed and off.detail == "not checked (signature = false)"


def test_signature_dtypes_must_be_of_the_same_kind(trained: Trained) -> None:
    def holder(**dtypes: str) -> VersionRow:
        entries = [{"name": e["name"], "dtype": dtypes.get(e["name"], e["dtype"])}
                   for e in trained.good["signature"]["inputs"]]
        return {**trained.good, "version": 9, "signature": {"inputs": entries}}  # type: ignore[typeddict-item]

    numbers = gate(trained.evaluate(trained.worse, holder(support_calls="float64", age="Int64")), GateName.SIGNATURE)
    assert numbers.passed  # int and float are both numbers
    text = gate(trained.evaluate(trained.worse, holder(age="object")), GateName.SIGNATURE)
    assert not text.passed and text.detail == "the candidate needs dtype of another kind: age (float64 vs object)"
    unknown = {**trained.good, "version": 9, "signature": {}}
    promised = gate(trained.evaluate(trained.worse, unknown), GateName.SIGNATURE)  # type: ignore[arg-type]
    assert promised.passed and "churn-classifier/9 has no recorded input signature" in promised.detail
    blind = gate(trained.evaluate(unknown, trained.worse), GateName.SIGNATURE)  # type: ignore[arg-type]
    assert not blind.passed and blind.detail.startswith("churn-classifier/9 has no recorded input signature, so it "
                                                        "cannot be shown to take the columns callers of")

def test_dtype_kinds() -> None:
    kinds = {d: signature.dtype_kind(d) for d in ("int64", "uint8", "Float64", "float32", "bool", "boolean",
                                                  "object", "string", "category", "datetime64[ns, UTC]", "period[M]")}
    assert kinds == {"int64": "number", "uint8": "number", "Float64": "number", "float32": "number", "bool": "bool",
                     "boolean": "bool", "object": "text", "string": "text", "category": "text",
                     "datetime64[ns, UTC]": "datetime", "period[M]": "period[m]"}
    found = signature.compare({"a": "int64", "b": "object"}, {"a": "float64", "b": "bool", "c": "object"})
    assert found.mismatched == [("b", "object", "bool")] and found.missing == [] and found.unused == ["c"]


# --- latency, size, integrity ------------------------------------------------------------------


def test_latency_is_the_p95_of_single_row_predictions(trained: Trained) -> None:
    fast = gate(trained.evaluate(trained.good, None, latency_rows=7), GateName.LATENCY)
    assert fast.passed and isinstance(fast.candidate, float) and fast.candidate > 0
    assert fast.threshold == 1e6 and "over 7 single-row predictions" in fast.detail
    slow = gate(trained.evaluate(trained.good, None, max_latency_ms=0.0001, latency_rows=5), GateName.LATENCY)
    assert not slow.passed and isinstance(slow.candidate, float)
    over = re.search(r", ([0-9.]+) ms over\)$", slow.detail)  # the candidate is kept to 3 decimals, the text to 2
    assert over is not None and abs(float(over.group(1)) - (slow.candidate - 0.0001)) <= 0.0051


def test_p95_latency_times_each_row_once_after_a_warm_up() -> None:
    class Counting:
        """A model that counts the single rows it is asked to predict (no scikit-learn needed)."""

        def __init__(self) -> None:
            self.rows: list[int] = []

        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            self.rows.append(len(frame))
            return np.zeros(len(frame))

    model = Counting()
    frame = pd.DataFrame({"x": range(3)})
    assert holdouts.p95_latency_ms(model, frame, 10, seed=0) >= 0
    assert model.rows == [1] * (holdouts.WARMUP + 10)  # fewer rows than asked: sampled again


def test_size_gate(trained: Trained) -> None:
    size_mb = trained.good["size_bytes"] / 1e6
    small = gate(trained.evaluate(trained.good, trained.worse, max_size_mb=size_mb / 2), GateName.SIZE)
    assert not small.passed and small.detail.endswith(f", {size_mb / 2:.2f} MB over)")
    assert small.champion == round(trained.worse["size_bytes"] / 1e6, 3)
    assert gate(trained.evaluate(trained.good, None, max_size_mb=size_mb * 2), GateName.SIZE).passed


def test_a_changed_model_file_is_refused_for_loading_and_promotion(trained: Trained) -> None:
    changed = trained.copy(trained.good, 5)
    path = gates.model_file(trained.home.settings, changed)
    assert load(trained, changed) is not None  # an intact copy loads
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(Conflict, match="model file changed on disk since registration"):
        load(trained, changed)
    report = trained.evaluate(changed, trained.worse, min_roc_auc=0.5, signature=False)
    failed = {g.gate for g in report.failed}
    assert failed == {GateName.INTEGRITY, GateName.THRESHOLD, GateName.CHAMPION, GateName.LATENCY}
    assert all("churn-classifier/5: model file changed on disk" in g.detail for g in report.failed)
    # a holder whose file changed cannot serve: nothing to beat, the other gates judge the candidate
    holder = gate(trained.evaluate(trained.worse, changed), GateName.CHAMPION)
    assert holder.passed and holder.detail.startswith("the current holder cannot serve (churn-classifier/5: model "
                                                      "file changed on disk since registration")
    assert holder.detail.endswith("nothing to compare against; the candidate is judged by the other gates")
    path.unlink()
    gone = gate(trained.evaluate(changed, None), GateName.INTEGRITY)
    assert not gone.passed and gone.detail == "churn-classifier/5: model file model/model.skops is missing"



def test_a_holder_that_does_not_load_leaves_nothing_to_beat_but_one_without_columns_fails(trained: Trained) -> None:
    broken = trained.copy(trained.good, 10)
    path = gates.model_file(trained.home.settings, broken)
    path.write_bytes(b"not a skops file")
    broken = {**broken, "sha256": gates.file_sha256(path)}  # registered like that: its hash matches
    replaced = gate(trained.evaluate(trained.worse, broken), GateName.CHAMPION)  # type: ignore[arg-type]
    assert replaced.passed and replaced.detail.startswith("the current holder cannot serve (churn-classifier/10 "
                                                          "does not load: ")
    unknown = {**trained.good, "version": 11, "signature": {}}  # loads, but through which columns?
    blind = gate(trained.evaluate(trained.worse, unknown), GateName.CHAMPION)  # type: ignore[arg-type]
    assert not blind.passed and blind.detail == ("the current holder cannot be scored on the same rows: "
                                                 "churn-classifier/11 has no recorded input signature, so it "
                                                 "cannot be scored")

def test_a_version_without_data_cannot_be_scored(trained: Trained) -> None:
    by_hand = {**trained.good, "version": 6, "dataset": None, "pipeline": None}
    report = trained.evaluate(by_hand, trained.worse, min_roc_auc=0.5)  # type: ignore[arg-type]
    champion = gate(report, GateName.CHAMPION)
    assert not champion.passed and champion.detail == (
        "churn-classifier/6 cannot be scored: it has no dataset version and pipeline (registered from a run that "
        "recorded none), so there is no holdout to compute scores on; only a forced promotion with a reason can "
        "move it")
    assert not gate(report, GateName.THRESHOLD, "min_roc_auc").passed
    assert not gate(report, GateName.LATENCY).passed and report.data is None
    assert gate(report, GateName.INTEGRITY).passed and gate(report, GateName.SIZE).passed
    first = trained.evaluate(by_hand, None)  # type: ignore[arg-type]
    assert gate(first, GateName.CHAMPION).passed and not first.passed  # latency still can't be measured
    lost = {**trained.good, "version": 7, "dataset": "churn@9"}
    missing = gate(trained.evaluate(lost, trained.worse), GateName.CHAMPION)  # type: ignore[arg-type]
    assert not missing.passed and missing.detail.startswith("the holdout of churn-classifier/7 cannot be rebuilt "
                                                            "from churn@9: ")


def test_the_champion_is_scored_through_its_own_columns(trained: Trained) -> None:
    """A holder that takes a column the candidate's data lacks cannot be compared (it is not guessed)."""
    entries = [*trained.good["signature"]["inputs"], {"name": "loyalty_points", "dtype": "float64"}]
    wider = {**trained.good, "version": 8, "signature": {"inputs": entries}}
    report = trained.evaluate(trained.worse, wider, signature=False)  # type: ignore[arg-type]
    champion = gate(report, GateName.CHAMPION)
    assert not champion.passed and champion.detail == (
        "the current holder cannot be scored on the same rows: churn-classifier/8 takes column(s) the holdout "
        "lacks (churn@1 holdout: 1,000 rows, seed 7): loyalty_points")


# --- the holdout and the sample pipelines --------------------------------------------------------


def test_a_time_ordered_holdout_is_the_latest_rows() -> None:
    frame = pd.DataFrame({"t": np.arange(40)[::-1], "x": np.arange(40.0), "y": [0, 1] * 20})
    pipeline = parse('name = "t"\ntask = "classification"\n[data]\ndataset = "d"\ntarget = "y"\n'
                     '[data.split]\ntest_size = 0.25\ntime_column = "t"\n[features]\nnumeric = ["x"]\n'
                     '[[models]]\nestimator = "LogisticRegression"\n')
    found = holdouts.rebuild(pipeline.model_dump(mode="json", by_alias=True), frame, "d@1")
    assert sorted(found.rows["t"]) == list(range(30, 40)) and found.inputs == ["x"]
    assert found.description == "d@1 holdout: 10 rows, the latest 25% by t"


def test_the_sample_pipelines_promote_the_same_model_under_the_same_gates() -> None:
    good, worse = (parse((SAMPLE / name).read_text()) for name in ("churn_pipeline.toml", "churn_worse_pipeline.toml"))
    assert good.register_ is not None and worse.register_ is not None
    assert good.register_.name == worse.register_.name == "churn-classifier"
    assert good.data.split == worse.data.split  # the same holdout rows
    production = promote.for_alias(good.promote, "production")
    assert production.thresholds == {"min_roc_auc": 0.75} and not production.needs_request
    assert promote.for_alias(worse.promote, "production") == production


def test_latency_rows_are_bounded() -> None:
    assert promote.for_alias({"latency_rows": promote.MAX_LATENCY_ROWS}, "x").latency_rows == promote.MAX_LATENCY_ROWS
    with pytest.raises(ValueError, match="promote.latency_rows: at most 1,000"):
        promote.for_alias({"latency_rows": promote.MAX_LATENCY_ROWS + 1}, "x")
    assert AliasPolicy().latency_rows <= promote.MAX_LATENCY_ROWS


def test_a_whole_evaluation_is_quick(trained: Trained) -> None:
    report = trained.evaluate(trained.worse, trained.good, min_roc_auc=0.75)
    assert 0 < report.seconds < 10, report.seconds  # measured ~0.5-1 s; bench/registry.py prints the figure

