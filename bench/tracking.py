"""Tracking benchmarks against a real backend: ingest, search, history, concurrent writers.

Run: `.venv/bin/python bench/tracking.py`. Prints one JSON line per figure.
"""
from __future__ import annotations

import multiprocessing
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.db import connect, migrate  # noqa: E402  (the bench measures the store's own limit)
from bench.common import live_backend, percentile, report  # noqa: E402
from mlops_tui import Client, start_run  # noqa: E402

INGEST_POINTS = 200_000
SEARCH_RUNS = int(__import__("os").environ.get("BENCH_SEARCH_RUNS", 10_000))
HISTORY_POINTS = 100_000


def bench_ingest(url: str, home: Path) -> None:
    started = time.perf_counter()
    with start_run(experiment="ingest", url=url) as run:
        for index in range(INGEST_POINTS):
            run.log_metric("loss", 1.0 / (index + 1), step=index)
    sdk_seconds = time.perf_counter() - started
    sdk_rate = INGEST_POINTS / sdk_seconds
    report("sdk_ingest", sdk_rate, "points/s", ">= 100000", points=INGEST_POINTS, seconds=round(sdk_seconds, 3))

    raw_path = home / "raw.db"
    conn = connect(raw_path)
    migrate(conn)
    conn.execute("INSERT INTO experiments (id, name, created_at) VALUES (1, 'x', 0)")
    conn.execute("INSERT INTO runs (id, experiment_id, name, status, start_time) VALUES ('r', 1, 'r', 'RUNNING', 0)")
    conn.execute("INSERT INTO series (id, run_id, key, step, timestamp, count) VALUES (1, 'r', 'loss', 0, 0, 0)")
    now = int(time.time() * 1000)
    rows = [(1, index, now, 1.0 / (index + 1)) for index in range(INGEST_POINTS)]
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO points (series_id, step, timestamp, value) VALUES (?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    raw_rate = INGEST_POINTS / (time.perf_counter() - started)
    conn.close()
    report("sqlite_executemany", raw_rate, "points/s")
    report("ingest_ratio", sdk_rate / raw_rate, "ratio", ">= 0.3")


def _seed_run(client: Client, index: int, rng: random.Random) -> None:
    run = client.create_run("search", name=f"run-{index}")
    params = {f"p{k}": f"v{rng.randrange(10)}" for k in range(10)}
    metrics = [{"key": f"m{k}", "value": rng.random(), "step": 0} for k in range(10)]
    client.log_batch(run.id, params=params, metrics=metrics)


def bench_search(url: str) -> None:
    started = time.perf_counter()

    def seed(worker: int) -> None:
        rng = random.Random(worker)
        with Client(url) as client:
            for index in range(worker, SEARCH_RUNS, 8):
                _seed_run(client, index, rng)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(seed, range(8)))
    report("search_seed", time.perf_counter() - started, "s", runs=SEARCH_RUNS)
    query = "params.p3 = 'v7' and metrics.m0 > 0.05"
    with Client(url) as client:
        matched = client.count_runs("search", query)
        samples = []
        for _ in range(40):
            begin = time.perf_counter()
            page = client.search_runs("search", query, ["metrics.m1 DESC"], limit=100)
            samples.append((time.perf_counter() - begin) * 1000)
        assert page.runs, "search found nothing"
    report("search_p50", percentile(samples, 0.5), "ms", "<= 50", runs=SEARCH_RUNS, matched=matched,
           p95=round(percentile(samples, 0.95), 2), filter=query)


def bench_history(url: str) -> None:
    with Client(url) as client:
        run = client.create_run("history")
        for start in range(0, HISTORY_POINTS, 10_000):
            points = [{"key": "loss", "value": random.random(), "step": s} for s in range(start, start + 10_000)]
            client.log_batch(run.id, metrics=points)
        for label, max_points, target in (("history_full", None, "<= 150"), ("history_500", 500, "<= 20")):
            samples = []
            for _ in range(15):
                begin = time.perf_counter()
                history = client.metric_history(run.id, "loss", max_points)
                samples.append((time.perf_counter() - begin) * 1000)
            report(label, percentile(samples, 0.5), "ms", target, points=len(history.values),
                   first_call_ms=round(samples[0], 2), note="p50 of 15 calls; the first is uncached")


def _writer(url: str, index: int, points: int) -> str:
    with start_run(experiment="concurrent", name=f"writer-{index}", url=url) as run:
        for step in range(points):
            run.log_metric("value", float(step), step=step)
    return run.id


def bench_concurrent(url: str, writers: int = 8, points: int = 50_000) -> None:
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with context.Pool(writers) as pool:
        run_ids = pool.starmap(_writer, [(url, i, points) for i in range(writers)])
    seconds = time.perf_counter() - started
    with Client(url) as client:
        stored = sum(client.get_run(r).metric_stats["value"].count for r in run_ids)
    report("concurrent_writers", stored / seconds, "points/s", "every point stored",
           writers=writers, expected=writers * points, stored=stored, ok=stored == writers * points)


def main() -> None:
    with live_backend() as (url, home):
        bench_ingest(url, home)
        bench_history(url)
        bench_search(url)
        bench_concurrent(url)


if __name__ == "__main__":
    main()
