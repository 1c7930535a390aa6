"""The embedded mode's WAL checkpoints (persistence/sqlite_checkpointer.py), on a real,
migrated SQLite file: the writer thread's commits no longer copy the WAL into the database
file (its connection checkpoints only as a far backstop), the checkpointer's round copies all
of it and lets the next commit start the WAL over, a burst that grew the WAL file leaves it
cut back, and a reader that keeps the checkpoint from finishing blocks no commit.

What is in the database file itself (checkpointed) is read from a copy of that file alone,
without its WAL; the WAL's live frames from its header and frame headers (their salts).
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import struct
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from persistence import accounts
from persistence.db import make_engine, session_factory
from persistence.sqlite_writer import SqliteWriter, sqlite_path
from persistence.transcripts import NewMessage
from support.sqlite_db import migrated_sqlite

pytestmark = pytest.mark.unit
ROOM = "ck-room"
WAIT_S = 10
NEVER_S = 3600.0  # a checkpointer interval that no test outlives: no round meanwhile


@dataclass
class Db:
    path: str
    author: int
    tmp: Path


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Db]:
    url = await asyncio.to_thread(migrated_sqlite, tmp_path / "kindred.db")
    engine = make_engine(url)
    now = datetime.now(UTC).replace(tzinfo=None)
    async with session_factory(engine)() as session:
        org = await accounts.add_org(session, "Ck Org", "ck", uuid.uuid4().hex, [], now)
        assert org.id is not None
        user = await accounts.create_user(session, org.id, "Ck", "ck", "ck@example.org", "x", now)
        assert user.id is not None
    await engine.dispose()  # its last connection checkpoints: the file alone holds it all
    path = sqlite_path(url)
    assert path is not None
    yield Db(path, user.id, tmp_path)


def _rows(db: Db, first: int, n: int) -> list[NewMessage]:
    return [
        NewMessage(uuid.uuid4().hex, ROOM, seq, db.author, f"c{seq}",
                   f"a lantern note {seq} " + "words " * 20, None, 1_700_000_000_000 + seq, None)
        for seq in range(first, first + n)
    ]


async def _commit_one_by_one(writer: SqliteWriter, db: Db, first: int, n: int) -> None:
    """``n`` commits of one row each, one after the other (as small rooms commit)."""
    for seq in range(first, first + n):
        await asyncio.wait_for(writer.submit(_rows(db, seq, 1)), WAIT_S)


def _rows_in_database_file(db: Db) -> int:
    """Messages of ROOM in the database file alone: what checkpoints have copied there."""
    copy = db.tmp / f"alone-{uuid.uuid4().hex}.db"
    shutil.copyfile(db.path, copy)
    con = sqlite3.connect(copy)
    try:
        (n,) = con.execute("SELECT count(*) FROM messages WHERE room = ?", (ROOM,)).fetchone()
        return int(n)
    finally:
        con.close()


def _live_wal_frames(db: Db) -> int:
    """Frames of the WAL's current generation: from its start, those whose salts are the
    header's (a WAL started over keeps the older frames after them, with older salts)."""
    data = Path(db.path + "-wal").read_bytes()
    if len(data) < 32:
        return 0
    page_size = struct.unpack(">I", data[8:12])[0]
    salts = data[16:24]
    frames, offset = 0, 32
    while offset + 24 + page_size <= len(data) and data[offset + 8:offset + 16] == salts:
        frames += 1
        offset += 24 + page_size
    return frames


async def _until(check: object, what: str) -> None:
    async with asyncio.timeout(WAIT_S):
        while not check():  # type: ignore[operator]  # noqa: ASYNC110 - another thread's work
            await asyncio.sleep(0.02)


async def test_the_writers_commits_leave_the_checkpoints_to_the_checkpointer(db: Db) -> None:
    # 200 one-row commits write ~2,000 WAL pages: SQLite's default would have the committing
    # connection checkpoint at 1,000, i.e. copy pages into the database file mid-stream.
    writer = SqliteWriter(db.path, checkpoint_every_s=NEVER_S)
    writer.start()
    try:
        await _commit_one_by_one(writer, db, 1, 200)
        assert _live_wal_frames(db) > 1000
        assert _rows_in_database_file(db) == 0
        assert writer.checkpointer.rounds == 0
    finally:
        await writer.stop()


async def test_a_round_copies_the_whole_wal_and_the_next_commit_starts_it_over(db: Db) -> None:
    writer = SqliteWriter(db.path, checkpoint_every_s=0.05)
    writer.start()
    try:
        await _commit_one_by_one(writer, db, 1, 200)
        # Every row reaches the database file, the last commits' too (the writer's own
        # autocheckpoint would have left those in the WAL until the next 1,000 pages).
        await _until(lambda: _rows_in_database_file(db) == 200, "all 200 rows checkpointed")
        assert writer.checkpointer.rounds >= 1
        await _commit_one_by_one(writer, db, 201, 1)
        # Started over: the WAL's live frames are that one commit's, not 2,000 and more.
        assert _live_wal_frames(db) < 100
    finally:
        await writer.stop()


async def test_a_burst_that_grew_the_wal_file_leaves_it_cut_back(db: Db) -> None:
    limit = 256 * 1024
    writer = SqliteWriter(db.path, checkpoint_every_s=0.05, wal_limit_bytes=limit)
    writer.start()
    try:
        await asyncio.wait_for(writer.submit(_rows(db, 1, 3000)), WAIT_S)  # one transaction
        assert Path(db.path + "-wal").stat().st_size > 4 * limit
        await _until(lambda: _rows_in_database_file(db) == 3000, "the burst checkpointed")
        await _commit_one_by_one(writer, db, 3001, 1)
        assert Path(db.path + "-wal").stat().st_size <= limit
    finally:
        await writer.stop()


async def test_a_reader_that_keeps_the_checkpoint_from_finishing_blocks_no_commit(db: Db) -> None:
    writer = SqliteWriter(db.path, checkpoint_every_s=0.02)
    writer.start()
    reader = sqlite3.connect(db.path, isolation_level=None)
    try:
        await _commit_one_by_one(writer, db, 1, 5)
        # A read transaction holds its snapshot: no checkpoint may copy past it, so no round
        # finishes and the WAL cannot start over while it lasts.
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM messages").fetchall()
        await _commit_one_by_one(writer, db, 6, 150)  # each within WAIT_S, none refused
        assert writer.checkpointer.failures == 0
        assert _rows_in_database_file(db) <= 5
        reader.execute("COMMIT")
        await _commit_one_by_one(writer, db, 156, 1)
        await _until(lambda: _rows_in_database_file(db) == 156, "checkpointed once the reader left")
    finally:
        reader.close()
        await writer.stop()
