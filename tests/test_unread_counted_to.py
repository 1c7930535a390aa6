"""A private conversation's unread count and its ``counted_to`` (protocol 1.3) when messages
are stored out of seq order, on real SQLite and PostgreSQL databases.

With Redis several writers share the commits stream, so a message can be stored a few
milliseconds before the one posted just ahead of it: the database then holds seqs 2 and 4
but not yet 3. A client adds to an answer's count the seqs it counted from frames above the
answer's ``counted_to``; counting 4 and saying ``counted_to`` 4 would lose 3 for good (the
client counted it, but it is neither in the count nor above ``counted_to``). So a count stops
at the first seq not stored yet. A gap older than ``unread.SETTLE_MS`` (the message after it
was posted that long ago) is one that will never fill (a row set aside, seqs skipped after a
Redis loss) and does not stop it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col

from persistence import unread
from persistence.db import make_engine, session_factory
from persistence.models import Message
from support.sqlite_db import migrated_database
from support.stored import org_members, store_messages

ROOM = "dm-00c0ffee00c0ffee"


class Db:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.session = session_factory(self.engine)
        self.author = 0
        self.reader = 0
        self.now_ms = int(time.time() * 1000)

    async def store(self, *rows: tuple[int, int]) -> None:
        """(seq, author) rows, posted just now."""
        await store_messages(self.session, [(ROOM, seq, author) for seq, author in rows], self.now_ms)

    async def counted(self) -> tuple[int, int]:
        """What GET /api/me/unread says of the conversation: (count, counted_to)."""
        async with self.session() as db:
            marks = await unread.read_marks(db, self.reader, [ROOM])
            counts = await unread.conversation_counts_at(db, self.reader, [ROOM], self.now_ms)
            # The read mark's own count (an `unread` frame's) agrees.
            alone = await unread.counted_after(db, self.reader, ROOM, marks.get(ROOM, 0), self.now_ms)
        found = counts.get(ROOM)
        assert alone == found
        return (found.count if found else 0), unread.counted_to(marks.get(ROOM, 0), found)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Db]:
    found = Db(await migrated_database(request, tmp_path))
    try:
        found.author, found.reader = await org_members(found.session, ("writer", "reader"))
        yield found
    finally:
        await found.engine.dispose()


def _client_count(count: int, counted_to: int, heard: list[int]) -> int:
    """The client's sum (docs/protocol.md §4.28): the answer's count and the seqs it counted
    from frames above the answer's counted_to."""
    return count + len([s for s in heard if s > counted_to])


async def test_a_count_stops_at_a_message_not_stored_yet(db: Db) -> None:
    await db.store((1, db.author))
    async with db.session() as s:
        await unread.mark_room(s, db.reader, ROOM, 1)
    await db.store((2, db.author), (4, db.author))  # 3's writer has not committed yet
    count, upto = await db.counted()
    assert (count, upto) == (1, 2)  # 4 is not taken in while 3 may still come
    assert _client_count(count, upto, heard=[2, 3, 4]) == 3  # every unread message, once
    await db.store((3, db.author))
    count, upto = await db.counted()
    assert (count, upto) == (3, 4)
    assert _client_count(count, upto, heard=[2, 3, 4]) == 3


async def test_the_first_unread_seq_missing_counts_nothing_yet(db: Db) -> None:
    await db.store((2, db.author), (3, db.author))  # 1 not stored yet, never read
    assert await db.counted() == (0, 0)
    await db.store((1, db.author))
    assert await db.counted() == (3, 3)


async def test_own_and_removed_messages_are_stored_ones(db: Db) -> None:
    # Not counted, but no gap either: what follows them is counted.
    await db.store((1, db.author), (2, db.reader), (3, db.author), (4, db.author))
    async with db.session() as s:
        await s.exec(update(Message).where(col(Message.room) == ROOM, col(Message.seq) == 3).values(body=None))
        await s.commit()
    assert await db.counted() == (2, 4)


async def test_an_old_gap_never_fills_and_does_not_stop_the_count(db: Db) -> None:
    await db.store((1, db.author), (3, db.author))
    async with db.session() as s:  # posted long ago: 2 was set aside or its seq skipped
        old = db.now_ms - unread.SETTLE_MS - 1
        await s.exec(update(Message).where(col(Message.room) == ROOM).values(created_ms=old))
        await s.commit()
    await db.store((5, db.author))  # 4 still on its way
    assert await db.counted() == (2, 3)
