"""The embedded writer apart from the broker: its queue is bounded, and a full queue refuses a
post with ``unavailable`` without using up a seq. Real SQLite (migrated), no processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgpack
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.broker.base import Draft
from chat_server.broker.memory import MemoryBroker
from chat_server.protocol.message import message_prefix
from chat_server.transcripts.embedded import EmbeddedWriter
from persistence import accounts, transcripts
from persistence.db import make_engine, session_factory
from persistence.transcripts import NewMessage
from rooms.errors import Unavailable
from support.sqlite_db import migrated_sqlite

pytestmark = pytest.mark.unit
ROOM = "w-lounge"


@dataclass
class Store:
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    author: int  # storage key of a member
    author_id: str  # their public id


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    url = await asyncio.to_thread(migrated_sqlite, tmp_path / "kindred.db")
    engine = make_engine(url)
    db = session_factory(engine)
    now = datetime.now(UTC).replace(tzinfo=None)
    async with db() as session:
        org = await accounts.add_org(session, "Writer Org", "w", "digest", [], now)
        assert org.id is not None
        user = await accounts.create_user(session, org.id, "Writer", "writer", "w@example.org",
                                          "x", now)
        assert user.id is not None
    try:
        yield Store(engine, db, user.id, user.public_id)
    finally:
        await engine.dispose()


def _row(store: Store, seq: int) -> NewMessage:
    return NewMessage(f"{seq:032x}", ROOM, seq, store.author, f"c{seq}", f"body {seq}", None,
                      1000 + seq, None)


def _draft(store: Store, n: int) -> Draft:
    message_id = f"{n:032x}"
    author = {"id": store.author_id, "handle": "Writer", "role": "member"}
    prefix = message_prefix(ROOM, message_id, author, f"body {n}", None, 1000 + n, None)
    return Draft(ROOM, message_id, store.author_id, store.author, f"c{n}", prefix, f"body {n}",
                 None, None, 1000 + n)


async def test_a_full_queue_refuses_at_once_and_keeps_what_it_holds(store: Store) -> None:
    writer = EmbeddedWriter(store.db, max_batch=10, max_queue=2)  # not started: nothing drains
    calls: list[int] = []
    first = writer.submit(_row(store, 1), lambda: calls.append(1))
    second = writer.submit(_row(store, 2), lambda: calls.append(2))
    with pytest.raises(Unavailable):
        writer.submit(_row(store, 3), lambda: calls.append(3))
    writer.start()
    try:
        await asyncio.wait_for(asyncio.gather(first, second), 10)
    finally:
        await writer.stop()
    assert calls == [1, 2]
    async with store.db() as session:
        assert [m.seq for m in await transcripts.seq_range(session, ROOM, 0, 10)] == [1, 2]
    # Drained, it takes rows again.
    writer.start()
    try:
        await asyncio.wait_for(writer.submit(_row(store, 3), lambda: calls.append(3)), 10)
    finally:
        await writer.stop()
    assert calls == [1, 2, 3]


async def test_a_post_refused_for_a_full_queue_uses_no_seq(store: Store) -> None:
    writer = EmbeddedWriter(store.db, max_batch=10, max_queue=1)
    broker = MemoryBroker(1000, writer)
    frames: list[tuple[int | None, bytes]] = []
    await broker.start(lambda room, seq, frame: frames.append((seq, frame)),
                       lambda room: None, lambda payload: None)
    await broker.subscribe(ROOM)
    # The writer is not running yet: the first post waits in its queue, the second is refused.
    first = asyncio.create_task(broker.post(_draft(store, 1), 1001))
    await asyncio.sleep(0)  # let it reach the queue
    with pytest.raises(Unavailable):
        await broker.post(_draft(store, 2), 1002)
    writer.start()
    try:
        posted = await asyncio.wait_for(first, 10)
        retried = await asyncio.wait_for(broker.post(_draft(store, 2), 1002), 10)
    finally:
        await broker.close()
        await writer.stop()
    # The refused post used no seq: the resend (same cid) is the next one, not a duplicate.
    assert (posted.seq, retried.seq, retried.duplicate) == (1, 2, False)
    assert [seq for seq, _ in frames] == [1, 2]
    assert [msgpack.unpackb(f, raw=False)["body"] for _, f in frames] == ["body 1", "body 2"]
    assert (await broker.heads([ROOM]))[ROOM] == 2
