"""The latency sketch: a histogram over fixed buckets, defined once here, that merges by adding.

Bucket upper bounds grow by 10 % from 0.1 ms to past 60 s (141 buckets, then one for anything
slower). A minute's rollup, a window's sum of minutes and `/metrics` all count into these same
buckets, so windows of any length merge exactly. A quantile is read from the merged counts: the
bucket holding the rank-th smallest latency is found exactly, and the value is interpolated inside
it, so the estimate is off by at most that bucket's width (10 % of the value; 0.1 ms below 0.1 ms).
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

GROWTH = 1.1
FIRST_BOUND_MS = 0.1
LAST_BOUND_MS = 60_000.0


def _bounds() -> tuple[float, ...]:
    found = [FIRST_BOUND_MS]
    while found[-1] < LAST_BOUND_MS:
        found.append(round(FIRST_BOUND_MS * GROWTH ** len(found), 6))
    return tuple(found)


BOUNDS_MS: tuple[float, ...] = _bounds()
"""Each bucket's upper bound (inclusive); bucket `len(BOUNDS_MS)` holds what is slower than the last."""
BUCKETS = len(BOUNDS_MS) + 1


def bucket_of(latency_ms: float) -> int:
    return bisect.bisect_left(BOUNDS_MS, latency_ms)


def bucket_range(index: int) -> tuple[float, float]:
    """The latencies bucket `index` holds: (lower, upper]; the last bucket's upper is infinite."""
    lower = 0.0 if index == 0 else BOUNDS_MS[index - 1]
    upper = BOUNDS_MS[index] if index < len(BOUNDS_MS) else math.inf
    return lower, upper


@dataclass
class Traffic:
    """Requests, predicted rows, errors and latencies of some traffic: a minute, a window, since start."""

    requests: int = 0
    rows: int = 0
    errors: int = 0
    latency_sum: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * BUCKETS)

    def add(self, latency_ms: float, rows: int, failed: bool) -> None:
        """One request: its latency, the rows it predicted (none when it failed)."""
        self.requests += 1
        self.errors += failed
        self.rows += 0 if failed else rows
        self.latency_sum += latency_ms
        self.buckets[bucket_of(latency_ms)] += 1

    def merge(self, other: Traffic) -> None:
        self.requests += other.requests
        self.rows += other.rows
        self.errors += other.errors
        self.latency_sum += other.latency_sum
        for index, count in enumerate(other.buckets):
            self.buckets[index] += count

    def quantile(self, q: float) -> float | None:
        """The latency at quantile `q` (0 < q <= 1), None without requests (see the module's note on error)."""
        total = sum(self.buckets)
        if total == 0:
            return None
        rank = max(math.ceil(q * total), 1)
        seen = 0
        for index, count in enumerate(self.buckets):
            if count and seen + count >= rank:
                lower, upper = bucket_range(index)
                if math.isinf(upper):
                    return lower
                return lower + (upper - lower) * (rank - seen) / count
            seen += count
        raise AssertionError("unreachable: the ranks add up to the total")

    def sparse_buckets(self) -> list[list[int]]:
        """`[[bucket, count], ...]` for the buckets that counted something: how a rollup stores them."""
        return [[index, count] for index, count in enumerate(self.buckets) if count]

    @classmethod
    def from_stored(cls, requests: int, rows: int, errors: int, latency_sum: float,
                    sparse: Iterable[Sequence[int]]) -> Traffic:
        traffic = cls(requests, rows, errors, latency_sum)
        for index, count in sparse:
            traffic.buckets[index] += count
        return traffic
