"""The embedded mode's SQLite writer thread (persistence/sqlite_writer.py) on a real, migrated
SQLite file: batches queued while a transaction runs are committed together in the next one,
small batches go in as one multi-row INSERT, what it commits is searchable, a batch the
database refuses fails only its own future, stopping settles every batch it was handed, and
the thread's connection opens once another connection's lock lets it (a stop still bounded).

The thread is held busy by another connection's write lock (BEGIN IMMEDIATE), which its own
BEGIN IMMEDIATE waits for: that is how batches are made to queue up, without timing.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from persistence import accounts, transcripts
from persistence.db import make_engine, session_factory
from persistence.sqlite_writer import SqliteWriter, WriterStopped, sqlite_path
from persistence.transcripts import MULTI_ROW_MAX, NewMessage, insert_sqlite
from support.sqlite_db import migrated_sqlite

pytestmark = pytest.mark.unit
ROOM = "sw-room"
WAIT_S = 10


@dataclass
class Db:
    url: str
    path: str
    author: int  # a member's storage key


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Db]:
    url = await asyncio.to_thread(migrated_sqlite, tmp_path / "kindred.db")
    engine = make_engine(url)
    now = datetime.now(UTC).replace(tzinfo=None)
    async with session_factory(engine)() as session:
        org = await accounts.add_org(session, "Thread Org", "t", uuid.uuid4().hex, [], now)
        assert org.id is not None
        user = await accounts.create_user(session, org.id, "Threader", "threader", "t@example.org",
                                          "x", now)
        assert user.id is not None
    await engine.dispose()
    path = sqlite_path(url)
    assert path is not None
    yield Db(url, path, user.id)


def _rows(db: Db, first: int, n: int, word: str = "lantern", author: int | None = None) -> list[NewMessage]:
    return [
        NewMessage(uuid.uuid4().hex, ROOM, seq, db.author if author is None else author,
                   f"c{seq}", f"a {word} note {seq}", None, 1_700_000_000_000 + seq, None)
        for seq in range(first, first + n)
    ]


def _stored_seqs(db: Db) -> list[int]:
    con = sqlite3.connect(db.path)
    try:
        return [s for (s,) in con.execute("SELECT seq FROM messages WHERE room = ? ORDER BY seq", (ROOM,))]
    finally:
        con.close()


@contextmanager
def _write_lock(db: Db) -> Iterator[sqlite3.Connection]:
    """Another connection holding the database's write lock until the block ends."""
    con = sqlite3.connect(db.path, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    finally:
        con.execute("COMMIT")
        con.close()


async def _until_taken(writer: SqliteWriter) -> None:
    """Until the thread has taken every queued batch into its transaction."""
    async with asyncio.timeout(WAIT_S):
        while writer.queued:  # noqa: ASYNC110 - another thread takes them: no event to wait on
            await asyncio.sleep(0.005)


async def test_batches_queued_during_a_commit_go_into_the_next_transaction(db: Db) -> None:
    writer = SqliteWriter(db.path)
    writer.start()
    try:
        with _write_lock(db):
            first = writer.submit(_rows(db, 1, 2))
            await _until_taken(writer)  # its transaction waits for the lock
            rest = [writer.submit(_rows(db, 3 + 2 * k, 2)) for k in range(4)]
            assert writer.queued == 4
        await asyncio.wait_for(asyncio.gather(first, *rest), WAIT_S)
        # One transaction for the first batch, ONE for the four queued behind it.
        assert writer.transactions == 2
    finally:
        await writer.stop()
    assert _stored_seqs(db) == list(range(1, 11))


class _Recording:
    """A sqlite3 connection that notes each statement it is asked to run, and how many
    parameter sets it ran with (the trace callback would repeat the statement once for every
    trigger it fires)."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con
        self.statements: list[tuple[str, int]] = []

    @property
    def in_transaction(self) -> bool:
        return self.con.in_transaction

    def execute(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        self.statements.append((sql, 1))
        return self.con.execute(sql, params)

    def executemany(self, sql: str, params: Sequence[Sequence[object]]) -> sqlite3.Cursor:
        self.statements.append((sql, len(params)))
        return self.con.executemany(sql, params)


def _inserts_into_messages(db: Db, rows: list[NewMessage]) -> list[tuple[str, int]]:
    """The statements ``insert_sqlite`` runs that write ``messages``, with their runs."""
    con = sqlite3.connect(db.path, isolation_level=None)
    recording = _Recording(con)
    try:
        assert insert_sqlite(recording, rows) == len(rows)  # type: ignore[arg-type]
        con.execute("COMMIT")
    finally:
        con.close()
    return [(sql, n) for sql, n in recording.statements if sql.startswith("INSERT INTO messages ")]


def test_a_small_batch_is_one_multi_row_insert(db: Db) -> None:
    # One statement, run once, for the whole batch: FTS5 indexes it as one segment.
    small = _inserts_into_messages(db, _rows(db, 1, MULTI_ROW_MAX))
    assert len(small) == 1 and small[0][1] == 1
    assert small[0][0].count("(?, ?, ?, ?, ?, ?, ?, ?, ?)") == MULTI_ROW_MAX
    big = _inserts_into_messages(db, _rows(db, 100, MULTI_ROW_MAX + 1))
    assert len(big) == 1 and big[0][1] == 1 and "FROM temp.incoming_messages" in big[0][0]
    assert _stored_seqs(db) == list(range(1, MULTI_ROW_MAX + 1)) + list(range(100, 101 + MULTI_ROW_MAX))


async def test_what_the_thread_commits_is_searchable_and_indexed_once(db: Db) -> None:
    writer = SqliteWriter(db.path)
    writer.start()
    try:
        small = _rows(db, 1, 3, "heron")
        await asyncio.wait_for(writer.submit(small), WAIT_S)
        await asyncio.wait_for(writer.submit(_rows(db, 4, 40, "heron")), WAIT_S)
        # The same rows again (a batch committed twice): skipped, and not indexed twice.
        await asyncio.wait_for(writer.submit(small), WAIT_S)
    finally:
        await writer.stop()
    engine = make_engine(db.url)
    try:
        async with session_factory(engine)() as session:
            found = await transcripts.search(session, "heron", [ROOM], 500, 0)
    finally:
        await engine.dispose()
    assert sorted(m.seq for m in found) == list(range(1, 44))
    con = sqlite3.connect(db.path)
    try:
        entries = con.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'heron'").fetchone()[0]
    finally:
        con.close()
    assert entries == 43


async def test_a_refused_batch_fails_alone_and_the_thread_goes_on(db: Db) -> None:
    writer = SqliteWriter(db.path)
    writer.start()
    try:
        with _write_lock(db):
            first = writer.submit(_rows(db, 1, 1))
            await _until_taken(writer)
            good = writer.submit(_rows(db, 2, 2))
            bad = writer.submit(_rows(db, 4, 2, author=987_654))  # no such user: foreign key
            also_good = writer.submit(_rows(db, 6, 2))
        await asyncio.wait_for(asyncio.gather(first, good, also_good), WAIT_S)
        with pytest.raises(sqlite3.IntegrityError):
            await asyncio.wait_for(bad, WAIT_S)
        await asyncio.wait_for(writer.submit(_rows(db, 8, 1)), WAIT_S)  # still running
    finally:
        await writer.stop()
    assert _stored_seqs(db) == [1, 2, 3, 6, 7, 8]


async def test_stop_commits_what_is_queued_then_refuses(db: Db) -> None:
    writer = SqliteWriter(db.path)
    writer.start()
    with _write_lock(db):
        first = writer.submit(_rows(db, 1, 2))
        await _until_taken(writer)
        queued = writer.submit(_rows(db, 3, 2))  # not yet in a transaction when stop is called
        stopping = asyncio.create_task(writer.stop())
        await asyncio.sleep(0.05)
        assert not stopping.done()  # it waits for the queued rows
        with pytest.raises(WriterStopped):
            writer.submit(_rows(db, 5, 1))
    await asyncio.wait_for(stopping, WAIT_S)
    # Every batch handed over is settled by the time stop returns: here, committed.
    assert first.done() and queued.done()
    assert first.result() is None and queued.result() is None
    assert _stored_seqs(db) == [1, 2, 3, 4]


async def test_a_stop_that_cannot_commit_fails_the_queued_batches(db: Db) -> None:
    writer = SqliteWriter(db.path)
    writer.start()
    await asyncio.wait_for(writer.submit(_rows(db, 1, 1)), WAIT_S)  # the connection is open
    # The queued batch is one the database refuses, so the drain cannot commit it: its
    # future must fail (its sender is never acknowledged), not stay pending.
    with _write_lock(db):
        taken = writer.submit(_rows(db, 2, 1))
        await _until_taken(writer)
        queued = writer.submit(_rows(db, 3, 1, author=987_654))
        stopping = asyncio.create_task(writer.stop())
        await asyncio.sleep(0.05)
    await asyncio.wait_for(stopping, WAIT_S)
    assert taken.result() is None
    assert isinstance(queued.exception(), sqlite3.IntegrityError)
    assert _stored_seqs(db) == [1, 2]


def test_only_sqlite_files_get_a_writer_thread() -> None:
    assert sqlite_path("sqlite+aiosqlite:////data/kindred.db") == "/data/kindred.db"
    assert sqlite_path("sqlite+aiosqlite:///:memory:") is None
    assert sqlite_path("postgresql+asyncpg://k@localhost/kindred") is None


async def test_the_thread_keeps_temporary_storage_in_memory(db: Db) -> None:
    """The statement journal of its multi-row INSERT (and a big batch's temporary table)
    stay off the disk; durability is the WAL's fsync, unchanged."""
    writer = SqliteWriter(db.path)
    writer.start()
    try:
        await asyncio.wait_for(writer.submit(_rows(db, 1, 3)), WAIT_S)
        conn = writer._conn
        assert conn is not None
        assert conn.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL, as before
    finally:
        await writer.stop()


async def test_stop_returns_while_another_connection_holds_the_write_lock(db: Db) -> None:
    """SQLite's busy wait (30 s) cannot be interrupted: stop would wait it out for the batch
    in its transaction, and again for each queued one. The wait is taken in short steps that
    stop may cut short, so stop returns while the lock is still held (WAIT_S is well under
    30 s), failing what was not committed and keeping what was."""
    writer = SqliteWriter(db.path)
    writer.start()
    acked = writer.submit(_rows(db, 1, 1))
    await asyncio.wait_for(acked, WAIT_S)
    with _write_lock(db):
        taken = writer.submit(_rows(db, 2, 1))
        await _until_taken(writer)  # its BEGIN IMMEDIATE waits for the lock
        queued = [writer.submit(_rows(db, 3 + k, 1)) for k in range(3)]
        await asyncio.wait_for(writer.stop(timeout_s=0.2), WAIT_S)
        for done in (taken, *queued):
            assert done.done()
            assert isinstance(done.exception(), WriterStopped)  # its sender is not acknowledged
        with pytest.raises(WriterStopped):
            writer.submit(_rows(db, 9, 1))
    assert acked.result() is None
    assert _stored_seqs(db) == [1]  # what was committed stays; nothing else went in


@contextmanager
def _lock_against_opening(db: Db, how: str) -> Iterator[None]:
    """Another connection holding a lock that keeps a new connection's ``journal_mode=WAL``
    out until the block ends: the file not in WAL mode (a copy restored from a backup, say)
    while that connection writes, or the connection in exclusive locking mode."""
    con = sqlite3.connect(db.path, isolation_level=None)
    if how == "not-yet-wal":
        con.execute("PRAGMA journal_mode=DELETE")
        con.execute("BEGIN EXCLUSIVE")
    else:
        con.execute("PRAGMA locking_mode=EXCLUSIVE")
        con.execute("BEGIN IMMEDIATE")
    con.execute("UPDATE users SET handle = handle WHERE id = ?", (db.author,))
    try:
        yield
    finally:
        con.execute("COMMIT")
        con.close()


@pytest.mark.parametrize("how", ["not-yet-wal", "exclusive-locking-mode"])
async def test_the_thread_opens_its_connection_once_another_connection_lets_go(db: Db, how: str) -> None:
    """Opening waits for the lock as a transaction does: a batch that arrives while the
    file is held is committed once it is free, not failed after one 50 ms step."""
    writer = SqliteWriter(db.path)
    writer.start()
    try:
        with _lock_against_opening(db, how):
            batch = writer.submit(_rows(db, 1, 2))
            await _until_taken(writer)  # the thread is opening its connection
            await asyncio.sleep(0.3)  # several steps of the wait
            assert not batch.done() or batch.exception() is None, batch.exception()
        await asyncio.wait_for(batch, WAIT_S)
        assert batch.result() is None
        assert _stored_seqs(db) == [1, 2]
    finally:
        await writer.stop()
    con = sqlite3.connect(db.path)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        con.close()


async def test_stop_returns_while_the_thread_waits_to_open_its_connection(db: Db) -> None:
    """The opening's wait is taken in steps too, so a stop cuts it short (WAIT_S is well
    under the 30 s a busy wait of SQLite's own would take), failing the batch."""
    writer = SqliteWriter(db.path)
    writer.start()
    with _lock_against_opening(db, "exclusive-locking-mode"):
        batch = writer.submit(_rows(db, 1, 1))
        await _until_taken(writer)
        await asyncio.wait_for(writer.stop(timeout_s=0.2), WAIT_S)
        assert isinstance(batch.exception(), WriterStopped)  # its sender is not acknowledged
    assert _stored_seqs(db) == []
