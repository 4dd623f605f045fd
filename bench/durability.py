"""What `MLOPS_SYNCHRONOUS=FULL` costs: the latency of a logged batch with the default (NORMAL) and with FULL.

    python -m bench.durability [--batches 300] [--points 100] [--home-parent DIR]

Each level gets a fresh real server (`python -m backend.server`) on a home under `--home-parent` (default: the
system's temp folder; put it on the disk the server will really use, as fsync costs what that disk costs).
Prints, per level, the median and p99 milliseconds of `POST /api/v1/runs/{id}/batch` (with an
`Idempotency-Key`, as the SDK sends it) through the typed client.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import Backend
from mlops_tui import Client


def measure(level: str, parent: Path, batches: int, points: int) -> list[float]:
    with tempfile.TemporaryDirectory(dir=parent, prefix="mlops-durability-") as folder:
        server = Backend(Path(folder) / "home", env={"MLOPS_SYNCHRONOUS": level})
        server.start()
        try:
            with Client(server.url) as client:
                run_id = client.create_run("durability-bench").id
                took = []
                for batch in range(batches):
                    steps = list(range(batch * points, (batch + 1) * points))
                    start = time.perf_counter()
                    client.log_batch(run_id, series=[{"key": "loss", "steps": steps, "values": [0.5] * points}])
                    took.append((time.perf_counter() - start) * 1000)
                return took
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--home-parent", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    print(f"{args.batches} batches of {args.points} points, homes under {args.home_parent}")
    for level in ("NORMAL", "FULL"):
        took = sorted(measure(level, args.home_parent, args.batches, args.points))
        p99 = took[min(len(took) - 1, int(len(took) * 0.99))]
        print(f"MLOPS_SYNCHRONOUS={level:<6}  median {statistics.median(took):6.2f} ms   p99 {p99:6.2f} ms")


if __name__ == "__main__":
    main()
