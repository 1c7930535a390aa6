"""Transcripts: storing posted messages idempotently, and reading them back.

``store`` is what both writers (embedded and Redis) call: it inserts a batch so that a
batch committed twice (a writer killed between commit and acknowledgement) leaves exactly
one row per message (``ON CONFLICT DO NOTHING``; on PostgreSQL only once a plain COPY has met
a stored row).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import delete, func, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence import transcripts_postgres
from persistence.models import Block, Message, User


class NewMessage(NamedTuple):
    """A message as the broker gave it its place: everything the row needs. A tuple in the
    order of ``_COLUMNS``, so a batch goes to the driver as it is (a writer builds thousands
    a second; a frozen dataclass cost three times as much to build)."""

    id: str
    room: str
    seq: int
    author_id: int
    cid: str
    body: str
    reply_to: str | None
    created_ms: int
    thread_root: str | None = None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A row joined with its author's public identity, as history returns it."""

    id: str
    room: str
    seq: int
    author: dict[str, str]
    body: str | None
    reply_to: str | None
    thread_root: str | None
    created_ms: int
    deleted: bool

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id, "room": self.room, "seq": self.seq, "author": self.author,
            "body": self.body, "reply_to": self.reply_to, "thread_root": self.thread_root,
            "ts": self.created_ms, "removed": self.deleted,
        }


async def store(db: AsyncSession, batch: Sequence[NewMessage]) -> int:
    """Insert the batch in one transaction; rows already there are skipped. Returns the number
    of rows inserted. Each row arrives with its thread root, given when it was posted, so
    batches may be committed in any order (several writers share the work)."""
    if not batch:
        return 0
    connection = await db.connection()
    if db.get_bind().dialect.name == "postgresql":
        inserted = await transcripts_postgres.store(connection, batch)
    else:
        inserted = await _store_sqlite(connection, batch)
    await db.commit()
    return inserted


async def store_postgres(connection: Any, batch: Sequence[NewMessage]) -> int:
    """``store`` on a PostgreSQL connection the caller holds (an ``AsyncConnection``): the
    batch lands whole in a transaction of its own, or not at all. Returns the rows inserted.
    For a caller that keeps one connection between batches, which spares the pool's
    check-out ping (three round trips) per batch."""
    if not batch:
        return 0
    return await transcripts_postgres.store(connection, batch)


_COLUMNS = NewMessage._fields  # the table's column names, in the tuples' order
_NAMES = ", ".join(_COLUMNS)
assert _COLUMNS == transcripts_postgres.COLUMNS, "the PostgreSQL path's columns follow NewMessage"


async def _store_sqlite(connection: Any, batch: Sequence[NewMessage]) -> int:
    """``insert_sqlite`` on the session's connection, inside SQLAlchemy's transaction."""
    raw = await connection.get_raw_connection()
    lite = raw.driver_connection  # aiosqlite.Connection, inside SQLAlchemy's transaction
    # All of it in ONE call on aiosqlite's thread rather than one per statement: each call is
    # a hop there and back (a queue, a future, a wake-up of the loop), and with small batches
    # (small rooms: one to three rows per commit) the six hops cost more than the rows.
    # ``_execute`` is aiosqlite's own way of running a function on its thread.
    inserted: int = await lite._execute(insert_sqlite, lite._conn, batch)
    return inserted


# Up to this many rows go in as one multi-row INSERT (9 parameters a row: 144 at most, far
# under SQLite's limit); bigger batches through the temporary table.
MULTI_ROW_MAX = 16
_MULTI_ROW_SQL = {
    n: f"INSERT INTO messages ({_NAMES}) VALUES "
    + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * n)
    + " ON CONFLICT DO NOTHING"
    for n in range(1, MULTI_ROW_MAX + 1)
}


