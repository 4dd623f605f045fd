"""Console benchmarks against a real backend holding 100,000 runs in one experiment.

Run: `.venv/bin/python bench/tui.py` (BENCH_TUI_RUNS=20000 for a quicker pass). Prints one JSON line
per figure: seeding time, launch → first painted runs table, pagedown → repaint, memory (RSS).

The console runs in its own process (headless `run_test` at 80×24), started after the seeding,
so its start-up (Python, imports, first fetches) counts in the first-paint figure and its RSS is
the console's alone.
"""
from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import orjson  # noqa: E402

from bench.common import live_backend, percentile, report  # noqa: E402

RUNS = int(os.environ.get("BENCH_TUI_RUNS", 100_000))
EXPERIMENT = "bench-tui"
SEED = os.environ.get("BENCH_TUI_SEED", "store")
"""`api`: POST /runs, /batch and PATCH per run from 4 processes × 4 threads; `store`: the backend's
store functions in-process (same rows, no HTTP), the default because it takes minutes, not tens."""
PROCESSES = 4
THREADS = 4
PAGE_MOVES = 60
T0 = 1_700_000_000_000


def _post(http: httpx.Client, path: str, body: object) -> dict[str, object]:
    response = http.post(path, content=orjson.dumps(body), headers={"Content-Type": "application/json"})
    response.raise_for_status()
    return dict(orjson.loads(response.content))


def _seed_slice(url: str, start: int, stop: int) -> int:
    """Create runs start..stop-1, each with 3 params, 3 metrics (a few points) and an end."""
    def one(index: int, http: httpx.Client) -> None:
        run = _post(http, "/api/v1/runs", {"experiment": EXPERIMENT, "name": f"run-{index:06d}",
                                           "start_time": T0 + index * 1000})
        run_id = run["id"]
        _post(http, f"/api/v1/runs/{run_id}/batch", {
            "params": {"model": ("rf", "gbm", "logreg")[index % 3], "lr": (0.1, 0.03, 0.01)[index % 3],
                       "depth": index % 12},
            "series": [
                {"key": "acc", "steps": [0, 1, 2], "values": [0.5, 0.6, 0.5 + (index % 997) / 2000]},
                {"key": "loss", "steps": [0, 1, 2], "values": [1.0, 0.7, 0.5 - (index % 997) / 2000]},
                {"key": "f1", "steps": [2], "values": [(index % 89) / 89]},
            ],
        })
        status = "FAILED" if index % 50 == 7 else "FINISHED"
        response = http.patch(f"/api/v1/runs/{run_id}", content=orjson.dumps(
            {"status": status, "end_time": T0 + index * 1000 + 30_000 + index % 600}),
            headers={"Content-Type": "application/json"})
        response.raise_for_status()

    def lane(lane_index: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            for index in range(start + lane_index, stop, THREADS):
                one(index, http)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lane, range(THREADS)))
    return stop - start


def seed_store(home: Path, stop: int = RUNS) -> float:
    """The same runs written through the backend's store functions in this process: the API path
    costs three requests per run, which one backend process answers at a few hundred runs/s."""
    from backend.db import Database
    from backend.store import experiments, runs

    began = time.perf_counter()
    db = Database(home / "mlops.db")
    experiment_id = experiments.get_or_create(db, EXPERIMENT)["id"]
    for index in range(stop):
        run = runs.create(db, experiment_id, f"run-{index:06d}", None, T0 + index * 1000)
        stamp = [T0 + index * 1000] * 3
        runs.log_batch(db, run["id"], {"model": ("rf", "gbm", "logreg")[index % 3],
                                       "lr": str((0.1, 0.03, 0.01)[index % 3]), "depth": str(index % 12)}, {
            "acc": ([0, 1, 2], [0.5, 0.6, 0.5 + (index % 997) / 2000], stamp),
            "loss": ([0, 1, 2], [1.0, 0.7, 0.5 - (index % 997) / 2000], stamp),
            "f1": ([2], [(index % 89) / 89], stamp[:1]),
        })
        runs.update(db, run["id"], "FAILED" if index % 50 == 7 else "FINISHED",
                    T0 + index * 1000 + 30_000 + index % 600)
    db.close()
    return time.perf_counter() - began


