"""The job manager: a thread in the server that starts queued jobs in worker processes, watches
them, samples their CPU and memory, cancels them, and recovers after a restart.

Workers run in their own session, so they outlive the server: after a restart a worker that is
still running is adopted again, and a job whose worker is gone is marked failed as interrupted.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import psutil

from mlops_tui.contract import JobStatus

from ..clock import now_ms
from ..db import Database
from ..services.jobs import end_job
from ..settings import Settings
from ..store import jobs, runs
from .joblog import log_path

SAMPLE_SECONDS = 1.0


@dataclass
class Tracked:
    process: psutil.Process
    popen: subprocess.Popen[bytes] | None = None
    kill_after: float | None = None
    last_sample: float = 0.0
    samples: int = 0
    children: dict[int, psutil.Process] = field(default_factory=dict)

    def exited(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is not None
        try:
            return not self.process.is_running() or self.process.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True


class JobManager:
    def __init__(self, settings: Settings, db: Database, max_running: int = 2, poll_seconds: float = 0.3) -> None:
        self.settings = settings
        self.db = db
        self.max_running = max_running
        self.poll_seconds = poll_seconds
        self.tracked: dict[str, Tracked] = {}
        self.warm: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="job-manager", daemon=True)

    def start(self) -> None:
        self.recover()
        self._ensure_warm()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self.warm is not None and self.warm.poll() is None:
            self.warm.terminate()  # an idle warm worker has no job to finish
            self.warm.wait(timeout=5)

    def _command(self) -> list[str]:
        return [sys.executable, "-u", "-m", "backend.jobs.worker", "--home", str(self.settings.home)]

    def _ensure_warm(self) -> None:
        """Keep one worker loaded and waiting, so a job starts without paying for the imports.

        A new one is loaded only while no job runs, so it never takes CPU from a job."""
        if not self.settings.warm_worker or self._stop.is_set():
            return
        if self.warm is None or self.warm.poll() is not None:
            self.warm = subprocess.Popen(
                [*self._command(), "--wait-for-job"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True,
            )

    def recover(self) -> None:
        """Adopt workers still running from before a restart; fail jobs whose worker is gone."""
        for job in jobs.running(self.db):
            process = self._worker_process(job["pid"])
            if process is not None:
                self.tracked[job["id"]] = Tracked(process)
                continue
            end_job(self.db, job["id"], JobStatus.FAILED,
                    "interrupted: the backend stopped while the job ran", "interrupted")

    def _worker_process(self, pid: int | None) -> psutil.Process | None:
        """The job's worker if it still runs: our worker module, this home, the job's recorded pid."""
        home = self.settings.home
        if not pid:
            return None
        try:
            process = psutil.Process(pid)
            command = process.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None
        return process if "backend.jobs.worker" in command and str(home) in command else None

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.tick()
            except Exception as error:  # keep managing jobs whatever one tick hit
                print(f"job manager: {type(error).__name__}: {error}", file=sys.stderr, flush=True)

    def tick(self) -> None:
        wanted = {job["id"]: job for job in jobs.running(self.db)}
        for job_id, tracked in list(self.tracked.items()):
            job = wanted.get(job_id)
            if tracked.exited():
                self._reap(job_id, tracked, job)
            elif job is not None and job["cancel_requested"]:
                self._cancel(tracked)
            elif job is not None and job["run_id"]:
                self._sample(job["run_id"], tracked)
        for job_id in jobs.queued(self.db):
            if len(self.tracked) >= self.max_running:
                break
            if jobs.claim(self.db, job_id):
                self._spawn(job_id)
        if not self.tracked:
            self._ensure_warm()  # only while idle: loading one competes with a running job for the CPU

    def _spawn(self, job_id: str) -> None:
        path = log_path(self.settings.home, job_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        popen = self._hand_to_warm(job_id)
        if popen is None:
            with open(path, "ab") as log:
                popen = subprocess.Popen(
                    [*self._command(), job_id], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
        jobs.update(self.db, job_id, pid=popen.pid)
        self.tracked[job_id] = Tracked(psutil.Process(popen.pid), popen)

    def _hand_to_warm(self, job_id: str) -> subprocess.Popen[bytes] | None:
        warm, self.warm = self.warm, None
        if warm is None or warm.poll() is not None or warm.stdin is None:
            return None
        try:
            warm.stdin.write(f"{job_id}\n".encode())
            warm.stdin.close()
        except OSError:
            return None
        return warm

    def _cancel(self, tracked: Tracked) -> None:
        now = time.monotonic()
        try:
            if tracked.kill_after is None:
                os.killpg(tracked.process.pid, signal.SIGTERM)
                tracked.kill_after = now + self.settings.cancel_grace_seconds
            elif now > tracked.kill_after:
                os.killpg(tracked.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _reap(self, job_id: str, tracked: Tracked, job: dict[str, object] | None) -> None:
        del self.tracked[job_id]
        try:  # loky/dask helpers the worker left behind
            os.killpg(tracked.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if job is None:
            return  # the worker recorded its own outcome
        code = tracked.popen.returncode if tracked.popen is not None else None
        if job["cancel_requested"]:
            end_job(self.db, job_id, JobStatus.CANCELLED, "cancelled by request", "cancelled")
        else:
            end_job(self.db, job_id, JobStatus.FAILED, f"the worker process exited unexpectedly (code {code})", "crash")

    def _sample(self, run_id: str, tracked: Tracked) -> None:
        """CPU (percent of one core, summed over the worker and its children) and memory (RSS, MB)."""
        now = time.monotonic()
        if now - tracked.last_sample < SAMPLE_SECONDS:
            return
        tracked.last_sample = now
        try:
            processes = [tracked.process, *tracked.process.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        cpu = memory = 0.0
        for process in processes:
            known = tracked.children.setdefault(process.pid, process)
            try:
                cpu += known.cpu_percent(None)
                memory += known.memory_info().rss / 1e6
            except psutil.NoSuchProcess:
                continue
        step, stamp = tracked.samples, now_ms()
        tracked.samples += 1
        runs.log_batch(self.db, run_id, metrics={
            "system/cpu_percent": ([step], [cpu], [stamp]),
            "system/memory_mb": ([step], [memory], [stamp]),
        })
