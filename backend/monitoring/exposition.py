"""`GET /metrics` in Prometheus' text exposition format (version 0.0.4).

The prediction counters and the latency histogram come from the recorder's in-memory totals (since
the backend started, as Prometheus counters do); the histogram's buckets are every 8th bound of the
monitoring sketch (`latency.BOUNDS_MS`, so about doubling), in seconds."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from .latency import BOUNDS_MS, Traffic

EXPORTED_BOUNDS = tuple(range(0, len(BOUNDS_MS), 8))
"""Indexes into `BOUNDS_MS` of the exported `le` buckets."""
Labels = Mapping[str, str | int]


def escape(value: str | int) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def label_text(labels: Labels) -> str:
    return "{" + ",".join(f'{key}="{escape(value)}"' for key, value in labels.items()) + "}" if labels else ""


def number(value: float) -> str:
    return repr(float(value)) if value != int(value) or abs(value) >= 1e15 else str(int(value))


class Exposition:
    """Families added one by one, rendered as text."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples: Iterable[tuple[str, Labels, float]]) -> None:
        """`samples`: (suffix, labels, value); a counter's samples end in `_total`, and so does the name its
        HELP and TYPE lines give (what Prometheus' own parser expects)."""
        declared = f"{name}_total" if kind == "counter" else name
        self.lines += [f"# HELP {declared} {help_text}", f"# TYPE {declared} {kind}"]
        self.lines += [f"{name}{suffix}{label_text(labels)} {number(value)}" for suffix, labels, value in samples]

    def histogram(self, name: str, help_text: str, series: Iterable[tuple[Labels, Traffic]]) -> None:
        """Latency histograms in seconds from traffic sketches."""
        samples: list[tuple[str, Labels, float]] = []
        for labels, traffic in series:
            cumulative = 0
            counted = 0
            for index in EXPORTED_BOUNDS:
                cumulative += sum(traffic.buckets[counted:index + 1])
                counted = index + 1
                samples.append(("_bucket", {**labels, "le": repr(BOUNDS_MS[index] / 1000)}, cumulative))
            samples += [("_bucket", {**labels, "le": "+Inf"}, traffic.requests),
                        ("_sum", labels, traffic.latency_sum / 1000), ("_count", labels, traffic.requests)]
        self.family(name, "histogram", help_text, samples)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"