def seed_api(url: str) -> float:
    began = time.perf_counter()
    step = -(-RUNS // PROCESSES)
    slices = [(url, s, min(s + step, RUNS)) for s in range(0, RUNS, step)]
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        created = sum(pool.starmap(_seed_slice, slices))
    assert created == RUNS
    return time.perf_counter() - began


async def measure(url: str, launched: float) -> dict[str, object]:
    """Inside the console's process: open the runs view, wait for the first painted table, then
    page down and time each repaint."""
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    import psutil

    from mlops_tui.app import MlopsApp
    from mlops_tui.client import AsyncClient
    from mlops_tui.config import TuiConfig
    from mlops_tui.screens.runs import RunsScreen

    app = MlopsApp(client=AsyncClient(url), config=TuiConfig(refresh_seconds=3600, health_seconds=3600),
                   start=f"runs {EXPERIMENT}")
    figures: dict[str, object] = {}
    async with app.run_test(size=(80, 24)) as pilot:
        while True:
            screen = app.screen
            if isinstance(screen, RunsScreen) and screen.table.row_count:
                await pilot.pause()  # one more refresh: the rows are on the screen
                break
            await asyncio.sleep(0.005)
        figures["first_paint_s"] = time.time() - launched
        figures["total"] = screen.total
        samples = []
        for _ in range(PAGE_MOVES):
            began = time.perf_counter()
            await pilot.press("pagedown")
            await pilot.pause()
            samples.append((time.perf_counter() - began) * 1000)
        await app.workers.wait_for_complete()
        figures["page_ms"] = samples
        figures["row"] = screen.window.position(screen.table.cursor_row, screen.total)
        figures["rows_in_table"] = screen.table.row_count
        began = time.perf_counter()
        await pilot.press("G")
        while screen.table.cursor_key is None or screen.window.tail is False:
            await pilot.pause(0.005)
        await pilot.pause()
        figures["jump_to_end_ms"] = (time.perf_counter() - began) * 1000
        figures["rss_mb"] = psutil.Process().memory_info().rss / 1e6
    return figures


def _tmux(server: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", server, *args], capture_output=True, text=True, check=True).stdout


def measure_tmux(url: str) -> dict[str, object]:
    """The real `mlops tui` in an 80×24 tmux pane: time from launch until the runs table shows,
    from each `pagedown` until the pane shows the new rows, and the console's RSS."""
    import psutil

    server = f"mlops-bench-{os.getpid()}"
    env = {**os.environ, "MLOPS_URL": url, "TEXTUAL_ANIMATIONS": "none",
           "MLOPS_CONFIG": os.devnull, "TERM": "xterm-256color"}
    command = f"{sys.executable} -m mlops_tui.cli.main tui --experiment {EXPERIMENT}"
    figures: dict[str, object] = {}
    launched = time.perf_counter()
    subprocess.run(["tmux", "-L", server, "new-session", "-d", "-s", "b", "-x", "80", "-y", "24", command],
                   env=env, check=True, cwd=Path(__file__).resolve().parent.parent)
    try:
        while "run-0" not in (screen := _tmux(server, "capture-pane", "-p", "-t", "b")):
            if time.perf_counter() - launched > 60:
                raise RuntimeError(f"the runs table never showed:\n{screen}")
            time.sleep(0.002)
        figures["first_paint_s"] = time.perf_counter() - launched
        time.sleep(1.0)  # let the count and the first prefetch land
        samples = []
        for _ in range(PAGE_MOVES):
            before = _tmux(server, "capture-pane", "-p", "-t", "b")
            began = time.perf_counter()
            _tmux(server, "send-keys", "-t", "b", "PageDown")
            while _tmux(server, "capture-pane", "-p", "-t", "b") == before:
                if time.perf_counter() - began > 10:
                    raise RuntimeError("pagedown never repainted")
            samples.append((time.perf_counter() - began) * 1000)
            time.sleep(0.05)
        figures["page_ms"] = samples
        figures["status_line"] = _tmux(server, "capture-pane", "-p", "-t", "b").splitlines()[1].strip()
        pane = psutil.Process(int(_tmux(server, "display", "-p", "-t", "b", "#{pane_pid}")))
        consoles = [p for p in [pane, *pane.children(recursive=True)] if "python" in p.name()]
        figures["rss_mb"] = max(p.memory_info().rss for p in consoles) / 1e6
    finally:
        subprocess.run(["tmux", "-L", server, "kill-server"], capture_output=True)
        Path(os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{os.getuid()}", server).unlink(missing_ok=True)
    return figures


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        print(json.dumps(asyncio.run(measure(sys.argv[2], float(sys.argv[3])))), flush=True)
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--against":  # an already seeded backend
        report_figures(sys.argv[2])
        return
    with live_backend() as (url, home):
        if SEED == "api":
            seconds = seed_api(url)
        else:
            seconds = seed_store(home)
        report("tui_seed", seconds, "s", "<= 180", runs=RUNS, rate=round(RUNS / seconds), via=SEED)
        report_figures(url)


def report_figures(url: str) -> None:
    launched = time.time()
    result = subprocess.run([sys.executable, __file__, "--measure", url, str(launched)],
                            capture_output=True, text=True, timeout=300)
    if result.returncode:
        raise SystemExit(result.stderr)
    headless = json.loads(result.stdout.strip().splitlines()[-1])
    samples = headless["page_ms"]
    report("tui_first_paint_headless", headless["first_paint_s"], "s", "<= 1.5", runs=headless["total"],
           note="process launch → runs table painted, in-process run_test at 80x24")
    report("tui_page_down_headless", percentile(samples, 0.5), "ms", "<= 100",
           p95=round(percentile(samples, 0.95), 2), max=round(max(samples), 2), moves=len(samples),
           reached_row=headless["row"], rows_in_table=headless["rows_in_table"],
           note="pilot.press + pilot.pause, which add ~60 ms of their own")
    report("tui_jump_to_end", headless["jump_to_end_ms"], "ms", note="G: the last runs, fetched from the tail")
    report("tui_rss_headless", headless["rss_mb"], "MB", "<= 200")
    if shutil.which("tmux"):
        real = measure_tmux(url)
        samples = real["page_ms"]  # type: ignore[assignment]
        report("tui_first_paint", real["first_paint_s"], "s", "<= 1.5",  # type: ignore[arg-type]
               note="tmux 80x24: launch of `mlops tui -e` → rows on the pane")
        report("tui_page_down", percentile(samples, 0.5), "ms", "<= 100", p95=round(percentile(samples, 0.95), 2),
               max=round(max(samples), 2), moves=len(samples), status=real["status_line"],
               note="tmux: send-keys PageDown → pane content changed (capture-pane polling)")
        report("tui_rss", real["rss_mb"], "MB", "<= 200")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
