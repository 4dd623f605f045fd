"""Training: a pipeline job, from its queued row to a saved model (the `train` job kind).

`run_job` reads top-down: open the parent run, load the dataset version and validate it, prepare the
sweep, fit the candidates (one child run each, the best kept), save the best model with skops next to
the parent run, and record the outcome. A step that fails raises `JobFailure` with its kind; the job
worker records it. Everything printed goes to the job's log.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from mlops_tui.contract import JobStatus, RunStatus, atomic
from mlops_tui.contract import tags as tag
from mlops_tui.contract.environment import environment_tags

from .. import artifacts
from ..clock import now_ms
from ..datasets import schema as data_schema
from ..datasets.stats import categorical_stats, column_stats
from ..db import Database
from ..errors import DomainError, Invalid, JobFailure
from ..jobs.joblog import log
from ..monitoring import profile as monitoring_profile
from ..pipelines import checks, model_io, sweep, target
from ..pipelines.config import PipelineConfig, from_dict
from ..pipelines.features import check_columns, check_derived
from ..settings import Settings
from ..store import experiments, jobs, runs
from ..store.rows import JobRow, RunRow
from . import datasets, registry
from .jobs import end_job

PACKAGES = ("scikit-learn", "numpy", "pandas", "scipy", "skops", "joblib", "dask", "distributed", "mlops-tui")
SOURCE = Path(__file__).resolve().parents[2]
"""From a git checkout: the code that trained, whose commit a job's runs record."""


def run_job(settings: Settings, db: Database, job: JobRow) -> None:
    """The `train` job kind: run the job's pipeline to a saved model."""
    Training(settings, db, job).run()


