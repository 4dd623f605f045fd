"""The job manager: a thread in the server that starts queued jobs in worker processes, watches
them, samples their CPU and memory, cancels them, and recovers after a restart.

Workers run in their own session, so they outlive the server: after a restart a worker that is
still running is adopted again, and a job whose worker is gone is marked failed as interrupted. A
worker's session is its process group: cancel, timeout and the end of a job kill the whole group (a
joblib pool included), and any descendant that left the group. Workers get a scrubbed environment
(`environment.worker_environment`).
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
from ..services.jobs import end_job, time_limit
from ..settings import Settings
from ..store import jobs, runs
from .environment import worker_environment
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
    """The worker's descendants seen so far (by sampling, and when it is stopped)."""
    deadline_ms: int | None = None
    """When the job's time is up (wall clock, from its start), if it has a time limit."""
    limit_seconds: float | None = None
    timed_out: bool = False

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
        self.last_job = time.monotonic()
        """When a job last started or ended: the warm worker leaves after `warm_worker_idle_seconds` of none."""
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
        self._retire_warm()  # an idle warm worker has no job to finish

    def _command(self) -> list[str]:
        return [sys.executable, "-u", "-m", "backend.jobs.worker", "--home", str(self.settings.home)]

    def _ensure_warm(self) -> None:
        """Keep one worker loaded and waiting, so a job starts without paying for the imports.

        A new one is loaded only while no job runs, so it never takes CPU from a job; after
        `warm_worker_idle_seconds` without a job it leaves (its memory goes back), until a job has run again."""
        if not self.settings.warm_worker or self._stop.is_set():
            return
        idle = self.settings.warm_worker_idle_seconds
        if idle and time.monotonic() - self.last_job > idle:
            self._retire_warm()
            return
        if self.warm is None or self.warm.poll() is not None:
            self.warm = subprocess.Popen(
                [*self._command(), "--wait-for-job"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True, env=worker_environment(self.settings),
            )

    def _retire_warm(self) -> None:
        """Let the warm worker go (SIGTERM: it holds no job; SIGKILL if it will not go)."""
        warm, self.warm = self.warm, None
        if warm is None or warm.poll() is not None:
            return
        warm.terminate()
        try:
            warm.wait(timeout=5)
        except subprocess.TimeoutExpired:
            warm.kill()
            warm.wait(timeout=5)

    def recover(self) -> None:
        """Adopt workers still running from before a restart; fail jobs whose worker is gone."""
        for job in jobs.running(self.db):
            process = self._worker_process(job["pid"])
            if process is not None:
                self.tracked[job["id"]] = self._limited(Tracked(process), job["id"], job["started_at"])
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
                self._stop_group(tracked)
            elif tracked.timed_out or (tracked.deadline_ms is not None and now_ms() > tracked.deadline_ms):
                tracked.timed_out = True
                self._stop_group(tracked)
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
        self.last_job = time.monotonic()
        popen = self._hand_to_warm(job_id)
        if popen is None:
            with open(path, "ab") as log:  # until the worker caps its own output (`logcap`): import errors
                popen = subprocess.Popen(
                    [*self._command(), job_id], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True, env=worker_environment(self.settings),
                )
        jobs.update(self.db, job_id, pid=popen.pid)
        self.tracked[job_id] = self._limited(Tracked(psutil.Process(popen.pid), popen), job_id, None)

    def _limited(self, tracked: Tracked, job_id: str, started_at: int | None) -> Tracked:
        """`tracked` with the job's deadline: its start plus its time limit (`services.jobs.time_limit`)."""
        job = jobs.get(self.db, job_id)
        tracked.limit_seconds = time_limit(self.settings, job["config"])
        start = started_at or job["started_at"] or now_ms()
        if tracked.limit_seconds is not None:
            tracked.deadline_ms = start + int(tracked.limit_seconds * 1000)
        return tracked

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

    def _stop_group(self, tracked: Tracked) -> None:
        """Cancel or timeout: SIGTERM to the worker's process group, SIGKILL to it and to every descendant
        after the grace period."""
        now = time.monotonic()
        self._note_descendants(tracked)
        try:
            if tracked.kill_after is None:
                os.killpg(tracked.process.pid, signal.SIGTERM)
                tracked.kill_after = now + self.settings.cancel_grace_seconds
            elif now > tracked.kill_after:
                self._kill_all(tracked)
        except (ProcessLookupError, PermissionError):
            pass

    def _note_descendants(self, tracked: Tracked) -> None:
        """Remember the worker's descendants while it lives (once it is gone, they are nobody's children)."""
        try:
            for child in tracked.process.children(recursive=True):
                tracked.children.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass

    def _kill_all(self, tracked: Tracked) -> None:
        """SIGKILL to the worker's group and to each descendant seen (one that left the group included;
        psutil checks a pid still names the same process before signalling it)."""
        try:
            os.killpg(tracked.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for child in tracked.children.values():
            try:
                child.kill()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue

    def _reap(self, job_id: str, tracked: Tracked, job: dict[str, object] | None) -> None:
        del self.tracked[job_id]
        self.last_job = time.monotonic()
        self._kill_all(tracked)  # loky/dask helpers the worker left behind
        if job is None:
            return  # the worker recorded its own outcome
        code = tracked.popen.returncode if tracked.popen is not None else None
        if job["cancel_requested"]:
            end_job(self.db, job_id, JobStatus.CANCELLED, "cancelled by request", "cancelled")
        elif tracked.timed_out:
            end_job(self.db, job_id, JobStatus.FAILED, f"timed out: the job ran longer than its limit of "
                    f"{tracked.limit_seconds:g} s (executor.timeout_seconds, MLOPS_JOB_TIMEOUT)", "timeout")
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
