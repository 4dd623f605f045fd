"""The model registry: how long the promotion gates take for the churn model.

Trains `sample_data/churn_pipeline.toml` (the champion) and `churn_worse_pipeline.toml` (the candidate)
in this process, then evaluates every gate of the sample's `[promote]` policy a few times: both models
loaded, the holdout rebuilt from the dataset version, both scored on it, 50 single-row predictions
timed. Run: `.venv/bin/python bench/registry.py`. Prints one JSON line per figure: the wall-clock
median and the CPU time this process spent (what the wall clock would be on an idle machine; the
latency gate's 50 predictions are most of it).
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend.pipelines import promote  # noqa: E402
from backend.services import gates  # noqa: E402
from bench.common import report  # noqa: E402
from tests.gates_support import SAMPLE, Home  # noqa: E402

RUNS = 5


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as folder:
        home = Home.open(Path(folder))
        dataset = home.add_dataset("churn", SAMPLE / "churn.csv")
        champion = home.train((SAMPLE / "churn_pipeline.toml").read_text(), dataset)
        candidate = home.train((SAMPLE / "churn_worse_pipeline.toml").read_text(), dataset)
        policy = promote.for_alias((candidate.get("pipeline") or {}).get("promote"), "production")
        for what, version, holder in (("the churn model, first promotion", champion, None),
                                      ("the worse churn model vs the churn model", candidate, champion)):
            seconds, cpu = [], []
            for _ in range(RUNS):
                started = time.process_time()
                found = gates.evaluate(home.settings, home.db, version, holder, "production", policy)
                seconds.append(found.seconds)
                cpu.append(time.process_time() - started)
            latency = next(g.candidate for g in found.gates if g.gate == "latency")
            report(f"gate evaluation, {what} (median)", statistics.median(seconds), "s",
                   target="well under a few seconds", runs=RUNS, min=min(seconds), max=max(seconds),
                   cpu_s=round(statistics.median(cpu), 3),
                   data=found.data, latency_rows=policy.latency_rows, candidate_p95_ms=latency,
                   failed=[g.name for g in found.failed])
        home.db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
