"""The Redis mode's transcript writer reads its batches and acknowledges them on Redis
connections of its own (``RedisPipe``s, one for each), not through redis-py's pool: at a gateway's trickle
redis-py's per-command machinery cost the gateway's loop more per batch than the insert. Its
blocking read stays inside the connection's reply deadline, so a client configured with a
short ``socket_timeout`` does not take an idle stream for a Redis that stopped answering.

Real PostgreSQL and redis-server. redis-py's commands are counted by wrapping the client's
``execute_command`` (the pool is not under test; the writer's own connection and the rows
stored are).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from chat_server.keys import COMMITS_STREAM, DEAD_STREAM
from chat_server.protocol.message import message_frame
from chat_server.transcripts.redis_writer import RedisWriter
from persistence import migrate
from persistence.db import make_engine, session_factory
from support.procs import Postgres, RedisServer
from support.stored import org_members
from support.writer import eventually

ROOM = "own-line-room"


@pytest.fixture
async def pg_engine(postgres: Postgres) -> AsyncIterator[tuple[str, AsyncEngine, int]]:
    await asyncio.to_thread(postgres.reset_database)
    await asyncio.to_thread(migrate.upgrade, postgres.url)
    engine = make_engine(postgres.url)
    (author,) = await org_members(session_factory(engine), ["liner"])
    yield postgres.url.replace("postgresql+asyncpg", "postgresql"), engine, author
    await engine.dispose()


async def _post(redis: Redis, author: int, seqs: range) -> None:
    pipe = redis.pipeline(transaction=False)
    for seq in seqs:
        frame = message_frame(ROOM, uuid.uuid4().hex, seq, {"id": "u", "handle": "h", "role": "member"},
                              f"line {seq}", None, 1_700_000_000_000 + seq, None)
        pipe.xadd(COMMITS_STREAM, {"r": ROOM, "s": seq, "a": author, "c": f"c-{seq}", "f": frame})
    await pipe.execute()


async def _stored(dsn: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r[0] for r in await conn.fetch("SELECT seq FROM messages WHERE room = $1 ORDER BY seq", ROOM)]
    finally:
        await conn.close()


class _Counted:
    """Counts the commands a redis-py client runs (its ``execute_command``; pipelines and
    transactions count once per command queued)."""

    def __init__(self, redis: Redis) -> None:
        self.names: list[str] = []
        execute = redis.execute_command

        async def counted(*args: Any, **options: Any) -> Any:
            self.names.append(str(args[0]))
            return await execute(*args, **options)

        redis.execute_command = counted  # type: ignore[method-assign]
        original_pipeline = redis.pipeline

        def pipeline(*args: Any, **kwargs: Any) -> Any:
            pipe = original_pipeline(*args, **kwargs)
            queue = pipe.pipeline_execute_command

            def queued(*cargs: Any, **coptions: Any) -> Any:
                self.names.append(str(cargs[0]))
                return queue(*cargs, **coptions)

            pipe.pipeline_execute_command = queued  # type: ignore[method-assign]
            return pipe

        redis.pipeline = pipeline  # type: ignore[method-assign]


async def test_batches_are_read_and_acknowledged_on_the_writers_own_connection(
    pg_engine: tuple[str, AsyncEngine, int], redis_server: RedisServer
) -> None:
    dsn, engine, author = pg_engine
    redis = Redis.from_url(redis_server.url)
    await redis.delete(COMMITS_STREAM, DEAD_STREAM)
    counted = _Counted(redis)
    writer = RedisWriter(redis, session_factory(engine), batch=1000, claim_idle_s=60, consumer="own")
    writer.start()
    try:
        await eventually(lambda: _has_read(writer), 10, "the writer's first read")
        before = list(counted.names)  # the group and the first claim, on redis-py
        for batch in range(3):  # three trickle batches, each committed before the next
            await _post(redis, author, range(25 * batch + 1, 25 * batch + 26))
            await eventually(lambda n=25 * (batch + 1): _committed(writer, n), 30, "the batch committed")
        pipe, acks = writer._pipe, writer._acks
        assert pipe is not None and acks is not None
        # Every read and every acknowledgement since went on the writer's connections: the
        # client's only commands are this test's own posts (XADD).
        assert {name for name in counted.names[len(before):]} <= {"XADD"}, counted.names[len(before):]
        assert pipe.connects == 1 and acks.connects == 1
        assert pipe.commands >= 3  # a read a batch, at least
        assert acks.commands >= 3 * 4  # MULTI, XACK, XDEL, EXEC a batch
    finally:
        await writer.stop()
    assert writer._pipe is None and writer._acks is None  # closed with the writer
    assert await _stored(dsn) == list(range(1, 76))
    assert await redis.xlen(COMMITS_STREAM) == 0  # acknowledged and deleted
    pending: Any = await redis.xpending(COMMITS_STREAM, "writers")
    assert pending["pending"] == 0
    await redis.aclose()


@pytest.mark.parametrize("timeout_s", [0.5, 0.1])
async def test_an_idle_writer_blocks_within_a_short_reply_deadline(
    pg_engine: tuple[str, AsyncEngine, int], redis_server: RedisServer, timeout_s: float
) -> None:
    """With a short ``socket_timeout`` a read that blocked 500 ms would outlast the reply
    deadline: the connection would be dropped as dead and opened again, over and over, while
    nothing is wrong. The read blocks for less (0.5 s: 175 ms), or not at all and the stream
    is read again every 0.1 s (0.1 s: too short for Redis's 100 ms tick)."""
    dsn, engine, author = pg_engine
    redis = Redis.from_url(redis_server.url, socket_timeout=timeout_s)
    await redis.delete(COMMITS_STREAM, DEAD_STREAM)
    writer = RedisWriter(redis, session_factory(engine), batch=1000, claim_idle_s=60, consumer="short")
    writer.start()
    try:
        await eventually(lambda: _has_read(writer), 10, "the writer's first read")
        await asyncio.sleep(1.2)  # idle: some six blocked reads come back empty
        pipe = writer._pipe
        assert pipe is not None
        assert pipe.connects == 1, "an idle read was taken for a dead connection"
        assert pipe.commands >= 4
        await _post(redis, author, range(1, 11))
        await eventually(lambda: _committed(writer, 10), 30, "the posts committed")
        assert pipe.connects == 1
    finally:
        await writer.stop()
        await redis.aclose()
    assert await _stored(dsn) == list(range(1, 11))


async def _has_read(writer: RedisWriter) -> bool:
    return writer._pipe is not None and writer._pipe.commands > 0


async def _committed(writer: RedisWriter, n: int) -> bool:
    return writer.committed >= n
