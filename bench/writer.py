"""How many messages per second the transcript writer commits, on SQLite and PostgreSQL.

Two figures per database:
  store    persistence.transcripts.store() in batches (the writer's database half alone);
  writer   the Redis writer end to end: entries queued in the commits stream, read by the
           consumer group, inserted, acknowledged and deleted (PostgreSQL and SQLite).
Real redis-server and PostgreSQL are started in temp dirs (Debian packages). Prints a table.

    python -m bench.writer [--messages 50000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chat_server.keys import COMMITS_STREAM
from chat_server.transcripts.redis_writer import RedisWriter
from chat_server.wire import message_frame
from persistence import accounts, migrate, transcripts
from persistence.db import make_engine, session_factory
from persistence.transcripts import NewMessage
from support.procs import Postgres, RedisServer

ROOMS = 20
BODY = "Thank you all for sharing today. The waiting is the hardest part for me. " * 2


async def _author(url: str) -> int:
    engine = make_engine(url)
    async with session_factory(engine)() as db:
        org = await accounts.add_org(db, "Bench", "bench", uuid.uuid4().hex, [], datetime.now(UTC).replace(tzinfo=None))
        assert org.id is not None
        user = await accounts.create_user(
            db, org.id, "bench", "bench", "bench@example.org", "x", datetime.now(UTC).replace(tzinfo=None)
        )
    await engine.dispose()
    assert user.id is not None
    return user.id


def _rows(n: int, author: int, offset: int) -> list[NewMessage]:
    return [
        NewMessage(uuid.uuid4().hex, f"room-{i % ROOMS}", offset + i // ROOMS + 1, author,
                   f"c{offset}-{i}", BODY, None, 1_700_000_000_000 + i)
        for i in range(n)
    ]


async def bench_store(url: str, author: int, n: int, batch: int) -> float:
    rows = _rows(n, author, 0)
    engine = make_engine(url)
    db = session_factory(engine)
    start = time.perf_counter()
    for i in range(0, n, batch):
        async with db() as session:
            await transcripts.store(session, rows[i:i + batch])
    elapsed = time.perf_counter() - start
    async with db() as session:
        stored = sum((await transcripts.heads(session)).values())
    await engine.dispose()
    assert stored >= n, f"only {stored} of {n} rows stored"
    return n / elapsed


async def bench_writer(url: str, author: int, redis_url: str, n: int, batch: int) -> float:
    redis = Redis.from_url(redis_url)
    await redis.delete(COMMITS_STREAM)
    offset = 1_000_000
    async with redis.pipeline(transaction=False) as pipe:
        for m in _rows(n, author, offset):
            frame = message_frame(m.room, m.id, m.seq, {"id": "u", "handle": "h", "role": "member"},
                                  m.body, None, m.created_ms, None)
            pipe.xadd(COMMITS_STREAM, {"r": m.room, "s": m.seq, "a": author, "c": m.cid, "f": frame})
        await pipe.execute()
    engine = make_engine(url)
    writer = RedisWriter(redis, session_factory(engine), batch, claim_idle_s=60, consumer="bench")
    start = time.perf_counter()
    writer.start()
    while writer.committed < n:  # noqa: ASYNC110 (polling a counter, once per 5 ms)
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    await writer.stop()
    assert await redis.xlen(COMMITS_STREAM) == 0
    await redis.aclose()
    await engine.dispose()
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    results: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with RedisServer(work / "redis") as redis_server, Postgres(work / "pg") as pg:
            for name, url in (("SQLite (WAL, synchronous=FULL)", f"sqlite+aiosqlite:///{work / 'k.db'}"),
                              ("PostgreSQL 15", pg.url)):
                migrate.upgrade(url)
                author = asyncio.run(_author(url))
                results.append((name, "store", asyncio.run(
                    bench_store(url, author, args.messages, args.batch))))
                results.append((name, "writer", asyncio.run(
                    bench_writer(url, author, redis_server.url, args.messages, args.batch))))
    print(f"\ntranscript writer: {args.messages} messages, batches of {args.batch}, {ROOMS} rooms")
    print(f"{'database':34} {'path':8} {'messages/s':>12}")
    for name, path, rate in results:
        print(f"{name:34} {path:8} {rate:12,.0f}")


if __name__ == "__main__":
    main()
