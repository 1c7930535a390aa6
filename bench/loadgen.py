"""The load generator: one process, asyncio (uvloop when available), the real protocol.

    python -m bench.loadgen CONFIG.json      # prints one JSON object with the figures

It is started by ``bench.run`` once per workload and run, and stops by itself: every phase
has a fixed length and every wait a deadline. It measures the server from outside: server
CPU and RSS are read from ``/proc`` for the process ids it is given (same machine), client
CPU from its own rusage. Latency is send-to-receive, from a timestamp the sender writes into
the message body (same process, same monotonic clock).

Workloads (``workload`` in the config):
  rooms    many small rooms, a few senders each at a fixed rate
  webinar  one big room, one sender stepping its rate up until p99 > 100 ms or a loss
  idle     many connections joined to rooms and left idle: RSS per connection, setup rate
  storm    connections dropped at once and resuming at once: time to resume
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
from collections.abc import Callable
from typing import Any

from bench.gen import Gen, Peer, Window
from bench.measure import ProcStat, Stats, percentile, stamp, unstamp
from bench.workloads import WORKLOADS

# What other tools (bench.fill, bench.soak) take from here.
__all__ = ["WORKLOADS", "Gen", "Peer", "ProcStat", "Stats", "Window", "percentile", "stamp", "unstamp"]


def main() -> None:
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    with contextlib.suppress(ValueError, OSError):
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:
        runner = asyncio.run
    gen = Gen(cfg)
    result = runner(asyncio.wait_for(WORKLOADS[cfg["workload"]](gen, cfg), cfg.get("deadline_s", 600)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
