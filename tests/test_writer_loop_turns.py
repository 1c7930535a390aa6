"""The Redis mode's transcript writer runs inside a gateway, on the loop that carries every
member's messages: it never parses a batch it read and begins that batch's commit in one
loop turn, so neither half (~0.3 ms each at a gateway's trickle of ~25 rows) waits for the
other before the loop gets to the members again (bench/notes.md, "Small-room tails, one
gateway"). Nothing else changes: every row stored once, in order.

Real PostgreSQL and redis-server. Loop turns are counted by a callback that schedules itself
again each time it runs (once per turn); the writer is the real one, a subclass that only
notes the turn in which each read returned and each commit began.
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
from chat_server.transcripts.redis_writer import RedisWriter, _Batch
from persistence import migrate
from persistence.db import make_engine, session_factory
from persistence.transcripts import NewMessage
from support.procs import Postgres, RedisServer
from support.stored import org_members
from support.writer import eventually

ROOM = "turns-room"


@pytest.fixture
async def pg_engine(postgres: Postgres) -> AsyncIterator[tuple[str, AsyncEngine, int]]:
    await asyncio.to_thread(postgres.reset_database)
    await asyncio.to_thread(migrate.upgrade, postgres.url)
    engine = make_engine(postgres.url)
    (author,) = await org_members(session_factory(engine), ["turner"])
    yield postgres.url, engine, author
    await engine.dispose()


class _Turns:
    """Counts the loop's turns while running."""

    def __init__(self) -> None:
        self.count = 0
        self._handle: asyncio.Handle | None = None

    def start(self) -> None:
        self._handle = asyncio.get_running_loop().call_soon(self._tick)

    def _tick(self) -> None:
        self.count += 1
        self._handle = asyncio.get_running_loop().call_soon(self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()


class _Noting(RedisWriter):
    def __init__(self, turns: _Turns, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.turns = turns
        self.read_in: int | None = None
        self.spans: list[tuple[int, int]] = []  # (turn the batch was read in, turn its commit began in)

    async def _read(self, block: bool = True) -> _Batch:
        batch = await super()._read(block)
        self.read_in = self.turns.count
        return batch

    async def _commit(self, rows: list[NewMessage]) -> None:
        assert self.read_in is not None
        self.spans.append((self.read_in, self.turns.count))
        await super()._commit(rows)


async def _post(redis: Redis, author: int, seqs: range) -> None:
    pipe = redis.pipeline(transaction=False)
    for seq in seqs:
        frame = message_frame(ROOM, uuid.uuid4().hex, seq, {"id": "u", "handle": "h", "role": "member"},
                              f"note {seq}", None, 1_700_000_000_000 + seq, None)
        pipe.xadd(COMMITS_STREAM, {"r": ROOM, "s": seq, "a": author, "c": f"c-{seq}", "f": frame})
    await pipe.execute()


async def test_a_batch_is_read_and_committed_in_different_loop_turns(
    pg_engine: tuple[str, AsyncEngine, int], redis_server: RedisServer
) -> None:
    url, engine, author = pg_engine
    redis = Redis.from_url(redis_server.url)
    await redis.delete(COMMITS_STREAM, DEAD_STREAM)
    turns = _Turns()
    writer = _Noting(turns, redis, session_factory(engine), batch=1000, claim_idle_s=60, consumer="turns")
    writer.start()
    turns.start()
    try:
        for batch in range(3):  # three trickle batches, each committed before the next
            await _post(redis, author, range(25 * batch + 1, 25 * batch + 26))
            await eventually(lambda n=25 * (batch + 1): _committed(writer, n), 30, "the batch committed")
    finally:
        turns.stop()
        await writer.stop()
        await redis.aclose()
    assert len(writer.spans) >= 3
    assert all(read < committed for read, committed in writer.spans), writer.spans
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        stored = [r[0] for r in await conn.fetch("SELECT seq FROM messages WHERE room = $1 ORDER BY seq", ROOM)]
    finally:
        await conn.close()
    assert stored == list(range(1, 76))


async def _committed(writer: RedisWriter, n: int) -> bool:
    return writer.committed >= n
