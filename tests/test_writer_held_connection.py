"""The Redis mode's transcript writer on PostgreSQL keeps one connection from batch to batch
(no pool check-out, so no pre-ping round trips per batch), and a held connection the server
drops is replaced: the batch is committed on a new one, every row once.

Real PostgreSQL and redis-server; check-outs are counted with SQLAlchemy's pool events.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from chat_server.keys import COMMITS_STREAM, DEAD_STREAM
from chat_server.protocol.message import message_frame
from chat_server.transcripts.redis_writer import RedisWriter
from persistence import accounts, migrate
from persistence.db import make_engine, session_factory
from support.procs import Postgres, RedisServer
from support.writer import eventually

ROOM = "held-room"


@pytest.fixture
async def pg_engine(postgres: Postgres) -> AsyncIterator[tuple[str, AsyncEngine, int]]:
    await asyncio.to_thread(postgres.reset_database)
    await asyncio.to_thread(migrate.upgrade, postgres.url)
    engine = make_engine(postgres.url)
    now = datetime.now(UTC).replace(tzinfo=None)
    async with session_factory(engine)() as session:
        org = await accounts.add_org(session, "Held", "held", uuid.uuid4().hex, [], now)
        assert org.id is not None
        user = await accounts.create_user(session, org.id, "holder", "holder", "h@example.org", "x", now)
    assert user.id is not None
    yield postgres.url, engine, user.id
    await engine.dispose()


async def _post(redis: Redis, author: int, seqs: range) -> None:
    for seq in seqs:
        message_id = uuid.uuid4().hex
        frame = message_frame(ROOM, message_id, seq, {"id": "u", "handle": "h", "role": "member"},
                              f"note {seq}", None, 1_700_000_000_000 + seq, None)
        await redis.xadd(COMMITS_STREAM, {"r": ROOM, "s": seq, "a": author, "c": f"c-{seq}", "f": frame})


async def _stored(url: str) -> list[int]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return [r[0] for r in await conn.fetch("SELECT seq FROM messages WHERE room = $1 ORDER BY seq", ROOM)]
    finally:
        await conn.close()


async def _terminate_others(url: str) -> int:
    """End every other backend of this database (the writer's held connection among them)."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return int(await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ))
    finally:
        await conn.close()


async def test_batches_share_one_connection_and_a_dropped_one_is_replaced(
    pg_engine: tuple[str, AsyncEngine, int], redis_server: RedisServer
) -> None:
    url, engine, author = pg_engine
    checkouts = 0

    def counted(*_: Any) -> None:
        nonlocal checkouts
        checkouts += 1

    event.listen(engine.sync_engine, "checkout", counted)
    redis = Redis.from_url(redis_server.url)
    await redis.delete(COMMITS_STREAM, DEAD_STREAM)
    writer = RedisWriter(redis, session_factory(engine), batch=1000, claim_idle_s=60, consumer="held")
    writer.start()
    try:
        for batch in range(4):  # four batches, each committed before the next is posted
            await _post(redis, author, range(10 * batch + 1, 10 * batch + 11))
            await eventually(lambda n=10 * (batch + 1): _committed(writer, n), 30, "the batch committed")
        assert checkouts == 1

        assert await _terminate_others(url) >= 1
        await _post(redis, author, range(41, 51))
        await eventually(lambda: _committed(writer, 50), 30, "the batch after the drop committed")
        assert checkouts == 2  # one new connection, not one per batch
        assert await redis.xlen(COMMITS_STREAM) == 0
        assert await redis.xlen(DEAD_STREAM) == 0
    finally:
        await writer.stop()
        await redis.aclose()
    assert await _stored(url) == list(range(1, 51))


async def _committed(writer: RedisWriter, n: int) -> bool:
    return writer.committed >= n


async def test_a_held_connection_that_stops_answering_is_replaced_after_the_timeout(
    pg_engine: tuple[str, AsyncEngine, int], redis_server: RedisServer
) -> None:
    # The held connection's statement never returns (here: the table is locked by another
    # session, as a silently dropped connection would never answer). Past the writer's
    # timeout it is dropped and the batch retried on a new connection; once the table is
    # free, the batch lands, every row once.
    url, engine, author = pg_engine
    checkouts = 0

    def counted(*_: Any) -> None:
        nonlocal checkouts
        checkouts += 1

    event.listen(engine.sync_engine, "checkout", counted)
    redis = Redis.from_url(redis_server.url)
    await redis.delete(COMMITS_STREAM, DEAD_STREAM)
    writer = RedisWriter(redis, session_factory(engine), batch=1000, claim_idle_s=60, consumer="stall")
    writer.STATEMENT_TIMEOUT_S = 0.5
    locker = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    writer.start()
    try:
        async with locker.transaction():
            await locker.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
            await _post(redis, author, range(1, 11))
            await eventually(lambda: _checked_out(checkouts, 3), 20, "the stalled connection replaced")
            assert writer.committed == 0
        await eventually(lambda: _committed(writer, 10), 30, "the batch committed once free")
        assert await redis.xlen(DEAD_STREAM) == 0
    finally:
        await locker.close()
        await writer.stop()
        await redis.aclose()
    assert await _stored(url) == list(range(1, 11))


async def _checked_out(count: int, n: int) -> bool:
    return count >= n


async def test_refused_rows_do_not_cost_a_new_connection_each(
    pg_engine: tuple[str, AsyncEngine, int], redis_server: RedisServer
) -> None:
    # Rows by an author the database does not know are refused (a foreign key): the batch
    # is retried row by row and those rows set aside, all on the one held connection.
    url, engine, author = pg_engine
    checkouts = 0

    def counted(*_: Any) -> None:
        nonlocal checkouts
        checkouts += 1

    event.listen(engine.sync_engine, "checkout", counted)
    redis = Redis.from_url(redis_server.url)
    await redis.delete(COMMITS_STREAM, DEAD_STREAM)
    await _post(redis, author, range(1, 4))
    await _post(redis, 999_999, range(4, 7))  # refused
    await _post(redis, author, range(7, 11))
    writer = RedisWriter(redis, session_factory(engine), batch=1000, claim_idle_s=60, consumer="bad")
    writer.start()
    try:
        await eventually(lambda: _committed(writer, 7), 30, "the good rows committed")
        assert await redis.xlen(DEAD_STREAM) == 3
        assert await redis.xlen(COMMITS_STREAM) == 0
        assert checkouts == 1
    finally:
        await writer.stop()
        await redis.aclose()
    assert await _stored(url) == [1, 2, 3, 7, 8, 9, 10]
