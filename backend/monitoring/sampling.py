"""Which predicted rows keep their inputs and outputs (drift and live performance read those).

All rows are kept at `share` (the `monitor_sample_share` setting) while traffic stays under
`full_rate` rows per second; above it the share falls so that about `full_rate` rows per second
are kept. A row is kept or not by a hash of its request id, so the choice is the same whoever
decides it (a replica resending a batch, a test)."""
from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Sequence

from mlops_tui.contract.monitoring import PredictionRecord

HORIZON_SECONDS = 10
"""Traffic is measured over the last this many seconds (by the records' times)."""


def kept(request_id: str, share: float) -> bool:
    return zlib.crc32(request_id.encode()) < share * 2**32


class Sampler:
    def __init__(self, share: float, full_rate: float) -> None:
        self.setting = share
        self.full_rate = full_rate
        self._seconds: deque[list[int]] = deque()
        """`[second, rows]`, oldest first, over the horizon."""

    def share(self) -> float:
        """The share kept now: the setting, lowered when traffic is over `full_rate` rows per second."""
        rate = sum(rows for _, rows in self._seconds) / HORIZON_SECONDS
        return self.setting if rate <= self.full_rate else min(self.setting, self.full_rate / rate)

    def observe(self, records: Sequence[PredictionRecord]) -> None:
        for record in records:
            second = record.time // 1000
            if self._seconds and self._seconds[-1][0] == second:
                self._seconds[-1][1] += 1
            elif not self._seconds or second > self._seconds[-1][0]:
                self._seconds.append([second, 1])
        while self._seconds and self._seconds[0][0] <= self._seconds[-1][0] - HORIZON_SECONDS:
            self._seconds.popleft()

    def apply(self, records: Sequence[PredictionRecord]) -> list[PredictionRecord]:
        """Count `records` into the traffic, then strip the inputs, output and probabilities of those
        not kept."""
        self.observe(records)
        share = self.share()
        if share >= 1.0:
            return list(records)
        return [r if kept(r.request_id, share) or (r.inputs is None and r.output is None)
                else r.model_copy(update={"inputs": None, "output": None, "probabilities": None})
                for r in records]
