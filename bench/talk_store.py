"""What the embedded mode's private-talk queue costs now that it is in the database
(chat_server/private_talk/store.py ``DatabaseTalks``, persistence/talks.py), per step.

A migrated SQLite file (WAL, synchronous=FULL, as the server runs it), or PostgreSQL with
``--postgres`` (a throwaway cluster). Each round: ``--waiting`` requests made (``add``), the
queue read ``--reads`` times (``waiting``, what every desk reading and clock step does), the
resources claimed for each (``mark_resources``), each settled (``settle``). Prints the median
and range over rounds of the wall time and this process's CPU per step; never fails on a
number. The queue is not on the message path: a gateway reads it when it changes, at the
clock's deadlines and every 30 s.

    python -m bench.talk_store [--rounds 5] [--waiting 20] [--reads 200] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from chat_server.private_talk.store import DatabaseTalks  # noqa: E402
from persistence import migrate  # noqa: E402
from persistence.db import make_engine, session_factory  # noqa: E402
from rooms.model import Member  # noqa: E402
from rooms.private_talk import CANCELLED, TalkRequest  # noqa: E402
from rooms.roles import Role  # noqa: E402
from support.procs import Postgres  # noqa: E402

Timings = dict[str, list[tuple[float, float]]]  # step -> (wall s, cpu s) per call, per round


async def _timed(out: list[tuple[float, float]], call: Callable[[], Awaitable[object]]) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    await call()
    out.append((time.perf_counter() - wall, time.process_time() - cpu))


async def _round(store: DatabaseTalks, waiting: int, reads: int, now: float) -> Timings:
    steps: Timings = {k: [] for k in ("add", "waiting", "mark_resources", "settle")}
    talks = [TalkRequest("t" + secrets.token_hex(8),
                         Member("u" + secrets.token_hex(8), "member", Role.MEMBER, 1, 7),
                         "riverside-lounge", 1, now + i) for i in range(waiting)]
    for t in talks:
        await _timed(steps["add"], partial(store.add, t))
    for _ in range(reads):
        await _timed(steps["waiting"], store.waiting)
    for t in talks:
        await _timed(steps["mark_resources"], partial(store.mark_resources, t.id, now + 1000))
    for t in talks:
        await _timed(steps["settle"], partial(store.settle, t, CANCELLED, now + 2000))
    return steps


async def _run(url: str, rounds: int, waiting: int, reads: int) -> dict[str, list[tuple[float, float]]]:
    engine = make_engine(url)
    store = DatabaseTalks(session_factory(engine), 3600)
    medians: dict[str, list[tuple[float, float]]] = {}
    try:
        for r in range(rounds):
            steps = await _round(store, waiting, reads, 1_000_000.0 + r * 10_000)
            for step, calls in steps.items():
                medians.setdefault(step, []).append(
                    (statistics.median(w for w, _ in calls), statistics.median(c for _, c in calls)))
    finally:
        await engine.dispose()
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--waiting", type=int, default=20)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with TemporaryDirectory(prefix="kindred-talks-") as tmp:
        if args.postgres:
            with Postgres(Path(tmp)) as pg:
                migrate.upgrade(pg.url)
                result = asyncio.run(_run(pg.url, args.rounds, args.waiting, args.reads))
        else:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'kindred.db'}"
            migrate.upgrade(url)
            result = asyncio.run(_run(url, args.rounds, args.waiting, args.reads))
    kind = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{kind}, {args.waiting} waiting, {args.rounds} rounds (median of each round's median; range)")
    print(f"{'step':<16}{'wall us':>24}{'cpu us':>24}")
    for step, rows in result.items():
        walls = [w * 1e6 for w, _ in rows]
        cpus = [c * 1e6 for _, c in rows]
        print(f"{step:<16}{_fmt(walls):>24}{_fmt(cpus):>24}")


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


if __name__ == "__main__":
    main()