def insert_sqlite(lite: sqlite3.Connection, batch: Sequence[NewMessage]) -> int:
    """Insert ``batch`` on a plain sqlite3 connection with ONE statement into ``messages``,
    skipping rows already there; returns how many were inserted. Begins a write transaction
    (``BEGIN IMMEDIATE``) if none is open; the caller commits.

    One statement, because FTS5 writes its pending index data out at the end of every
    statement (a trigger adds each row's body): ``executemany`` of the insert -- one
    statement per row -- made every row a segment of its own to be merged later. Small
    batches (small rooms: one to three rows a commit) go as one multi-row INSERT; bigger
    ones into a temporary table first, then one INSERT ... SELECT, 3-4x the rows per second
    of ``executemany``. The triggers stay the one place that keeps the index in step with
    the table. Rows go in (room, seq) order, the order of the unique index."""
    if not batch:
        return 0
    if not lite.in_transaction:
        # Take the write lock first, waiting for it (busy_timeout) as a plain INSERT would:
        # a transaction that began on the temporary table and met another writer's commit
        # when it came to write could not wait, only fail ("database is locked"). The
        # caller's commit ends it, so the batch lands whole or not at all.
        lite.execute("BEGIN IMMEDIATE")
    if len(batch) <= MULTI_ROW_MAX:
        rows = sorted(batch, key=_ROOM_SEQ)
        params = [value for row in rows for value in row]
        return max(int(lite.execute(_MULTI_ROW_SQL[len(rows)], params).rowcount), 0)
    lite.execute(
        "CREATE TEMP TABLE IF NOT EXISTS incoming_messages (id TEXT, room TEXT, seq INTEGER, "
        "author_id INTEGER, cid TEXT, body TEXT, reply_to TEXT, thread_root TEXT, created_ms INTEGER)"
    )
    lite.execute("DELETE FROM temp.incoming_messages")  # a failed batch's, if any
    lite.executemany(
        f"INSERT INTO temp.incoming_messages ({_NAMES}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", batch
    )
    # WHERE true: SQLite's parser needs it between a SELECT and an ON CONFLICT clause.
    cursor = lite.execute(
        f"INSERT INTO messages ({_NAMES}) SELECT {_NAMES} FROM temp.incoming_messages "
        "WHERE true ORDER BY room, seq ON CONFLICT DO NOTHING"
    )
    inserted = max(int(cursor.rowcount), 0)
    lite.execute("DELETE FROM temp.incoming_messages")
    return inserted


_ROOM_SEQ = itemgetter(1, 2)


async def thread_of(db: AsyncSession, room: str, message_id: str) -> str | None:
    """The thread root of a stored message of ``room`` (its own id for a root), or None."""
    query = select(Message.id, Message.thread_root).where(
        Message.id == message_id, Message.room == room
    )
    found = (await db.exec(query)).first()
    if found is None:
        return None
    return found[1] or found[0]


async def heads(db: AsyncSession) -> dict[str, int]:
    """The highest stored seq of every room."""
    query = select(Message.room, func.max(Message.seq)).group_by(Message.room)
    return {room: int(seq) for room, seq in (await db.exec(query)).all()}


async def recent_cids(db: AsyncSession, limit: int) -> list[tuple[str, str, str, int, str]]:
    """``(author public id, cid, id, seq, room)`` of the newest ``limit`` messages, newest
    first, so a send retried across a restart is still recognised."""
    query: Any = (
        select(User.public_id, Message.cid, Message.id, Message.seq, Message.room)  # type: ignore[call-overload]
        .join(User, col(Message.author_id) == col(User.id))
        .order_by(col(Message.created_ms).desc())
        .limit(limit)
    )
    return [(str(a), str(c), str(i), int(s), str(r)) for a, c, i, s, r in (await db.exec(query)).all()]


def _with_author(viewer: int | None = None) -> Any:
    """Messages with their authors; with ``viewer`` (a member's storage key), leaving out the
    authors that member blocked."""
    query = select(Message, User.public_id, User.handle, User.role).join(
        User, col(Message.author_id) == col(User.id)
    )
    if viewer is not None:
        hidden = select(Block.blocked_id).where(Block.blocker_id == viewer)
        query = query.where(col(Message.author_id).not_in(hidden))
    return query


def _stored(row: Any) -> StoredMessage:
    m, public_id, handle, role = row
    return StoredMessage(
        id=m.id, room=m.room, seq=m.seq, author={"id": public_id, "handle": handle, "role": role},
        body=m.body, reply_to=m.reply_to, thread_root=m.thread_root, created_ms=m.created_ms,
        deleted=m.body is None,
    )


async def seq_range(
    db: AsyncSession, room: str, after: int, upto: int, limit: int = 5000
) -> list[StoredMessage]:
    """At most ``limit`` messages with ``after < seq <= upto`` in ``room``, oldest first."""
    query = (
        _with_author()
        .where(Message.room == room, col(Message.seq) > after, col(Message.seq) <= upto)
        .order_by(col(Message.seq))
        .limit(limit)
    )
    return [_stored(row) for row in (await db.exec(query)).all()]


async def page(
    db: AsyncSession, room: str, before: int | None, limit: int, viewer: int | None = None
) -> list[StoredMessage]:
    """Up to ``limit`` messages of ``room`` with seq < ``before``, newest first."""
    query = _with_author(viewer).where(Message.room == room)
    if before is not None:
        query = query.where(col(Message.seq) < before)
    query = query.order_by(col(Message.seq).desc()).limit(limit)
    return [_stored(row) for row in (await db.exec(query)).all()]


