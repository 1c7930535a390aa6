"""How many messages per second the transcript writers commit, on SQLite and PostgreSQL.

Per database, each round:
  store     persistence.transcripts.store() in batches, in this process (the database half);
  embedded  SQLite only: the embedded mode's EmbeddedWriter, every row submitted at once and
            awaited (what `kindred serve` without Redis does);
  writer/N  the Redis writer end to end in N separate processes (`--writers 1,2`): entries
            queued in the commits stream first, then read by the consumer group, committed,
            acknowledged and deleted, until the stream is empty.
The search index is kept current throughout (FTS5 triggers, PostgreSQL's generated tsvector
and its GIN index). Rates are medians over the rounds; CPU is microseconds per message,
from /proc: the writer's own process(es) (on SQLite that includes the database work), the
PostgreSQL server processes and redis-server. Real redis-server and PostgreSQL are started
in temp dirs (Debian packages). Prints a table; never fails on a number.

    python -m bench.writer [--messages 20000] [--batch 5000] [--writers 1,2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from chat_server.keys import COMMITS_STREAM  # noqa: E402
from chat_server.protocol.message import message_frame  # noqa: E402
from chat_server.transcripts.embedded import EmbeddedWriter  # noqa: E402
from chat_server.transcripts.redis_writer import RedisWriter  # noqa: E402
from persistence import accounts, migrate, transcripts  # noqa: E402
from persistence.db import make_engine, session_factory  # noqa: E402
from persistence.transcripts import NewMessage  # noqa: E402
from support.procs import Postgres, RedisServer  # noqa: E402

ROOMS = 20
BODY = "Thank you all for sharing today. The waiting is the hardest part for me. " * 2
TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def server_cpu_s(root: int | None) -> float:
    """CPU seconds of a server process and its children, live or ended: its own utime and
    stime, what its reaped children used (cutime, cstime: PostgreSQL backends that have
    ended), and its live children's. Differences of two readings count every backend that
    ran in between, however short-lived."""
    if root is None:
        return 0.0
    try:
        f = _stat(root)
    except OSError:
        return 0.0
    total = sum(int(x) for x in f[11:15])
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                kid = _stat(int(entry.name))
            except (OSError, IndexError):
                continue
            if int(kid[1]) == root:
                total += int(kid[11]) + int(kid[12])
    return total / TICK


def _pid(server: Any) -> int | None:
    proc = getattr(server, "_proc", None)
    return proc.pid if proc is not None else None


async def _author(url: str) -> int:
    engine = make_engine(url)
    now = datetime.now(UTC).replace(tzinfo=None)
    async with session_factory(engine)() as db:
        org = await accounts.add_org(db, "Bench", "bench", uuid.uuid4().hex, [], now)
        assert org.id is not None
        user = await accounts.create_user(db, org.id, "bench", "bench", "bench@example.org", "x", now)
    await engine.dispose()
    assert user.id is not None
    return user.id


def _rows(n: int, author: int, offset: int) -> list[NewMessage]:
    return [
        NewMessage(uuid.uuid4().hex, f"room-{i % ROOMS}", offset + i // ROOMS + 1, author,
                   f"c{offset}-{i}", BODY, None, 1_700_000_000_000 + i)
        for i in range(n)
    ]


class Meter:
    """Wall time and CPU seconds (the backing servers', and this process's) over a phase."""

    def __init__(self, backing: Callable[[], float]) -> None:
        self.backing = backing

    def __enter__(self) -> Meter:
        self.t0, self.b0, self.p0 = time.perf_counter(), self.backing(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.own_s = time.process_time() - self.p0
        self.backing_s = self.backing() - self.b0


async def bench_store(url: str, author: int, n: int, batch: int, offset: int,
                      backing: Callable[[], float]) -> dict[str, float]:
    rows = _rows(n, author, offset)
    engine = make_engine(url)
    db = session_factory(engine)
    with Meter(backing) as m:
        for i in range(0, n, batch):
            async with db() as session:
                await transcripts.store(session, rows[i:i + batch])
    await engine.dispose()
    return {"rate": n / m.wall, "writer_us": m.own_s / n * 1e6, "db_us": m.backing_s / n * 1e6}


async def bench_embedded(url: str, author: int, n: int, batch: int, offset: int) -> dict[str, float]:
    rows = _rows(n, author, offset)
    engine = make_engine(url)
    writer = EmbeddedWriter(session_factory(engine), max_batch=batch, max_queue=n)
    writer.start()
    with Meter(lambda: 0.0) as m:
        await asyncio.gather(*[writer.submit(row, lambda: None) for row in rows])
    await writer.stop()
    await engine.dispose()
    return {"rate": n / m.wall, "writer_us": m.own_s / n * 1e6, "db_us": 0.0}


async def _fill(redis_url: str, author: int, n: int, offset: int) -> None:
    redis = Redis.from_url(redis_url)
    await redis.delete(COMMITS_STREAM)
    author_view = {"id": "u", "handle": "h", "role": "member"}
    for i in range(0, n, 5000):
        async with redis.pipeline(transaction=False) as pipe:
            for m in _rows(min(5000, n - i), author, offset + i):
                frame = message_frame(m.room, m.id, m.seq, author_view, m.body, None, m.created_ms, None)
                pipe.xadd(COMMITS_STREAM, {"r": m.room, "s": m.seq, "a": author, "c": m.cid, "f": frame})
            await pipe.execute()
    await redis.aclose()


async def _writer_child(url: str, redis_url: str, batch: int, name: str) -> None:
    """One writer process: wait for the go, write until the stream is empty, report CPU."""
    redis = Redis.from_url(redis_url)
    engine = make_engine(url)
    writer = RedisWriter(redis, session_factory(engine), batch, claim_idle_s=60, consumer=name)
    await redis.blpop(["bench:go"], timeout=120)
    cpu0 = time.process_time()
    writer.start()
    while await redis.xlen(COMMITS_STREAM) > 0:  # noqa: ASYNC110 (polling Redis, every 10 ms)
        await asyncio.sleep(0.01)
    cpu = time.process_time() - cpu0
    await writer.stop()
    print(json.dumps({"name": name, "cpu_s": cpu, "committed": writer.committed}), flush=True)
    await redis.aclose()
    await engine.dispose()


async def bench_writers(url: str, author: int, redis_url: str, n: int, batch: int, writers: int,
                        offset: int, backing: Callable[[], float]) -> dict[str, float]:
    await _fill(redis_url, author, n, offset)
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.writer", "--child", url, redis_url, str(batch),
            f"w{offset}-{k}", cwd=ROOT, stdout=asyncio.subprocess.PIPE)
        for k in range(writers)
    ]
    redis = Redis.from_url(redis_url)
    try:
        await asyncio.sleep(1.0)  # the children import and connect
        backing0 = backing()
        start = time.perf_counter()
        await redis.rpush("bench:go", *["go"] * writers)
        deadline = time.monotonic() + 600
        while await redis.xlen(COMMITS_STREAM) > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{await redis.xlen(COMMITS_STREAM)} entries still queued after 600 s")
            await asyncio.sleep(0.005)
        wall = time.perf_counter() - start
        reports = []
        for child in children:
            out, _ = await asyncio.wait_for(child.communicate(), 60)
            reports.append(json.loads(out.decode().strip().splitlines()[-1]))
        await asyncio.sleep(0.3)  # the ended backends reaped, so their CPU is counted
        backing_s = backing() - backing0
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
        await redis.delete("bench:go")
        await redis.aclose()
    committed = sum(r["committed"] for r in reports)
    assert committed >= n, f"only {committed} of {n} committed"
    cpu = sum(r["cpu_s"] for r in reports)
    return {"rate": n / wall, "writer_us": cpu / n * 1e6, "db_us": backing_s / n * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=5000, help="KINDRED_WRITER_BATCH's default")
    parser.add_argument("--writers", default="1,2", help="Redis writer process counts to run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--json", default="", help="also write the medians to this file")
    parser.add_argument("--child", nargs=4, metavar=("DB_URL", "REDIS_URL", "BATCH", "NAME"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, redis_url, batch, name = args.child
        asyncio.run(_writer_child(url, redis_url, int(batch), name))
        return
    counts = [int(w) for w in args.writers.split(",") if w]
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    n = args.messages
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with RedisServer(work / "redis") as redis_server, Postgres(work / "pg") as pg:
            dbs = {"sqlite": ("SQLite (WAL, synchronous=FULL)", f"sqlite+aiosqlite:///{work / 'k.db'}"),
                   "postgres": ("PostgreSQL 15", pg.url)}
            chosen = [dbs[d] for d in args.databases.split(",") if d]
            authors = {}
            for _, url in chosen:
                migrate.upgrade(url)
                authors[url] = asyncio.run(_author(url))
            offset = 0
            for _ in range(args.rounds):
                for name, url in chosen:
                    is_pg = url.startswith("postgresql")

                    def db_cpu(is_pg: bool = is_pg) -> float:
                        return server_cpu_s(_pid(pg)) if is_pg else 0.0

                    def backing_cpu(is_pg: bool = is_pg) -> float:
                        return db_cpu(is_pg) + server_cpu_s(_pid(redis_server))

                    author = authors[url]
                    offset += 10_000_000
                    results.setdefault((name, "store"), []).append(
                        asyncio.run(bench_store(url, author, n, args.batch, offset, db_cpu)))
                    if url.startswith("sqlite"):
                        offset += 10_000_000
                        results.setdefault((name, "embedded"), []).append(
                            asyncio.run(bench_embedded(url, author, n, args.batch, offset)))
                    for count in counts:
                        offset += 10_000_000
                        results.setdefault((name, f"writer/{count}"), []).append(asyncio.run(bench_writers(
                            url, author, redis_server.url, n, args.batch, count, offset, backing_cpu)))
    load = os.getloadavg()
    print(f"\ntranscript writers: {n} messages, batches of {args.batch}, {ROOMS} rooms, "
          f"{args.rounds} rounds (medians); load average at the end {load[0]:.1f}")
    print(f"{'database':32} {'path':9} {'messages/s':>11} {'runs':>24} {'writer us/msg':>14} {'db+redis us/msg':>16}")
    for (name, path), runs in results.items():
        rates = [r["rate"] for r in runs]
        print(f"{name:32} {path:9} {statistics.median(rates):11,.0f} "
              f"{'/'.join(f'{r / 1000:.1f}k' for r in rates):>24} "
              f"{statistics.median(r['writer_us'] for r in runs):14.1f} "
              f"{statistics.median(r['db_us'] for r in runs):16.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "messages": n, "batch": args.batch, "rounds": args.rounds,
            "paths": [{"database": name, "path": path,
                       "rate": statistics.median(r["rate"] for r in runs),
                       "runs": [r["rate"] for r in runs],
                       "writer_us": statistics.median(r["writer_us"] for r in runs),
                       "db_us": statistics.median(r["db_us"] for r in runs)}
                      for (name, path), runs in results.items()]}, indent=1))


if __name__ == "__main__":
    main()
