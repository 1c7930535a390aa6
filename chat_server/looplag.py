"""How late the event loop runs what is due: a probe for benchmarks (issue 18).

A gateway serves every socket from one thread; whatever holds that thread (a big fan-out, a
garbage collection, a synchronous call) delays every member at once. The probe sleeps
``interval_s`` over and over and records how much later than asked it woke: that delay is
what any timer, socket read or write would have waited too. It also times the garbage
collector's pauses (gc.callbacks), by generation. Off unless
KINDRED_LOOP_LAG_PROBE_MS is set; then ``GET /debug/loop-lag`` answers the figures since the
last ``?reset=1`` (no member data: durations only).
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
from collections import deque
from typing import Any

MAX_SAMPLES = 100_000  # the newest ones; at 10 ms, the last 16 minutes
LONG_S = 0.020  # a lag this long is looked at closer: was the loop busy, or not running?


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
        # Of the sleeps that overslept by more than LONG_S: wall time, and the loop thread's
        # CPU time in them. Near 1: the loop was running (our code, a collection); near 0:
        # the thread was off the CPU (the machine busy elsewhere, a blocking system call).
        self._long_wall = 0.0
        self._long_cpu = 0.0
        # The garbage collector's pauses, by generation: (count, longest in seconds).
        self._gc: dict[int, tuple[int, float]] = {}
        self._gc_start = 0.0

    def record(self, lag_s: float, wall_s: float = 0.0, cpu_s: float = 0.0) -> None:
        self._lags.append(max(lag_s, 0.0))
        if lag_s > LONG_S:
            self._long_wall += wall_s
            self._long_cpu += cpu_s

    def summary(self, reset: bool = False) -> dict[str, Any]:
        """Lag in milliseconds over the samples since the last reset."""
        ms = [lag * 1000 for lag in self._lags]
        on_cpu = self._long_cpu / self._long_wall if self._long_wall > 0 else None
        if reset:
            self._lags.clear()
            self._long_wall = self._long_cpu = 0.0
        gc_pauses = {f"gen{g}": {"count": n, "max_ms": longest * 1000}
                     for g, (n, longest) in sorted(self._gc.items())}
        if reset:
            self._gc.clear()
        return {
            "interval_ms": self.interval_s * 1000, "samples": len(ms),
            "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99),
            "max_ms": max(ms) if ms else None,
            "long_lags": sum(1 for m in ms if m > LONG_S * 1000), "long_lags_on_cpu": on_cpu,
            "gc": gc_pauses,
        }

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
            return
        pause = time.perf_counter() - self._gc_start
        count, longest = self._gc.get(info["generation"], (0, 0.0))
        self._gc[info["generation"]] = (count + 1, max(longest, pause))

    async def run(self) -> None:
        """Sleep, measure the oversleep, for ever (cancel to stop). perf_counter, not the
        loop's clock: uvloop's ticks in whole milliseconds, cached per loop iteration. Its
        timers fire on that millisecond grid too, so about 1 ms of lag is the floor."""
        gc.callbacks.append(self._on_gc)
        try:
            while True:
                start, cpu = time.perf_counter(), time.thread_time()
                await asyncio.sleep(self.interval_s)
                end = time.perf_counter()
                self.record(end - start - self.interval_s, end - start, time.thread_time() - cpu)
        finally:
            gc.callbacks.remove(self._on_gc)