async def stored_seqs(db: AsyncSession, room: str, low: int, high: int) -> dict[int, int]:
    """Every stored seq of ``room`` from ``low`` to ``high`` (both included), whoever the author,
    with its ``created_ms``: the room's primary index alone."""
    query: Any = select(Message.seq, Message.created_ms).where(
        Message.room == room, col(Message.seq) >= low, col(Message.seq) <= high)
    return {int(seq): int(ms) for seq, ms in (await db.exec(query)).all()}


async def by_id(db: AsyncSession, message_id: str) -> StoredMessage | None:
    row = (await db.exec(_with_author().where(Message.id == message_id))).first()
    return _stored(row) if row else None


async def thread(db: AsyncSession, root_id: str, viewer: int | None = None) -> list[StoredMessage]:
    """The root and every reply in its thread, in seq order."""
    query = (
        _with_author(viewer)
        .where((col(Message.id) == root_id) | (col(Message.thread_root) == root_id))
        .order_by(col(Message.seq))
    )
    return [_stored(row) for row in (await db.exec(query)).all()]


# Endings taken off a searched word before it is also matched as a prefix, longest first.
_ENDINGS = ("ments", "ment", "ness", "fully", "ings", "ing", "edly", "ful", "ies", "ed", "es",
            "ly", "s")
_MIN_ROOT = 4


def _root(word: str) -> str | None:
    """``word`` without one common English ending, or None when nothing (or too little) is left.

    FTS5's porter tokenizer is the original Porter algorithm, which stems "nervous" to
    "nervou" but "nervousness" to "nervous", so the stems of one family do not always meet.
    A prefix query on the root (stemmed again by the tokenizer) brings them together."""
    lower = word.lower()
    for ending in _ENDINGS:
        if lower.endswith(ending) and len(lower) - len(ending) >= _MIN_ROOT:
            return lower[: -len(ending)]
    return None


def _fts5_query(q: str) -> str:
    """Each word quoted, so member input is never FTS5 syntax; words are ANDed. A word with a
    common ending also matches as a prefix of its root, so "nervousness" finds "nervous"."""
    terms = []
    for word in (w.replace('"', "") for w in q.split()):
        if not word:
            continue
        root = _root(word)
        terms.append(f'("{word}" OR "{root}"*)' if root else f'"{word}"')
    return " AND ".join(terms)  # explicit: FTS5 has no implicit AND after a group


async def search(
    db: AsyncSession, q: str, rooms: Sequence[str], limit: int, offset: int,
    viewer: int | None = None,
) -> list[StoredMessage]:
    """Messages in ``rooms`` matching ``q``, best first (removed messages never match)."""
    if not rooms or not q.strip():
        return []
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        ranked = text(
            "SELECT id FROM messages, websearch_to_tsquery('english', :q) AS query "
            "WHERE search @@ query AND room = ANY(:rooms) AND body IS NOT NULL "
            "ORDER BY ts_rank(search, query) DESC, seq DESC LIMIT :limit OFFSET :offset"
        )
        params: dict[str, Any] = {"q": q, "rooms": list(rooms), "limit": limit, "offset": offset}
    else:
        match = _fts5_query(q)
        if not match:
            return []
        marks = ", ".join(f":r{i}" for i in range(len(rooms)))
        ranked = text(
            "SELECT m.id FROM messages_fts JOIN messages AS m ON m.rowid = messages_fts.rowid "
            f"WHERE messages_fts MATCH :q AND m.room IN ({marks}) AND m.body IS NOT NULL "
            "ORDER BY bm25(messages_fts), m.seq DESC LIMIT :limit OFFSET :offset"
        )
        params = {"q": match, "limit": limit, "offset": offset}
        params.update({f"r{i}": room for i, room in enumerate(rooms)})
    ids = [row[0] for row in (await db.exec(ranked, params=params)).all()]  # type: ignore[call-overload]
    if not ids:
        return []
    query = _with_author(viewer).where(col(Message.id).in_(ids))
    found = {m.id: m for m in map(_stored, (await db.exec(query)).all())}
    return [found[i] for i in ids if i in found]


async def purge(db: AsyncSession, room: str, older_than_ms: int) -> tuple[int, int]:
    """Delete the room's messages created before ``older_than_ms``. Returns how many, and the
    highest seq deleted (0 if none) so the caller can trim the room's recent log to match."""
    newest = (
        await db.exec(
            select(func.max(Message.seq)).where(
                col(Message.room) == room, col(Message.created_ms) < older_than_ms
            )
        )
    ).first()
    if not newest:
        return 0, 0
    result = await db.exec(delete(Message).where(col(Message.room) == room, col(Message.seq) <= newest))
    await db.commit()
    return int(result.rowcount or 0), int(newest)
