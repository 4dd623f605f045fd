"""The one rule that says which value of a metric is best, shared by `mlops runs compare`, the
console's compare view and the runs view's leaderboard."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mlops_tui.cli.main import app as cli
from mlops_tui.compare import best_index, lower_is_better, metric_rows
from mlops_tui.contract import Run

LOWER = ["loss", "val_loss", "log_loss", "valloss", "rmse", "cv_rmse_mean", "mae", "test_error", "error_rate",
         "cv_accuracy_std", "cv_roc_auc_std", "acc_stdev", "train_deviance", "fit_time_s", "predict_seconds",
         "model_size_bytes", "latency_ms", "memory_mb", "perplexity"]
HIGHER = ["accuracy", "acc", "cv_accuracy_mean", "test_roc_auc", "roc_auc", "f1", "r2", "precision", "recall",
          "best_roc_auc", "neg_log_loss", "neg_root_mean_squared_error", "auc", "standard_score", "interrupts"]


@pytest.mark.parametrize("key", LOWER)
def test_lower_is_better_for_losses_errors_spreads_times_and_sizes(key: str) -> None:
    assert lower_is_better(key)


@pytest.mark.parametrize("key", HIGHER)
def test_higher_is_better_for_scores(key: str) -> None:
    assert not lower_is_better(key)


def test_best_index_ignores_missing_and_needs_a_difference() -> None:
    assert best_index([0.2, None, 0.1], lower=True) == 2
    assert best_index([0.2, None, 0.1], lower=False) == 0
    assert best_index([0.3, 0.3], lower=False) is None
    assert best_index([None, 0.5], lower=False) is None
    assert best_index([0.5, 0.9, 0.9], lower=False) == 1  # the first of equals


def _run(name: str, metrics: dict[str, float]) -> Run:
    return Run(id=name * 4, experiment_id="1", name=name, status="FINISHED", start_time=0, metrics=metrics)


def test_metric_rows_star_the_smallest_spread_and_the_largest_mean() -> None:
    runs = [_run("a", {"cv_accuracy_mean": 0.90, "cv_accuracy_std": 0.0167}),
            _run("b", {"cv_accuracy_mean": 0.85, "cv_accuracy_std": 0.0040})]
    rows = {row.key: row for row in metric_rows(runs)}
    assert rows["cv_accuracy_mean"].best == 0 and rows["cv_accuracy_std"].best == 1


def test_the_cli_stars_the_same_run(live_env: object) -> None:
    from mlops_tui import Client

    with Client() as client:
        a = client.create_run("compare-rule", "a")
        b = client.create_run("compare-rule", "b")
        client.log_batch(a.id, metrics=[{"key": "cv_accuracy_std", "value": 0.0167, "step": 0},
                                        {"key": "cv_accuracy_mean", "value": 0.9, "step": 0}])
        client.log_batch(b.id, metrics=[{"key": "cv_accuracy_std", "value": 0.004, "step": 0},
                                        {"key": "cv_accuracy_mean", "value": 0.85, "step": 0}])
    result = CliRunner().invoke(cli, ["runs", "compare", a.id, b.id, "--json"])
    assert result.exit_code == 0, result.output
    best = {m["key"]: m["best"] for m in json.loads(result.stdout)["metrics"]}
    assert best == {"cv_accuracy_mean": 0, "cv_accuracy_std": 1}
