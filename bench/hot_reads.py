"""What a join-path read costs on the main pool (``pool_pre_ping``) and on the join path's own
pool (persistence/hot_reads.py): the stored-head read (``room_facts.stored_head``), one at a
time, against a real PostgreSQL started for the run.

    python -m bench.hot_reads --rounds 3 --reads 2000

Each round runs both ways, alternated (pinged first in odd rounds), and prints per read: this
process's CPU, PostgreSQL's CPU (the server and its backends, from /proc) and wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench.writer import _pid, server_cpu_s  # noqa: E402
from persistence import migrate, room_facts  # noqa: E402
from persistence.db import make_engine  # noqa: E402
from persistence.hot_reads import HotReads  # noqa: E402
from support.procs import Postgres  # noqa: E402


async def _pinged(url: str, reads: int) -> None:
    engine = make_engine(url)
    try:
        for _ in range(reads):
            async with engine.connect() as conn:  # what readers.py did: main pool, autocommit
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await room_facts.stored_head(conn, "lounge")
    finally:
        await engine.dispose()


async def _hot(url: str, reads: int) -> None:
    engine = make_engine(url)
    hot = HotReads(engine)
    try:
        for _ in range(reads):
            await hot.run(lambda conn: room_facts.stored_head(conn, "lounge"))
    finally:
        await hot.close()
        await engine.dispose()


def _measure(pg: Postgres, way: str, reads: int) -> tuple[float, float, float]:
    run = _pinged if way == "pinged" else _hot
    asyncio.run(run(pg.url, 50))  # warm-up: imports, the statement's compile cache
    cpu, db, wall = time.process_time(), server_cpu_s(_pid(pg)), time.monotonic()
    asyncio.run(run(pg.url, reads))
    n = reads / 1e6
    return ((time.process_time() - cpu) / n, (server_cpu_s(_pid(pg)) - db) / n,
            (time.monotonic() - wall) / n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reads", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Postgres(Path(tmp) / "pg") as pg:
        migrate.upgrade(pg.url)
        for r in range(args.rounds):
            ways = ("pinged", "hot") if r % 2 == 0 else ("hot", "pinged")
            for way in ways:
                mine, db, wall = _measure(pg, way, args.reads)
                print(f"round {r + 1} {way:6}: this process {mine:6.1f} µs/read, "
                      f"PostgreSQL {db:6.1f} µs/read, wall {wall:6.1f} µs/read", flush=True)


if __name__ == "__main__":
    main()
