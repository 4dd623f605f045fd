"""What a shadow costs the champion: the predict route's single-row latency (p50, p99) and 16-client
throughput through `production`, without a shadow, then with version 2 in shadow of it.

    python -m bench.shadow [--seconds 5] [--requests 500]

The backend runs as its own process (`python -m backend.server`); the shadow is started the way another
process (a job, a second backend) starts one: written to the database, which the server's shadow table
re-reads every 2 s. The model and the load generator are `bench.serving`'s (30 numeric features, scaler
+ logistic regression; raw keep-alive HTTP/1.1 connections on one asyncio loop). With the shadow, the
figures also say how many requests the shadow compared and dropped (queue full) during the run.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from backend.db import Database
from backend.services import shadow
from backend.store import shadows as shadow_store
from bench.common import live_backend, percentile, report
from bench.serving import CLIENTS, generate, one_row_body, register
from mlops_tui.client import Client

NAME = "bench-shadow"


def latency_and_rate(label: str, port: int, path: str, body: bytes, args: argparse.Namespace) -> None:
    generate(port, path, body, 1, limit=50)
    single = generate(port, path, body, 1, limit=args.requests)
    loaded = generate(port, path, body, CLIENTS, seconds=args.seconds)
    report(f"{label}: single-row p50", percentile(single.latencies, 0.5) * 1000, "ms",
           p99_ms=round(percentile(single.latencies, 0.99) * 1000, 2))
    report(f"{label}: throughput, {CLIENTS} clients", loaded.rate, "req/s",
           p50_ms=round(percentile(loaded.latencies, 0.5) * 1000, 2),
           p99_ms=round(percentile(loaded.latencies, 0.99) * 1000, 2), failed=loaded.failed + single.failed)


def shadow_counts(db: Database) -> tuple[int, int]:
    """Requests the shadow compared so far, and rows stored."""
    found = shadow_store.active_of(db, NAME, "production")
    if found is None:
        return 0, 0
    counts = shadow_store.counts(db, int(found["id"]), 1, 0)
    return counts["requests"], counts["offered"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.shadow")
    parser.add_argument("--seconds", type=float, default=5.0, help="Each throughput measurement's length.")
    parser.add_argument("--requests", type=int, default=500, help="One-by-one requests for the latency figures.")
    args = parser.parse_args()
    report("load", os.getloadavg()[0], "1-min load average", cpus=os.cpu_count())
    body = one_row_body()
    with tempfile.TemporaryDirectory(prefix="bench-shadow-") as name, live_backend() as (url, home), \
            Client(url, timeout=120) as client:
        folder = Path(name)
        register(client, folder, NAME, seed=0)
        register(client, folder, NAME, seed=1)
        client.promote(NAME, 1, "production", force=True, reason="bench")
        path = f"/api/v1/models/{NAME}/aliases/production/predict"
        port = int(url.rsplit(":", 1)[1])
        latency_and_rate("no shadow", port, path, body, args)
        db = Database(home / "mlops.db")
        try:
            shadow.start(db, NAME, 2)
            deadline = time.monotonic() + 30
            while shadow_counts(db)[0] == 0 and time.monotonic() < deadline:  # the server's table re-reads it
                generate(port, path, body, 1, limit=20)
                time.sleep(0.2)
            before = shadow_counts(db)[0]
            latency_and_rate("version 2 in shadow", port, path, body, args)
            time.sleep(1.0)  # the last batch written
            requests, _ = shadow_counts(db)
            answered = 50 + args.requests  # warm-up and one-by-one; the loaded run's count is in its line
            comparison = client.shadow(NAME)
            report("shadow: requests compared during the shadow run", requests - before, "requests",
                   one_by_one_sent=answered, dropped_queue_full=comparison.dropped)
            report("shadow: agreement (same data, another seed)", comparison.agreement or 0.0, "share",
                   champion_p50_ms=comparison.champion.latency_p50_ms, shadow_p50_ms=comparison.shadow.latency_p50_ms)
        finally:
            db.close()


if __name__ == "__main__":
    main()