class Training:
    """One training job: its pipeline, its parent run and the report it grows as candidates finish."""

    def __init__(self, settings: Settings, db: Database, job: JobRow) -> None:
        self.settings = settings
        self.db = db
        self.job = job
        self.job_id = job["id"]
        self.environment = environment_tags(PACKAGES, SOURCE)
        """Where the runs trained: scikit-learn's version decides whether a skops model loads later."""
        self.report: dict[str, Any] = {}
        """The job's report: grows with each candidate as it finishes, kept on the job as it grows."""
        self.dataset_ref = ""
        """The dataset version the job trains on, `name@N` (set when the data is loaded)."""

    def run(self) -> None:
        config = from_dict(self.job["config"])
        scheduler = self.scheduler()
        parent = self.start_parent(config)
        frame = self.load_data(config, parent)
        self.validate(config, frame)
        data, found, chooser = self.prepare(config, frame)
        best, best_run = self.fit_candidates(config, parent, data, found, chooser, scheduler)
        self.save_best(config, parent, data, best, best_run, chooser)
        self.publish(best_run_id=best_run, best=summary(best, best_run),
                     best_score=chooser.score(best), holdout_score=best.holdout.get(chooser.metric))
        if config.register_ is not None:
            self.register(config.register_.name, parent)
        end_job(self.db, self.job_id, JobStatus.SUCCEEDED, report=self.report)
        holdout = best.holdout.get(chooser.metric, float("nan"))
        log(f"done: best {best.candidate.estimator} {best.candidate.params} chosen by {chooser.key} = "
            f"{chooser.score(best):.4f}; holdout {chooser.metric} = {holdout:.4f}")

    # --- the steps, in order -------------------------------------------------------------------

    def scheduler(self) -> str | None:
        """The Dask scheduler, checked again against this server's allowlist (a job may be retried after
        the configuration changed)."""
        if self.job["executor"] != "dask":
            return None
        try:
            return checks.dask_scheduler(self.job["scheduler"], self.settings.dask_schedulers)
        except Invalid as error:
            raise JobFailure("config", error.message) from None

    def start_parent(self, config: PipelineConfig) -> RunRow:
        """The sweep's parent run, with the pipeline saved next to it (`pipeline.json`, `pipeline.toml`)."""
        experiment = experiments.get_or_create(self.db, config.name)
        tags = {tag.JOB_ID: self.job_id, tag.CONFIG_HASH: self.job["config_hash"],
                tag.PIPELINE: config.name, tag.EXECUTOR: self.job["executor"], tag.RUN_KIND: "sweep",
                **self.environment}
        parent = runs.create(self.db, experiment["id"], f"{config.name}-{self.job_id[:6]}", tags)
        jobs.update(self.db, self.job_id, run_id=parent["id"], experiment_id=int(experiment["id"]))
        root = artifacts.run_root(self.settings.artifacts_root, experiment["id"], parent["id"])
        root.mkdir(parents=True, exist_ok=True)
        atomic.write_text(root / "pipeline.json", json.dumps(self.job["config"], indent=1))
        toml = self.job.get("config_toml")
        if toml:
            atomic.write_text(root / "pipeline.toml", toml)
        return parent

    def load_data(self, config: PipelineConfig, parent: RunRow) -> Any:
        """The dataset version's table; the parent run and the job record which version it was."""
        ref = self.job["dataset"] or config.data.dataset
        if not ref:
            raise JobFailure("data", "the pipeline names no registered dataset (data.path must be added first)")
        try:
            frame, version = datasets.load_frame(self.db, self.settings, ref)
        except Exception as error:  # NotFound, unreadable file, ...
            raise JobFailure("data", f"cannot load dataset {ref!r}: {getattr(error, 'message', error)}") from None
        log(f"data: {version['ref']} ({version['rows']} rows, {len(frame.columns)} columns)")
        runs.log_batch(self.db, parent["id"], tags={tag.DATASET: version["ref"],
                                                     tag.DATASET_SHA256: version["sha256"]})
        jobs.update(self.db, self.job_id, dataset=version["ref"])
        self.dataset_ref = version["ref"]
        return frame

    def validate(self, config: PipelineConfig, frame: Any) -> None:
        problems = target.problems(config, frame)
        problems += data_schema.check(frame, config.validation)
        problems += check_columns(config.features, frame)
        problems += check_derived(config.features, list(frame.columns))
        if problems:
            for problem in problems:
                log(f"validation: {problem}")
            raise JobFailure("validation", f"data validation failed: {len(problems)} problem(s): {problems[0]}",
                             {"validation": problems})
        log("validation: passed")

    def prepare(self, config: PipelineConfig, frame: Any) -> tuple[sweep.Split, list[Any], sweep.Selection]:
        """The train/holdout split, the candidates and the rule that chooses the best; the report starts."""
        try:
            data = sweep.split(config, frame)
            found = sweep.candidates(config)
        except (ValueError, KeyError) as error:
            raise JobFailure("training", f"cannot prepare the sweep: {error}") from None
        for column, why in data.columns.excluded.items():
            log(f"features: {column!r} is not used: {why}")
        chooser = sweep.selection(config, len(data.classes))
        jobs.update(self.db, self.job_id, progress_total=len(found))
        self.publish(primary_metric=chooser.metric, direction=chooser.direction, selected_by=chooser.key,
                     pos_label=data.pos_label, features=data.columns.inputs, excluded=data.columns.excluded,
                     candidates=[])
        log(f"sweep: {len(found)} candidate(s) on {len(data.x_train)} train / {len(data.x_test)} holdout rows; "
            f"primary metric {chooser.metric} ({chooser.direction}), best chosen by {chooser.key}; "
            f"executor {self.job['executor']}")
        return data, found, chooser

    def fit_candidates(self, config: PipelineConfig, parent: RunRow, data: sweep.Split, found: list[Any],
              chooser: sweep.Selection, scheduler: str | None) -> tuple[sweep.CandidateResult, str]:
        """Fit every candidate, logging each as a child run as it finishes: the best one and its run."""
        best: sweep.CandidateResult | None = None
        best_run: str | None = None
        results: list[dict[str, Any]] = []
        try:
            for done, result in enumerate(sweep.run(config, data, found, self.job["executor"], scheduler,
                                                    config.executor.n_jobs), start=1):
                child = self.log_candidate(parent, result)
                results.append(summary(result, child))
                if chooser.better(result, best):
                    best, best_run = result, child
                jobs.update(self.db, self.job_id, progress_done=done)
                self.publish(candidates=results)
                log(f"candidate {done}/{len(found)} {scores_text(chooser, result)}; "
                    f"fit {result.fit_seconds:.2f}s; {result.candidate.estimator} {result.candidate.params}")
                if best is not None and best is not result:
                    result.model = None  # keep only the best model in memory
        except JobFailure:
            raise
        except Exception as error:
            raise JobFailure("training", f"training failed: {type(error).__name__}: {error}",
                             {**self.report, "candidates": results}) from None
        if best is None or best_run is None:
            raise JobFailure("training", f"no candidate produced the score that chooses the best, {chooser.key!r}",
                             {**self.report, "candidates": results})
        return best, best_run

    def log_candidate(self, parent: RunRow, result: sweep.CandidateResult) -> str:
        """A finished child run holding the candidate's params and its holdout and cv scores."""
        candidate = result.candidate
        child = runs.create(self.db, parent["experiment_id"], f"{candidate.estimator}-{candidate.index}",
                            {tag.JOB_ID: self.job_id, tag.RUN_KIND: "candidate",
                             tag.CONFIG_HASH: self.job["config_hash"], **self.environment},
                            start_time=result.started_ms, parent_id=parent["id"])
        metrics = {f"test_{k}": v for k, v in result.holdout.items()}
        for key, (mean, std) in result.cv.items():
            metrics[f"cv_{key}_mean"], metrics[f"cv_{key}_std"] = mean, std
        metrics["fit_time_s"] = result.fit_seconds
        metrics["model_size_bytes"] = float(result.model_bytes)
        params = {"estimator": candidate.estimator, **{k: str(v) for k, v in candidate.params.items()}}
        runs.log_batch(self.db, child["id"], params=params,
                       metrics={k: ([0], [v], [now_ms()]) for k, v in metrics.items() if v == v},
                       tags={tag.DATASET: self.dataset_ref})
        runs.update(self.db, child["id"], status=RunStatus.FINISHED, end_time=result.ended_ms)
        return str(child["id"])

    def save_best(self, config: PipelineConfig, parent: RunRow, data: sweep.Split, best: sweep.CandidateResult,
                  best_run: str, chooser: sweep.Selection) -> None:
        """The best model (skops, with its input signature and training reference statistics) under the
        parent run's artifacts; the parent and the best child are tagged with it."""
        root = artifacts.run_root(self.settings.artifacts_root, parent["experiment_id"], parent["id"])
        target_stats = ({str(data.y_train.name): categorical_stats(data.y_train)} if config.task == "classification"
                        else column_stats(data.y_train.to_frame()))
        reference = {"features": column_stats(data.x_train), "target": target_stats}
        model_io.save(best.model, root / "model", model_io.signature(data.x_train), reference)
        self.save_profile(config, data, best, root / "model")
        tags = {tag.BEST_RUN_ID: best_run, tag.MODEL_PATH: "model/" + model_io.MODEL_FILE,
                tag.SELECTED_BY: chooser.key}
        if data.pos_label is not None:
            tags[tag.POS_LABEL] = str(data.pos_label)
        if config.register_ is not None:
            tags[tag.REGISTER_NAME] = config.register_.name
        runs.log_batch(self.db, parent["id"], tags=tags, params={"primary_metric": chooser.metric},
                       metrics={f"best_{k}": ([0], [v], [now_ms()]) for k, v in best.holdout.items()})
        runs.log_batch(self.db, best_run, tags={tag.BEST: "true"})

    def save_profile(self, config: PipelineConfig, data: sweep.Split, best: sweep.CandidateResult,
                     folder: Path) -> None:
        """The monitoring profile (reference bins, calibrated drift thresholds, holdout calibration) beside
        the model. A model whose profile cannot be computed is still saved: its monitor has no reference."""
        started = time.monotonic()
        try:
            found = monitoring_profile.build(data.x_train, data.x_test, data.y_test, best.model, config.task,
                                             config.data.split.seed)
        except (ValueError, TypeError, KeyError, IndexError) as error:
            log(f"monitoring profile: not computed ({type(error).__name__}: {error})")
            return
        monitoring_profile.save(folder, found, model_io.PROFILE_FILE)
        log(f"monitoring profile: {len(found['features'])} feature(s), {time.monotonic() - started:.2f}s")

    def register(self, name: str, parent: RunRow) -> None:
        """`[register] name`: the saved model becomes the model's next version (actor `job:<id>`); the job's
        report and the parent run show which."""
        try:
            version = registry.register(self.db, self.settings, name, parent["id"], f"job:{self.job_id}",
                                        description=f"registered by job {self.job_id}")
        except DomainError as error:
            raise JobFailure("config", f"cannot register the model as {name!r}: {error.message}") from None
        runs.log_batch(self.db, parent["id"], tags={tag.MODEL_VERSION: f"{name}/{version['version']}"})
        self.publish(registered={"name": name, "version": version["version"]})
        log(f"registered: {name}/{version['version']}")

    def publish(self, **fields: Any) -> None:
        """Add to the job's report and store it, so a running job shows what it has done so far."""
        self.report.update(fields)
        jobs.update(self.db, self.job_id, report_json=json.dumps(self.report))


def summary(result: sweep.CandidateResult, run_id: str) -> dict[str, Any]:
    """A candidate as the job's report lists it."""
    return {"run_id": run_id, "estimator": result.candidate.estimator, "params": result.candidate.params,
            "holdout": result.holdout, "cv": {k: {"mean": m, "std": s} for k, (m, s) in result.cv.items()},
            "fit_seconds": result.fit_seconds, "model_bytes": result.model_bytes,
            "started_at": result.started_ms, "ended_at": result.ended_ms}


def scores_text(chooser: sweep.Selection, result: sweep.CandidateResult) -> str:
    """The primary metric first, so a cut line keeps it: `roc_auc cv 0.8123 ± 0.0101, holdout 0.8200`."""
    parts = []
    if chooser.metric in result.cv:
        mean, std = result.cv[chooser.metric]
        parts.append(f"cv {mean:.4f} ± {std:.4f}")
    holdout = result.holdout.get(chooser.metric)
    parts.append(f"holdout {'-' if holdout is None else f'{holdout:.4f}'}")
    return f"{chooser.metric} {', '.join(parts)}"
