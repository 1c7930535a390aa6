"""When the embedded mode's SQLite file is checkpointed (``wal_autocheckpoint`` in
persistence/db.py's SQLITE_PRAGMAS), on a real, migrated file: the writer thread's commits no
longer copy the WAL into the database file at SQLite's default of 1,000 pages, nor does
another connection's commit (the engine's: a login, a read mark) in their place; past
``WAL_CHECKPOINT_PAGES`` a commit checkpoints and the next starts the WAL over, so it stays
bounded.

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
from persistence.db import WAL_CHECKPOINT_PAGES, make_engine, session_factory
from persistence.sqlite_writer import SqliteWriter, sqlite_path
from persistence.transcripts import NewMessage
from support.sqlite_db import migrated_sqlite

pytestmark = pytest.mark.unit
ROOM = "ck-room"
WAIT_S = 10


@dataclass
class Db:
    url: str
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
    yield Db(url, path, user.id, tmp_path)


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
    with open(db.path + "-wal", "rb") as wal:
        header = wal.read(32)
        if len(header) < 32:
            return 0
        page_size = struct.unpack(">I", header[8:12])[0]
        salts = header[16:24]
        frames = 0
        while True:
            wal.seek(32 + frames * (24 + page_size))
            frame = wal.read(24)
            if len(frame) < 24 or frame[8:16] != salts:
                return frames
            frames += 1


async def test_the_writers_commits_do_not_checkpoint_at_sqlites_default(db: Db) -> None:
    # 200 one-row commits write ~2,000 WAL pages: with SQLite's default the committing
    # connection would have checkpointed at 1,000, copying pages into the database file
    # while the posts queued behind that commit waited.
    writer = SqliteWriter(db.path)
    writer.start()
    try:
        await _commit_one_by_one(writer, db, 1, 200)
        assert 1000 < _live_wal_frames(db) < WAL_CHECKPOINT_PAGES
        assert _rows_in_database_file(db) == 0
    finally:
        await writer.stop()


async def test_another_connections_commit_does_not_checkpoint_in_its_place(db: Db) -> None:
    writer = SqliteWriter(db.path)
    writer.start()
    try:
        await _commit_one_by_one(writer, db, 1, 200)
        # The engine's connections (logins, read marks, accounts) commit too; at SQLite's
        # default such a commit would have run the checkpoint of the writer's 2,000 pages.
        engine = make_engine(db.url)
        try:
            now = datetime.now(UTC).replace(tzinfo=None)
            async with session_factory(engine)() as session:
                await accounts.add_org(session, "Other Org", "other", uuid.uuid4().hex, [], now)
            assert _rows_in_database_file(db) == 0
        finally:
            await engine.dispose()  # the last connection closing checkpoints: after the check
    finally:
        await writer.stop()


async def test_past_the_mark_a_commit_checkpoints_and_the_wal_starts_over(db: Db) -> None:
    writer = SqliteWriter(db.path)
    writer.start()
    try:
        committed = 0
        while _rows_in_database_file(db) == 0:  # ~11 pages a commit: ~900 commits
            assert committed < 3000, "no checkpoint after 3,000 commits"
            await _commit_one_by_one(writer, db, committed + 1, 50)
            committed += 50
        assert committed >= 700  # not at SQLite's 1,000 pages (~90 commits)
        await _commit_one_by_one(writer, db, committed + 1, 1)
        # Started over after the checkpoint: the WAL's live frames are the commits since.
        assert _live_wal_frames(db) < 1000
    finally:
        await writer.stop()
