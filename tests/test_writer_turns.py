"""Transcript writers take turns at a trickle (issue 18, two gateways): two writers on one
commits stream read it about once per ``GATHER_S`` between them, as one writer would, so the
per-batch cost is not paid once per writer (before, each committed batches of a third the
size: the one that found the stream emptied by the other blocked and woke for the first
entry). Every entry is still committed once, in order, and a writer that dies holding the
turn holds up the other for at most ``GATHER_S``.

Real redis-server and SQLite; the count asserted is of batches, a behaviour, not a speed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.keys import COMMITS_STREAM, WRITERS_TURN
from chat_server.protocol.message import message_frame
from chat_server.transcripts.redis_writer import GATHER_S, RedisWriter
from persistence import accounts, migrate, transcripts
from persistence.db import make_engine, session_factory
from support.procs import RedisServer
from support.writer import eventually

ROOM = "turn-room"


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], int]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'k.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    engine = make_engine(url)
    db = session_factory(engine)
    now = datetime.now(UTC).replace(tzinfo=None)
    async with db() as session:
        org = await accounts.add_org(session, "Turns", "turns", uuid.uuid4().hex, [], now)
        assert org.id is not None
        user = await accounts.create_user(session, org.id, "turner", "turner", "t@example.org", "x", now)
    assert user.id is not None
    yield db, user.id
    await engine.dispose()


async def _post(redis: Redis, author: int, seq: int) -> None:
    message_id = uuid.uuid4().hex
    frame = message_frame(ROOM, message_id, seq, {"id": "u", "handle": "h", "role": "member"},
                          f"note {seq}", None, 1_700_000_000_000 + seq, None)
    await redis.xadd(COMMITS_STREAM, {"r": ROOM, "s": seq, "a": author, "c": f"c-{seq}", "f": frame})


async def _trickle(redis: Redis, author: int, seconds: float, every_s: float) -> int:
    """One entry every ``every_s`` (as a room's posts arrive), on a schedule; returns how many."""
    start = time.monotonic()
    seq = 0
    while time.monotonic() < start + seconds:
        seq += 1
        await _post(redis, author, seq)
        await asyncio.sleep(max(0.0, start + seq * every_s - time.monotonic()))
    return seq


async def _stored(db: async_sessionmaker[AsyncSession]) -> int:
    async with db() as session:
        return await transcripts.room_head(session, ROOM)


async def test_two_writers_at_a_trickle_read_in_turns_and_commit_everything_once(
    sqlite_db: tuple[async_sessionmaker[AsyncSession], int], redis_server: RedisServer,
) -> None:
    db, author = sqlite_db
    redis = Redis.from_url(redis_server.url)
    await redis.delete(COMMITS_STREAM, WRITERS_TURN)
    writers = [RedisWriter(redis, db, batch=1000, claim_idle_s=60, consumer=f"turn-{k}") for k in range(2)]
    for writer in writers:
        writer.start()
    seconds = 2.0
    try:
        sent = await _trickle(redis, author, seconds, 0.004)

        async def all_committed() -> bool:
            return sum(w.committed for w in writers) == sent

        await eventually(all_committed, 30, "every entry committed")
        assert await redis.xlen(COMMITS_STREAM) == 0
    finally:
        for writer in writers:
            await writer.stop()
        await redis.aclose()
    # Committed once each (a row stored twice would not be counted twice, so read the rows).
    assert await _stored(db) == sent
    async with db() as session:
        stored = await transcripts.seq_range(session, ROOM, 0, sent + 1)
    assert [m.seq for m in stored] == list(range(1, sent + 1))
    # About one read per GATHER_S between them (40 here, plus each one's first read and the
    # last); without turns two writers committed 72-75 batches in this test.
    batches = sum(w.batches for w in writers)
    assert batches <= 1.25 * seconds / GATHER_S + 4, (batches, [w.batches for w in writers])


async def test_a_turn_left_by_a_dead_writer_holds_the_others_up_for_at_most_gather_s(
    sqlite_db: tuple[async_sessionmaker[AsyncSession], int], redis_server: RedisServer,
) -> None:
    """The turn is never released, only expires: one taken by a writer that then died (here
    set by hand, as its script would) costs the next reader at most GATHER_S; one set without
    an expiry (by hand, by mistake) is given one instead of stopping every writer for ever."""
    db, author = sqlite_db
    redis = Redis.from_url(redis_server.url)
    await redis.delete(COMMITS_STREAM)
    await redis.set(WRITERS_TURN, "someone-gone")  # no expiry at all
    writer = RedisWriter(redis, db, batch=1000, claim_idle_s=60, consumer="turn-alone")
    writer.start()
    try:
        await _post(redis, author, 1)  # the first batch needs no turn
        await eventually(lambda: _is(writer.committed, 1), 10, "the first entry committed")
        await _post(redis, author, 2)  # the next read, after a trickle, waits for the turn
        await eventually(lambda: _is(writer.committed, 2), 10, "the second entry committed")
        # Expired (-2) or held for at most GATHER_S; never left without an expiry (-1).
        assert await redis.pttl(WRITERS_TURN) in (-2, *range(1, int(GATHER_S * 1000) + 1))
    finally:
        await writer.stop()
        await redis.aclose()
    assert await _stored(db) == 2


async def _is(value: int, wanted: int) -> bool:
    return value == wanted
