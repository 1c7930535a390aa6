"""cProfile inside a server process, for ``bench.profile`` when py-spy is not installed.

On this directory's PYTHONPATH with ``KINDRED_BENCH_CPROFILE=<file>``, a process gets a
SIGUSR2 handler: the first signal starts profiling its main thread (the event loop), the
second writes the stats to ``<file>.<pid>`` and stops. Other processes (the CLI, the load
generator) never get the signal and are unaffected.
"""

from __future__ import annotations

import os
import signal

_OUT = os.environ.get("KINDRED_BENCH_CPROFILE")

if _OUT:
    import cProfile
    import time

    _state: dict[str, cProfile.Profile] = {}

    def _toggle(signum: int, frame: object) -> None:
        prof = _state.pop("prof", None)
        if prof is None:
            # CPU time of this thread, not wall time: on a shared machine wall time counts the
            # moments the process waited for a core against whatever was running then.
            _state["prof"] = prof = cProfile.Profile(time.thread_time_ns, 1e-9)
            prof.enable()
            return
        prof.disable()
        prof.dump_stats(f"{_OUT}.{os.getpid()}")

    signal.signal(signal.SIGUSR2, _toggle)
