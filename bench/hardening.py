"""Hardening benchmarks: what hostile or oversized requests cost a live backend.

Run: `.venv/bin/python bench/hardening.py [--source DIR]`. Prints one JSON line per figure.
`--source DIR` starts the backend from another checkout (e.g. an older commit); `--compare DIR` runs
this checkout and that one at once and measures them in alternating rounds, printing the ratio.

- `wide_csv_upload`: a 1 MiB CSV with 100,000 columns sent as a dataset version: how long until the
  server answers, and how /healthz answers meanwhile (the event loop must stay free).
- `heavy_csv_health`: /healthz latency while an allowed but slow upload (2,000 columns) is parsed.
- `max_sort_search`: a search ordered by many param keys on a populated store (the request that used
  to crash SQLite); the process must still be alive after it.
- `single_call`: GET of one run and a one-point batch, p50: the per-request cost of the middleware.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import live_backend, percentile, report  # noqa: E402

HEADERS = {"X-Mlops-Client": "bench"}
HEALTH_TIMEOUT = 60.0


def wide_csv(columns: int, rows: int) -> bytes:
    header = ",".join(f"c{i}" for i in range(columns))
    body = "\n".join(",".join(str((r * 7 + i) % 10) for i in range(columns)) for r in range(rows))
    return f"{header}\n{body}\n".encode()


def upload_while_polling(url: str, name: str, content: bytes) -> tuple[float, int | str, list[float]]:
    """Upload `content` as a dataset version while another thread polls /healthz; return the upload's
    seconds and status and the health latencies seen while it ran."""
    latencies: list[float] = []
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(timeout=HEALTH_TIMEOUT) as client:
            while not done.is_set():
                started = time.perf_counter()
                client.get(f"{url}/healthz")
                latencies.append(time.perf_counter() - started)
                time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    started = time.perf_counter()
    try:
        response = httpx.post(f"{url}/api/v1/datasets/{name}/versions", params={"filename": f"{name}.csv"},
                              content=content, headers={**HEADERS, "Content-Type": "text/csv"},
                              timeout=HEALTH_TIMEOUT)
        status: int | str = response.status_code
    except httpx.TimeoutException:
        status = f"no answer in {HEALTH_TIMEOUT:.0f} s"
    seconds = time.perf_counter() - started
    done.set()
    poller.join(timeout=HEALTH_TIMEOUT)
    return seconds, status, latencies


def bench_uploads(url: str) -> None:
    content = wide_csv(100_000, 1)[: 1 << 20]
    content = content[: content.rfind(b",")] + b"\n"
    seconds, status, health = upload_while_polling(url, "wide", content)
    report("wide_csv_upload", seconds, "s", "answered at once (was 170 s)", status=status,
           columns=content.count(b",", 0, content.find(b"\n")) + 1, bytes=len(content),
           health_p50_ms=round(1000 * percentile(health, 0.5), 1) if health else None,
           health_max_ms=round(1000 * max(health), 1) if health else None)
    content = wide_csv(2_000, 300)
    seconds, status, health = upload_while_polling(url, "heavy", content)
    report("heavy_csv_health", 1000 * percentile(health, 0.5) if health else -1, "ms p50 of /healthz",
           "health unaffected (was 500 ms)", status=status, upload_s=round(seconds, 2), bytes=len(content),
           health_max_ms=round(1000 * max(health), 1) if health else None, health_calls=len(health))


def bench_search(url: str, runs: int, sort_keys: int) -> None:
    _seed(url, runs, sort_keys)
    with httpx.Client(base_url=url, headers=HEADERS, timeout=60) as client:
        order_by = [f"params.p{k} DESC" for k in range(sort_keys)]
        samples = []
        status = 0
        for _ in range(10):
            started = time.perf_counter()
            try:
                status = client.post("/api/v1/runs/search", json={"experiment": "sorts", "order_by": order_by,
                                                                  "limit": 100}).status_code
            except httpx.HTTPError as error:
                status = -1
                report("max_sort_search", -1, "ms", error=type(error).__name__)
                break
            samples.append(time.perf_counter() - started)
        alive = _alive(url)
        if samples:
            report("max_sort_search", 1000 * percentile(samples, 0.5), "ms p50", runs=runs, sort_keys=sort_keys,
                   status=status, server_alive_after=alive)


def _alive(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def bench_single_calls(url: str, calls: int = 400) -> None:
    with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as client:
        run_id = client.post("/api/v1/runs", json={"experiment": "single"}).json()["id"]
        gets, batches = [], []
        for step in range(calls):
            started = time.perf_counter()
            client.get(f"/api/v1/runs/{run_id}")
            gets.append(time.perf_counter() - started)
            started = time.perf_counter()
            client.post(f"/api/v1/runs/{run_id}/batch", json={"metrics": [{"key": "x", "value": step, "step": step}]})
            batches.append(time.perf_counter() - started)
        report("single_call_get_run", 1000 * percentile(gets, 0.5), "ms p50", calls=calls)
        report("single_call_batch", 1000 * percentile(batches, 0.5), "ms p50", calls=calls)


def compare(source: Path, runs: int, sort_keys: int, rounds: int = 4) -> None:
    """This checkout against `source`, both live at once, measured in alternating rounds (A B B A ...)
    so machine load drifts over both alike; prints the p50 of each and the ratio new/old."""
    with live_backend() as (new_url, _), live_backend(source=source) as (old_url, _):
        figures: dict[str, dict[str, list[float]]] = {"new": {}, "old": {}}
        for url in (new_url, old_url):
            _seed(url, runs, sort_keys)
        order = ["new", "old", "old", "new"] * (rounds // 2)
        for side in order:
            url = new_url if side == "new" else old_url
            for name, samples in _round(url, sort_keys).items():
                figures[side].setdefault(name, []).extend(samples)
        for name in figures["new"]:
            new, old = percentile(figures["new"][name], 0.5), percentile(figures["old"][name], 0.5)
            report(f"compare_{name}", 1000 * new, "ms p50", old_ms=round(1000 * old, 3), ratio=round(new / old, 3),
                   samples=len(figures["new"][name]), rounds=rounds)


def _seed(url: str, runs: int, sort_keys: int) -> None:
    with httpx.Client(base_url=url, headers=HEADERS, timeout=60) as client:
        for index in range(runs):
            run = client.post("/api/v1/runs", json={"experiment": "sorts"}).json()
            client.post(f"/api/v1/runs/{run['id']}/batch", json={
                "params": {f"p{k}": str((index * 31 + k) % 17) for k in range(sort_keys)},
                "metrics": [{"key": f"m{k}", "value": (index * 13 + k) % 11, "step": 0} for k in range(sort_keys)],
            })


def _round(url: str, sort_keys: int, calls: int = 100) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {"get_run": [], "batch": [], "search_sorted": [], "search_filtered": []}
    with httpx.Client(base_url=url, headers=HEADERS, timeout=60) as client:
        run_id = client.post("/api/v1/runs", json={"experiment": "single"}).json()["id"]
        requests = {
            "get_run": lambda step: client.get(f"/api/v1/runs/{run_id}"),
            "batch": lambda step: client.post(f"/api/v1/runs/{run_id}/batch",
                                              json={"metrics": [{"key": "x", "value": step, "step": step}]}),
            "search_sorted": lambda step: client.post("/api/v1/runs/search", json={
                "experiment": "sorts", "order_by": [f"params.p{k} DESC" for k in range(sort_keys)], "limit": 100}),
            "search_filtered": lambda step: client.post("/api/v1/runs/search", json={
                "experiment": "sorts", "filter": "metrics.m0 > 5 and params.p1 != '3'", "limit": 100}),
        }
        for name, send in requests.items():
            for step in range(calls if name in ("get_run", "batch") else calls // 5):
                started = time.perf_counter()
                send(step).raise_for_status()
                samples[name].append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", type=Path, default=None, help="start the backend from this checkout")
    parser.add_argument("--compare", type=Path, default=None,
                        help="measure this checkout and that one side by side, in alternating rounds")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--sort-keys", type=int, default=10, help="the most the API allows")
    parser.add_argument("--skip-uploads", action="store_true")
    args = parser.parse_args()
    if args.compare:
        compare(args.compare, args.runs, args.sort_keys)
        return
    with live_backend(source=args.source) as (url, _home):
        bench_single_calls(url)
        bench_search(url, args.runs, args.sort_keys)
        if not args.skip_uploads:
            bench_uploads(url)


if __name__ == "__main__":
    main()
