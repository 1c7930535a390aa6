"""How late the event loop runs what is due: a probe for benchmarks (issue 18).

A gateway serves every socket from one thread; whatever holds that thread (a big fan-out, a
garbage collection, a synchronous call) delays every member at once. The probe sleeps
``interval_s`` over and over and records how much later than asked it woke: that delay is
what any timer, socket read or write would have waited too. Off unless
KINDRED_LOOP_LAG_PROBE_MS is set; then ``GET /debug/loop-lag`` answers the figures since the
last ``?reset=1`` (no member data: durations only).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from typing import Any

MAX_SAMPLES = 100_000  # the newest ones; at 10 ms, the last 16 minutes


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (nearest rank) of ``values``; None when empty."""
    if not values:
        return None
    ranked = sorted(values)
    return ranked[max(0, math.ceil(q / 100 * len(ranked)) - 1)]


class LoopLagProbe:
    def __init__(self, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("the probe's interval must be positive")
        self.interval_s = interval_s
        self._lags: deque[float] = deque(maxlen=MAX_SAMPLES)

    def record(self, lag_s: float) -> None:
        self._lags.append(max(lag_s, 0.0))

    def summary(self, reset: bool = False) -> dict[str, Any]:
        """Lag in milliseconds over the samples since the last reset."""
        ms = [lag * 1000 for lag in self._lags]
        if reset:
            self._lags.clear()
        return {
            "interval_ms": self.interval_s * 1000, "samples": len(ms),
            "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99),
            "max_ms": max(ms) if ms else None,
        }

    async def run(self) -> None:
        """Sleep, measure the oversleep, for ever (cancel to stop). perf_counter, not the
        loop's clock: uvloop's ticks in whole milliseconds, cached per loop iteration. Its
        timers fire on that millisecond grid too, so about 1 ms of lag is the floor."""
        while True:
            asked = time.perf_counter() + self.interval_s
            await asyncio.sleep(self.interval_s)
            self.record(time.perf_counter() - asked)
