"""What a shadow costs the champion: the predict route's single-row latency (p50, p99) and 16-client
throughput through `production`, without a shadow and with version 2 in shadow of it, in interleaved rounds.

    python -m bench.shadow [--seconds 5] [--requests 500] [--rounds 3]

The backend runs as its own process (`python -m backend.server`); the shadow is started the way another
process (a job, a second backend) starts one: written to the database, which the server's shadow table
re-reads every 2 s. The model and the load generator are `bench.serving`'s (30 numeric features, scaler
+ logistic regression; raw keep-alive HTTP/1.1 connections on one asyncio loop). With the shadow, the
figures also say how many requests the shadow compared in each round and how many it dropped (queue full).
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from backend.db import Database
from backend.services import shadow
from backend.serving.shadow import FRESH_SECONDS
from backend.store import shadows as shadow_store
from bench.common import live_backend, percentile, report
from bench.serving import CLIENTS, generate, one_row_body, register
from mlops_tui.client import Client

NAME = "bench-shadow"


def latency_and_rate(port: int, path: str, body: bytes, args: argparse.Namespace) -> tuple[float, float, float]:
    """Single-row p50 and p99 (ms) one request after another, and 16-client requests/s."""
    generate(port, path, body, 1, limit=50)
    single = generate(port, path, body, 1, limit=args.requests)
    loaded = generate(port, path, body, CLIENTS, seconds=args.seconds)
    return (percentile(single.latencies, 0.5) * 1000, percentile(single.latencies, 0.99) * 1000, loaded.rate)


def compared(db: Database) -> int:
    """Requests the running shadow compared so far."""
    found = shadow_store.active_of(db, NAME, "production")
    return 0 if found is None else shadow_store.counts(db, int(found["id"]), 1, 0)["requests"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.shadow")
    parser.add_argument("--seconds", type=float, default=5.0, help="Each throughput measurement's length.")
    parser.add_argument("--requests", type=int, default=500, help="One-by-one requests for the latency figures.")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of (no shadow, shadow), interleaved so a "
                        "busy machine's noise falls on both alike; medians are reported.")
    args = parser.parse_args()
    report("load", os.getloadavg()[0], "1-min load average", cpus=os.cpu_count())
    body = one_row_body()
    figures: dict[str, list[tuple[float, float, float]]] = {"no shadow": [], "version 2 in shadow": []}
    with tempfile.TemporaryDirectory(prefix="bench-shadow-") as name, live_backend() as (url, home), \
            Client(url, timeout=120) as client:
        folder = Path(name)
        register(client, folder, NAME, seed=0)
        register(client, folder, NAME, seed=1)
        client.promote(NAME, 1, "production", force=True, reason="bench")
        path = f"/api/v1/models/{NAME}/aliases/production/predict"
        port = int(url.rsplit(":", 1)[1])
        db = Database(home / "mlops.db")
        try:
            for _ in range(args.rounds):
                for label, running in (("no shadow", False), ("version 2 in shadow", True)):
                    if running:
                        shadow.start(db, NAME, 2)
                    else:
                        shadow.stop(db, NAME)
                    time.sleep(FRESH_SECONDS + 0.5)  # the server's shadow table re-reads the database
                    before = compared(db)
                    figures[label].append(latency_and_rate(port, path, body, args))
                    if running:
                        time.sleep(0.5)  # the last batch stored
                        report("shadow: requests compared in a round", compared(db) - before, "requests",
                               dropped_since_start=client.shadow(NAME).dropped)
            found = client.shadow(NAME)
            report("shadow: agreement (same data, another seed)", found.agreement or 0.0, "share",
                   champion_p50_ms=found.champion.latency_p50_ms, shadow_p50_ms=found.shadow.latency_p50_ms)
        finally:
            db.close()
    for label, rows in figures.items():
        report(f"{label}: single-row p50 (median of {args.rounds})", statistics.median(r[0] for r in rows), "ms",
               rounds=[round(r[0], 2) for r in rows])
        report(f"{label}: single-row p99 (median)", statistics.median(r[1] for r in rows), "ms")
        report(f"{label}: throughput, {CLIENTS} clients (median)", statistics.median(r[2] for r in rows), "req/s",
               rounds=[round(r[2], 1) for r in rows])


if __name__ == "__main__":
    main()
