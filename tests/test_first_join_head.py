"""A room's first join on a gateway reads the room's stored head only where the room's counter
can be behind the transcript (``Broker.counters_can_lag``): in Redis mode, a Redis that lost
its data starts its counters again, and the read raises the counter past the stored messages
(gateway/upkeep.floor_head). The embedded mode's counters are its own (restored from the
stored heads at start, every later seq given by it): its first joins read nothing, and the
seqs still continue where the room left off."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from persistence import transcripts
from persistence.transcripts import NewMessage
from support.inproc import ROOM, InProc, count_of, frames_until, of_type
from support.procs import RedisServer

REDIS_DB = 12  # a database of its own, emptied


def _counted(tier: InProc) -> list[str]:
    """The rooms whose stored head the hub reads, in order (the real read, counted)."""
    reads: list[str] = []
    real = tier.hub._stored_head

    async def counted(room: str) -> int:
        reads.append(room)
        return await real(room)

    tier.hub._stored_head = counted
    return reads


@pytest.fixture
async def tier(tmp_path: Path) -> AsyncIterator[InProc]:
    async with InProc(tmp_path) as running:
        yield running


@pytest.mark.unit
async def test_embedded_first_joins_read_no_stored_head_and_seqs_continue(tier: InProc) -> None:
    reads = _counted(tier)
    ann, bob = await tier.member("Ann"), await tier.member("Bob")
    a = tier.connect(ann)
    await tier.join(a)
    for i in range(3):
        await tier.send(a, f"m{i}", f"c{i}")
    await frames_until(a, count_of("ack", 3))
    await tier.rooms.leave(a, ROOM)  # the room let go: the next join is a first join again
    b = tier.connect(bob)
    await tier.join(b)
    joined = of_type(await frames_until(b, count_of("joined", 1)), "joined")[0]
    assert joined["seq"] == 3
    await tier.send(b, "after", "c-after")
    acks = of_type(await frames_until(b, count_of("ack", 1)), "ack")
    assert acks[0]["seq"] == 4
    assert reads == []


@pytest.mark.redis
async def test_redis_first_join_raises_a_counter_behind_the_transcript(
    tmp_path: Path, redis_server: RedisServer,
) -> None:
    url = redis_server.url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    admin = Redis.from_url(url)
    await admin.flushdb()
    await admin.aclose()
    async with InProc(tmp_path, redis_url=url) as tier:
        reads = _counted(tier)
        ann = await tier.member("Ann")
        # Five messages stored, and a Redis that knows nothing of them (it lost its data).
        async with tier.db() as session:
            await transcripts.store(session, [
                NewMessage(uuid.uuid4().hex, ROOM, seq, ann.db_id, f"s{seq}", f"stored {seq}", None,
                           1_700_000_000_000 + seq)
                for seq in range(1, 6)
            ])
            await session.commit()
        a = tier.connect(ann)
        await tier.join(a)
        joined = of_type(await frames_until(a, count_of("joined", 1)), "joined")[0]
        assert joined["seq"] == 5
        await tier.send(a, "after", "c-after")
        acks = of_type(await frames_until(a, count_of("ack", 1)), "ack")
        assert acks[0]["seq"] == 6  # not 1: no stored seq handed out again
        assert reads == [ROOM]
