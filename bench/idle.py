"""What an idle gateway costs: CPU seconds per minute with no client connected.

    python bench/idle.py                          # embedded (SQLite, in-process broker)
    python bench/idle.py --redis --gateways 2     # Redis mode: PostgreSQL, two gateways
    python bench/idle.py --seconds 120 --rounds 3

Starts throw-away ``kindred serve`` processes with the server's defaults (only the data
directory and, in Redis mode, the Redis and database URLs are set: not tests/support's
speed-ups), lets them settle for ``--warmup`` seconds, then reads each gateway's CPU time
(user + system, /proc) over ``--seconds`` and prints it per minute, per gateway; ``--rounds``
repeats the window. redis-server's and PostgreSQL's own CPU are not counted.

The code run is whatever ``python -m chat_server`` imports: run it with ``PYTHONPATH`` set to
another checkout to measure that one (before/after). Figures are printed, never judged.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from bench.measure import ProcStat  # noqa: E402
from support.gateways import Gateway, run_cli_steps  # noqa: E402
from support.procs import Postgres, RedisServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", action="store_true", help="Redis mode (PostgreSQL, redis-server)")
    parser.add_argument("--gateways", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kindred-bench-idle-"))
    with contextlib.ExitStack() as stack:
        env = {"KINDRED_DATA_DIR": str(work / "data"), "KINDRED_LOG_LEVEL": "warning"}
        count = 1
        if args.redis:
            redis_server = stack.enter_context(RedisServer(work / "redis"))
            pg = stack.enter_context(Postgres(work / "pg"))
            pg.reset_database()
            env |= {"KINDRED_REDIS_URL": redis_server.url, "KINDRED_DATABASE_URL": pg.url}
            count = args.gateways
        run_cli_steps([["db", "upgrade"], ["seed"]], env, work)
        gateways = [Gateway(env, work, name=f"gw{i}") for i in range(count)]
        for gw in gateways:
            gw.start()
            stack.callback(gw.kill)
        pids = [gw._proc.pid for gw in gateways if gw._proc is not None]
        mode = f"redis, {count} gateway(s), PostgreSQL" if args.redis else "embedded, SQLite"
        time.sleep(args.warmup)
        for i in range(args.rounds):
            stats = [ProcStat([pid]) for pid in pids]
            before = [s.cpu() for s in stats]
            t0 = time.monotonic()
            time.sleep(args.seconds)
            elapsed = time.monotonic() - t0
            per_min = [(s.cpu() - b) * 60 / elapsed for s, b in zip(stats, before, strict=True)]
            shown = ", ".join(f"{v * 1000:.0f}" for v in per_min)
            print(f"idle ({mode}), round {i + 1}: CPU ms per minute per gateway: {shown}"
                  f" (mean {sum(per_min) / len(per_min) * 1000:.0f}; {elapsed:.0f} s window)", flush=True)


if __name__ == "__main__":
    main()
