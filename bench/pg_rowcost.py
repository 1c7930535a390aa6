"""PostgreSQL's own CPU per inserted transcript row, by schema and insert variant.

Each variant is a copy of ``messages`` (as migrated) in its own database, changed as the
variant says; the same batches go into each in turn (alternating, so the machine's load
falls on all alike, and every table grows alike). The figure is the backend's own CPU (its
/proc utime + stime, read by its pid) per row, which a busy machine moves much less than a
wall-clock rate. Prints a table; never fails on a number.

    python -m bench.pg_rowcost [--batches 5] [--batch 5000] [--rounds 3] [--variants a,b]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench.writer import _author  # noqa: E402
from persistence import migrate  # noqa: E402
from persistence.transcripts import NewMessage  # noqa: E402
from support.procs import Postgres  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
BODY = "Thank you all for sharing today. The waiting is the hardest part for me. " * 2
COLUMNS = NewMessage._fields
NAMES = ", ".join(COLUMNS)
STAGE = ("CREATE TEMP TABLE IF NOT EXISTS incoming_messages (id text, room text, seq bigint, "
         "author_id integer, cid text, body text, reply_to text, thread_root text, "
         "created_ms bigint) ON COMMIT DELETE ROWS")

# name -> (DDL run once on the migrated database, how a batch goes in)
VARIANTS: dict[str, tuple[list[str], str]] = {
    # as before 0012_writer_speed, and the staged insert the writers used then
    "before_0012_staged": ([
        "CREATE INDEX ix_messages_author_id ON messages (author_id)",
        "DROP INDEX ix_messages_thread_root",
        "CREATE INDEX ix_messages_thread_root ON messages (thread_root)",
    ], "staged"),
    "staged": ([], "staged"),  # the schema as migrated (head), staged insert
    "copy_direct": ([], "direct"),  # the schema as migrated, COPY straight into messages
    "gin_fastupdate_off": (["ALTER INDEX ix_messages_search SET (fastupdate = off)"], "direct"),
    "no_fk": (["ALTER TABLE messages DROP CONSTRAINT messages_author_id_fkey"], "direct"),
    "no_gin": (["DROP INDEX ix_messages_search"], "direct"),
    "no_search": (["DROP INDEX ix_messages_search", "ALTER TABLE messages DROP COLUMN search"], "direct"),
}


def cpu_s(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def rows(n: int, author: int, offset: int) -> list[NewMessage]:
    return [NewMessage(uuid.uuid4().hex, f"room-{i % 20}", offset + i // 20 + 1, author,
                       f"c{offset}-{i}", BODY, None, 1_700_000_000_000 + i) for i in range(n)]


async def insert(pg: asyncpg.Connection, batch: list[NewMessage], how: str) -> None:
    async with pg.transaction():
        if how == "direct":
            await pg.copy_records_to_table("messages", records=batch, columns=COLUMNS)
            return
        await pg.execute(STAGE)
        await pg.copy_records_to_table("incoming_messages", records=batch, columns=COLUMNS)
        await pg.execute(f"INSERT INTO messages ({NAMES}) SELECT {NAMES} FROM incoming_messages "
                         "ORDER BY room, seq ON CONFLICT DO NOTHING")


async def prepare(url: str, ddl: list[str]) -> tuple[asyncpg.Connection, int, int]:
    author = await _author(url.replace("postgresql://", "postgresql+asyncpg://"))
    pg = await asyncpg.connect(url)
    for statement in ddl:
        await pg.execute(statement)
    return pg, author, await pg.fetchval("SELECT pg_backend_pid()")


async def run(base: str, names: list[str], batches: int, size: int, rounds: int) -> None:
    conns = {name: await prepare(f"{base}/{name}", VARIANTS[name][0]) for name in names}
    cost: dict[str, list[float]] = {name: [] for name in names}
    offset = 0
    for _ in range(rounds + 1):  # the first round warms up (caches, the table's first pages)
        for name in names:
            pg, author, pid = conns[name]
            offset += 10_000_000
            data = rows(batches * size, author, offset)
            before = cpu_s(pid)
            for i in range(0, len(data), size):
                await insert(pg, data[i:i + size], VARIANTS[name][1])
            cost[name].append((cpu_s(pid) - before) / len(data) * 1e6)
    print(f"\nPostgreSQL backend CPU per row, batches of {size}, {batches} per round, "
          f"{rounds} rounds after a warm-up; load average {os.getloadavg()[0]:.1f}")
    print(f"{'variant':32} {'us/row median':>14}  runs")
    for name in names:
        runs = cost[name][1:]
        print(f"{name:32} {statistics.median(runs):14.1f}  {' / '.join(f'{r:.1f}' for r in runs)}")
    for pg, _, _ in conns.values():
        await pg.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    names = [v for v in args.variants.split(",") if v]
    with TemporaryDirectory() as tmp, Postgres(Path(tmp) / "pg") as server:
        for name in names:
            server.psql(f"CREATE DATABASE {name}")
            migrate.upgrade(server.url.rsplit("/", 1)[0] + f"/{name}")
        base = server.url.rsplit("/", 1)[0].replace("postgresql+asyncpg", "postgresql")
        asyncio.run(run(base, names, args.batches, args.batch, args.rounds))


if __name__ == "__main__":
    main()
