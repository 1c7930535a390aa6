"""The loop-lag probe (chat_server/looplag.py): a loop held by a synchronous call shows up as
lag; the figures reset on demand; the route exists only when the probe is switched on."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from starlette.routing import Route

from chat_server.app import create_app
from chat_server.config import Settings, SettingsError
from chat_server.looplag import LoopLagProbe, percentile


def test_percentile_is_the_nearest_rank() -> None:
    assert percentile([], 99) is None
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7


def test_summary_counts_since_the_last_reset() -> None:
    probe = LoopLagProbe(0.01)
    for lag in (0.001, 0.002, 0.250):
        probe.record(lag)
    probe.record(-0.001)  # woken early by the clock's granularity: no lag, not negative
    first = probe.summary(reset=True)
    assert first["samples"] == 4 and first["max_ms"] == 250 and first["p50_ms"] == 1
    assert first["long_lags"] == 1 and first["long_lags_on_cpu"] is None  # no times given
    assert probe.summary()["samples"] == 0 and probe.summary()["p99_ms"] is None


async def test_a_blocked_loop_is_seen_as_lag() -> None:
    probe = LoopLagProbe(0.005)
    task = asyncio.create_task(probe.run())
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.2)  # noqa: ASYNC251 - the loop held on purpose, as by a long fan-out or a GC
        await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    figures = probe.summary()
    # A lower bound only: a busy machine can make the lag longer, never shorter.
    assert figures["max_ms"] >= 150, figures
    # The loop was held by a sleep, not by work: off the CPU (a busy machine cannot make
    # a sleeping thread use CPU).
    assert figures["long_lags"] >= 1 and figures["long_lags_on_cpu"] < 0.5, figures


def test_the_route_is_mounted_only_with_the_probe(tmp_path: Path) -> None:
    def paths(app_settings: Settings) -> set[str]:
        return {r.path for r in create_app(app_settings).routes if isinstance(r, Route)}

    assert "/debug/loop-lag" not in paths(Settings.from_env({}, data_dir=tmp_path))
    on = Settings.from_env({"KINDRED_LOOP_LAG_PROBE_MS": "10"}, data_dir=tmp_path)
    assert on.loop_lag_probe_ms == 10 and "/debug/loop-lag" in paths(on)
    with pytest.raises(SettingsError, match="LOOP_LAG_PROBE_MS"):
        Settings.from_env({"KINDRED_LOOP_LAG_PROBE_MS": "-1"}, data_dir=tmp_path)
