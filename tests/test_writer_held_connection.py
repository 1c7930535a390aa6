"""The Redis mode's transcript writer on PostgreSQL keeps one connection from batch to batch
(no pool check-out, so no pre-ping round trips per batch), and a held connection the server
drops is replaced: the batch is committed on a new one, every row once.

Real PostgreSQL and redis-server; check-outs are counted with SQLAlchemy's pool events.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from chat_server.keys import COMMITS_STREAM, DEAD_STREAM
from chat_server.protocol.message import message_frame
from chat_server.transcripts.redis_writer import RedisWriter
from persistence import migrate
from persistence.db import make_engine, session_factory
from support.procs import Postgres, RedisServer
from support.stored import org_members
from support.writer import eventually

ROOM = "held-room"


@dataclass
class Rig:
    """A migrated PostgreSQL with one author, its engine with check-outs counted, and a Redis
    client on emptied streams."""

    dsn: str  # for asyncpg directly
    engine: AsyncEngine
    author: int
    redis: Redis
    checkouts: int = 0

    def counted(self, *_: Any) -> None:
        self.checkouts += 1

    def writer(self, consumer: str) -> RedisWriter:
        return RedisWriter(self.redis, session_factory(self.engine), batch=1000, claim_idle_s=60,
                           consumer=consumer)

    async def stored(self) -> list[int]:
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch("SELECT seq FROM messages WHERE room = $1 ORDER BY seq", ROOM)
            return [r[0] for r in rows]
        finally:
            await conn.close()


@pytest.fixture
async def rig(postgres: Postgres, redis_server: RedisServer) -> AsyncIterator[Rig]:
    await asyncio.to_thread(postgres.reset_database)
    await asyncio.to_thread(migrate.upgrade, postgres.url)
    engine = make_engine(postgres.url)
    [author] = await org_members(session_factory(engine), ["holder"])
    redis = Redis.from_url(redis_server.url)
    await redis.delete(COMMITS_STREAM, DEAD_STREAM)
    found = Rig(postgres.dsn, engine, author, redis)
    event.listen(engine.sync_engine, "checkout", found.counted)
    try:
        yield found
    finally:
        await redis.aclose()
        await engine.dispose()


async def _post(redis: Redis, author: int, seqs: range) -> None:
    for seq in seqs:
        message_id = uuid.uuid4().hex
        frame = message_frame(ROOM, message_id, seq, {"id": "u", "handle": "h", "role": "member"},
                              f"note {seq}", None, 1_700_000_000_000 + seq, None)
        await redis.xadd(COMMITS_STREAM, {"r": ROOM, "s": seq, "a": author, "c": f"c-{seq}", "f": frame})


def _true(condition: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    """``condition`` as ``eventually`` polls it."""
    async def check() -> bool:
        return condition()
    return check


async def _terminate_others(dsn: str) -> int:
    """End every other backend of this database (the writer's held connection among them)."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ))
    finally:
        await conn.close()


async def test_batches_share_one_connection_and_a_dropped_one_is_replaced(rig: Rig) -> None:
    writer = rig.writer("held")
    writer.start()
    try:
        for batch in range(4):  # four batches, each committed before the next is posted
            await _post(rig.redis, rig.author, range(10 * batch + 1, 10 * batch + 11))
            await eventually(_true(lambda n=10 * (batch + 1): writer.committed >= n), 30,
                             "the batch committed")
        assert rig.checkouts == 1

        assert await _terminate_others(rig.dsn) >= 1
        await _post(rig.redis, rig.author, range(41, 51))
        await eventually(_true(lambda: writer.committed >= 50), 30,
                         "the batch after the drop committed")
        assert rig.checkouts == 2  # one new connection, not one per batch
        assert await rig.redis.xlen(COMMITS_STREAM) == 0
        assert await rig.redis.xlen(DEAD_STREAM) == 0
    finally:
        await writer.stop()
    assert await rig.stored() == list(range(1, 51))


async def test_a_held_connection_that_stops_answering_is_replaced_after_the_timeout(rig: Rig) -> None:
    # The held connection's statement never returns (here: the table is locked by another
    # session, as a silently dropped connection would never answer). Past the writer's
    # timeout it is dropped and the batch retried on a new connection; once the table is
    # free, the batch lands, every row once.
    writer = rig.writer("stall")
    writer.STATEMENT_TIMEOUT_S = 0.5
    locker = await asyncpg.connect(rig.dsn)
    writer.start()
    try:
        async with locker.transaction():
            await locker.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
            await _post(rig.redis, rig.author, range(1, 11))
            await eventually(_true(lambda: rig.checkouts >= 3), 20, "the stalled connection replaced")
            assert writer.committed == 0
        await eventually(_true(lambda: writer.committed >= 10), 30, "the batch committed once free")
        assert await rig.redis.xlen(DEAD_STREAM) == 0
    finally:
        await locker.close()
        await writer.stop()
    assert await rig.stored() == list(range(1, 11))


async def test_refused_rows_do_not_cost_a_new_connection_each(rig: Rig) -> None:
    # Rows by an author the database does not know are refused (a foreign key): the batch
    # is retried row by row and those rows set aside, all on the one held connection.
    await _post(rig.redis, rig.author, range(1, 4))
    await _post(rig.redis, 999_999, range(4, 7))  # refused
    await _post(rig.redis, rig.author, range(7, 11))
    writer = rig.writer("bad")
    writer.start()
    try:
        await eventually(_true(lambda: writer.committed >= 7), 30, "the good rows committed")
        assert await rig.redis.xlen(DEAD_STREAM) == 3
        assert await rig.redis.xlen(COMMITS_STREAM) == 0
        assert rig.checkouts == 1
    finally:
        await writer.stop()
    assert await rig.stored() == [1, 2, 3, 7, 8, 9, 10]


async def test_after_a_batch_that_did_not_fill_the_writer_waits_gather_s(rig: Rig) -> None:
    # KINDRED_WRITER_GATHER_S: a trickle is committed once per wait, not once per message.
    # With a 2 s wait, an entry posted just after a commit is not committed within 1 s (a
    # busy machine only makes that later), then is.
    writer = RedisWriter(rig.redis, session_factory(rig.engine), batch=1000, claim_idle_s=60,
                         consumer="gather", gather_s=2.0)
    writer.start()
    try:
        await _post(rig.redis, rig.author, range(1, 2))
        await eventually(_true(lambda: writer.committed >= 1), 30, "the first entry committed")
        await _post(rig.redis, rig.author, range(2, 3))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(eventually(_true(lambda: writer.committed >= 2), 30, "early"), 1.0)
        await eventually(_true(lambda: writer.committed >= 2), 30, "the second entry committed")
    finally:
        await writer.stop()
    assert await rig.stored() == [1, 2]
