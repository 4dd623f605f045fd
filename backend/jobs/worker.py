"""A training job in its own process: `python -m backend.jobs.worker JOB_ID --home DIR`.

Loads the data, validates it, runs the sweep, logs a parent run and one child run per candidate,
saves the best model with skops, and records the outcome on the job. Output goes to the job's log.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

from mlops_tui.contract import JobStatus, RunStatus
from mlops_tui.contract import tags as tag

from .. import artifacts
from ..clock import now_ms
from ..datasets import schema as data_schema
from ..datasets.stats import categorical_stats, column_stats
from ..db import Database
from ..errors import Invalid
from ..pipelines import checks, model_io, sweep, target
from ..pipelines.config import PipelineConfig, from_dict
from ..pipelines.features import check_columns, check_derived
from ..services import datasets
from ..settings import Settings
from ..store import experiments, jobs, runs


class JobFailure(Exception):
    """A step failed: `kind` is data, validation, training or config; `report` explains."""

    def __init__(self, kind: str, message: str, report: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.report = report or {}


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


PACKAGES = ("scikit-learn", "numpy", "pandas", "scipy", "skops", "joblib", "dask", "distributed", "mlops-tui")
SOURCE = Path(__file__).resolve().parents[2]


def environment_tags() -> dict[str, str]:
    """Where a job's runs trained: Python, platform, package versions (scikit-learn decides whether a skops
    model loads later) and, from a git checkout, the commit of the code that trained."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    tags = {tag.PYTHON: platform.python_version(), tag.PLATFORM: platform.platform(),
            tag.PACKAGES: json.dumps(versions, sort_keys=True)}
    try:
        head = subprocess.run(["git", "-C", str(SOURCE), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return tags
    if head.returncode == 0 and head.stdout.strip():
        tags[tag.GIT_COMMIT] = head.stdout.strip()
    return tags


class Worker:
    def __init__(self, settings: Settings, job_id: str) -> None:
        self.settings = settings
        self.db = Database(settings.db_path)
        self.job = jobs.get(self.db, job_id)
        self.job_id = job_id
        self.run_id: str | None = None
        self.environment = environment_tags()
        self.report: dict[str, Any] = {}
        """The job's report: grows with each candidate as it finishes, kept on the job as it grows."""

    def start_parent(self, config: PipelineConfig) -> dict[str, Any]:
        experiment = experiments.get_or_create(self.db, config.name)
        tags = {tag.JOB_ID: self.job_id, tag.CONFIG_HASH: self.job["config_hash"],
                tag.PIPELINE: config.name, tag.EXECUTOR: self.job["executor"], tag.RUN_KIND: "sweep",
                **self.environment}
        parent = runs.create(self.db, experiment["id"], f"{config.name}-{self.job_id[:6]}", tags)
        self.run_id = parent["id"]
        jobs.update(self.db, self.job_id, run_id=parent["id"], experiment_id=int(experiment["id"]))
        root = artifacts.run_root(self.settings.artifacts_root, experiment["id"], parent["id"])
        root.mkdir(parents=True, exist_ok=True)
        (root / "pipeline.json").write_text(json.dumps(self.job["config"], indent=1))
        if self.job.get("config_toml"):
            (root / "pipeline.toml").write_text(self.job["config_toml"])
        return parent

    def load_data(self, config: PipelineConfig) -> Any:
        ref = self.job["dataset"] or config.data.dataset
        if not ref:
            raise JobFailure("data", "the pipeline names no registered dataset (data.path must be added first)")
        try:
            frame, version = datasets.load_frame(self.db, self.settings, ref)
        except Exception as error:  # NotFound, unreadable file, ...
            raise JobFailure("data", f"cannot load dataset {ref!r}: {getattr(error, 'message', error)}") from None
        log(f"data: {version['ref']} ({version['rows']} rows, {len(frame.columns)} columns)")
        assert self.run_id is not None
        runs.log_batch(self.db, self.run_id, tags={tag.DATASET: version["ref"],
                                                   tag.DATASET_SHA256: version["sha256"]})
        jobs.update(self.db, self.job_id, dataset=version["ref"])
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

    def scheduler(self) -> str | None:
        """The Dask scheduler, checked again against this server's allowlist (a job may be retried after
        the configuration changed)."""
        if self.job["executor"] != "dask":
            return None
        try:
            return checks.dask_scheduler(self.job["scheduler"], self.settings.dask_schedulers)
        except Invalid as error:
            raise JobFailure("config", error.message) from None

    def publish(self, **fields: Any) -> None:
        """Add to the job's report and store it, so a running job shows what it has done so far."""
        self.report.update(fields)
        jobs.update(self.db, self.job_id, report_json=json.dumps(self.report))

    def run(self) -> None:
        config = from_dict(self.job["config"])
        scheduler = self.scheduler()
        parent = self.start_parent(config)
        frame = self.load_data(config)
        self.validate(config, frame)
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
        best: sweep.CandidateResult | None = None
        best_run: str | None = None
        results: list[dict[str, Any]] = []
        try:
            for done, result in enumerate(sweep.run(config, data, found, self.job["executor"], scheduler,
                                                    config.executor.n_jobs), start=1):
                child = self.log_candidate(parent, result)
                results.append(self.summary(result, child))
                if chooser.better(result, best):
                    best, best_run = result, child
                jobs.update(self.db, self.job_id, progress_done=done)
                self.publish(candidates=results)
                log(f"candidate {done}/{len(found)} {self.scores_text(chooser, result)}; fit {result.fit_seconds:.2f}s; "
                    f"{result.candidate.estimator} {result.candidate.params}")
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
        self.finish_best(config, parent, data, best, best_run, chooser)
        self.publish(best_run_id=best_run, best=self.summary(best, best_run),
                     best_score=chooser.score(best), holdout_score=best.holdout.get(chooser.metric))
        jobs.finish(self.db, self.job_id, JobStatus.SUCCEEDED, report=self.report)
        runs.update(self.db, parent["id"], status=RunStatus.FINISHED)
        log(f"done: best {best.candidate.estimator} {best.candidate.params} chosen by {chooser.key} = "
            f"{chooser.score(best):.4f}; holdout {chooser.metric} = {best.holdout.get(chooser.metric, float('nan')):.4f}")

    @staticmethod
    def scores_text(chooser: sweep.Selection, result: sweep.CandidateResult) -> str:
        """The primary metric first, so a cut line keeps it: `roc_auc cv 0.8123 ± 0.0101, holdout 0.8200`."""
        parts = []
        if chooser.metric in result.cv:
            mean, std = result.cv[chooser.metric]
            parts.append(f"cv {mean:.4f} ± {std:.4f}")
        holdout = result.holdout.get(chooser.metric)
        parts.append(f"holdout {'-' if holdout is None else f'{holdout:.4f}'}")
        return f"{chooser.metric} {', '.join(parts)}"

    def summary(self, result: sweep.CandidateResult, run_id: str) -> dict[str, Any]:
        return {"run_id": run_id, "estimator": result.candidate.estimator, "params": result.candidate.params,
                "holdout": result.holdout, "cv": {k: {"mean": m, "std": s} for k, (m, s) in result.cv.items()},
                "fit_seconds": result.fit_seconds, "model_bytes": result.model_bytes,
                "started_at": result.started_ms, "ended_at": result.ended_ms}

    def log_candidate(self, parent: dict[str, Any], result: sweep.CandidateResult) -> str:
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
                       tags={tag.DATASET: self.job.get("dataset") or ""})
        runs.update(self.db, child["id"], status=RunStatus.FINISHED, end_time=result.ended_ms)
        return str(child["id"])

    def finish_best(self, config: PipelineConfig, parent: dict[str, Any], data: sweep.Split,
                    best: sweep.CandidateResult, best_run: str, chooser: sweep.Selection) -> None:
        root = artifacts.run_root(self.settings.artifacts_root, parent["experiment_id"], parent["id"])
        target_stats = ({str(data.y_train.name): categorical_stats(data.y_train)} if config.task == "classification"
                        else column_stats(data.y_train.to_frame()))
        reference = {"features": column_stats(data.x_train), "target": target_stats}
        model_io.save(best.model, root / "model", model_io.signature(data.x_train), reference)
        tags = {tag.BEST_RUN_ID: best_run, tag.MODEL_PATH: "model/" + model_io.MODEL_FILE,
                tag.SELECTED_BY: chooser.key}
        if data.pos_label is not None:
            tags[tag.POS_LABEL] = str(data.pos_label)
        if config.register_ is not None:
            tags[tag.REGISTER_NAME] = config.register_.name
        runs.log_batch(self.db, parent["id"], tags=tags, params={"primary_metric": chooser.metric},
                       metrics={f"best_{k}": ([0], [v], [now_ms()]) for k, v in best.holdout.items()})
        runs.log_batch(self.db, best_run, tags={tag.BEST: "true"})


def wait_for_job(home: Path) -> str | None:
    """A warm worker: import the heavy modules now, then take a job id from stdin and send our output
    to that job's log. None when stdin closes first (the server stopped)."""
    import skops.io  # noqa: F401  (imported ahead of need: this is what makes the worker warm)

    from ..pipelines import estimators, scoring  # noqa: F401

    line = sys.stdin.readline().strip()
    if not line:
        return None
    folder = home / "jobs" / line
    folder.mkdir(parents=True, exist_ok=True)
    log_fd = os.open(folder / "job.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.jobs.worker")
    parser.add_argument("job_id", nargs="?", help="The job to run; omitted with --wait-for-job.")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--wait-for-job", action="store_true", help="Load, then read the job id from stdin.")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.wait_for_job:
        args.job_id = wait_for_job(args.home)
        if args.job_id is None:
            return 0
    if not args.job_id:
        parser.error("a job id is required")
    worker = Worker(Settings(home=args.home), args.job_id)
    log(f"job {args.job_id} started (pid {os.getpid()}{', warm' if args.wait_for_job else ''})")
    try:
        worker.run()
    except JobFailure as failure:
        log(f"FAILED ({failure.kind}): {failure.message}")
        jobs.finish(worker.db, args.job_id, JobStatus.FAILED, failure.message, failure.kind, failure.report)
        if worker.run_id:
            runs.update(worker.db, worker.run_id, status=RunStatus.FAILED)
        return 0
    except SystemExit:
        log("stopped by a signal")
        if worker.run_id:
            runs.update(worker.db, worker.run_id, status=RunStatus.KILLED)
        raise
    except Exception as error:
        traceback.print_exc()
        jobs.finish(worker.db, args.job_id, JobStatus.FAILED, f"internal error: {type(error).__name__}: {error}",
                    "internal")
        if worker.run_id:
            runs.update(worker.db, worker.run_id, status=RunStatus.FAILED)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
