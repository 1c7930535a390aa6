"""The bench measures Kindred as it ships: the gateways it starts run production's settings,
except the few the bench lifts on purpose (``bench.targets.KINDRED_ENV``: send rate, the
connection cap, argon2 cost, heartbeat and presence timings, the loop-lag probe).

``Deployment.start`` (tests/support, which the bench reuses) lays the tests' ``TEST_ENV``
under the bench's environment. Its values are for tests (a 0.25 s session-scheduler tick,
loose sign-in throttles); one that leaked into the bench made every gateway read its
sessions four times a second, in the middle of the small rooms' deliveries (bench/notes.md,
issue 18: "Small-room tails, one gateway")."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

# bench/ is not installed (it runs as `python -m bench.<module>` from the repository root).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.targets import KINDRED_ENV, kindred_env
from chat_server.config import Settings
from support.cluster import TEST_ENV


def _as_deployment_starts_it(env: dict[str, str]) -> Settings:
    # Deployment.start: {**TEST_ENV, KINDRED_DATA_DIR, **extra_env}; the gateway reads it.
    return Settings.from_env({**TEST_ENV, "KINDRED_DATA_DIR": "/nonexistent", **env})


def test_the_bench_runs_production_settings_but_its_own_lifts() -> None:
    served = _as_deployment_starts_it(kindred_env())
    shipped = Settings()
    lifted = {key.removeprefix("KINDRED_").lower() for key in KINDRED_ENV}
    differ = {
        f.name: (getattr(served, f.name), getattr(shipped, f.name))
        for f in dataclasses.fields(Settings)
        # data_dir is the deployment's; a field built per instance (the gateway's random id)
        # is not a setting the bench could leak.
        if f.name not in lifted and f.name != "data_dir" and f.default_factory is dataclasses.MISSING
        and getattr(served, f.name) != getattr(shipped, f.name)
    }
    assert differ == {}, f"the bench would measure test settings (served, shipped): {differ}"


def test_the_session_scheduler_ticks_as_in_production() -> None:
    # The one that cost latency: the tests' 0.25 s tick against production's 30 s backstop.
    assert TEST_ENV["KINDRED_EVENT_TICK_S"] == "0.25"
    assert _as_deployment_starts_it(kindred_env()).event_tick_s == Settings().event_tick_s == 30.0


def test_a_target_may_still_set_any_setting() -> None:
    env = kindred_env({"KINDRED_EVENT_TICK_S": "5", "KINDRED_RUN_WRITER": "false"})
    served = _as_deployment_starts_it(env)
    assert (served.event_tick_s, served.run_writer) == (5.0, False)
