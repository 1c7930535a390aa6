"""Storing a batch of messages on PostgreSQL (``persistence.transcripts.store`` and
``store_postgres`` call it): a small batch as one multi-row INSERT, a big one with COPY, the
idempotent staged path when a row is already there. Split from transcripts.py, which keeps
SQLite's path and the reads."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from persistence.transcripts import NewMessage

# The table's columns in ``NewMessage``'s order (transcripts.py checks the two agree).
COLUMNS = ("id", "room", "seq", "author_id", "cid", "body", "reply_to", "created_ms", "thread_root")
_NAMES = ", ".join(COLUMNS)
ROOM_SEQ = itemgetter(1, 2)  # (room, seq): the order every writer meets the unique indexes in


async def store(connection: Any, batch: Sequence[NewMessage]) -> int:
    """A small batch (``VALUES_INSERT_MAX`` rows) as one multi-row INSERT, ON CONFLICT DO
    NOTHING. A bigger one: COPY the batch straight into ``messages``; only when a row is
    already there (a batch committed again after a writer died before its acknowledgement,
    or taken over by another writer) does the batch go the idempotent way instead. COPY is
    all or nothing, so a batch that meets one stored row lands through the staged ``ON
    CONFLICT DO NOTHING`` path whole.

    Why not always the staged path: PostgreSQL's CPU per row is what bounds a writer, and the
    temporary table (written, then read) and ``ON CONFLICT``'s speculative insertion cost
    about 7 us of its 35-39; a COPY into the table also works while the rows still stream in,
    where the INSERT ... SELECT could only start after the last one had arrived."""
    raw = await connection.get_raw_connection()
    pg = raw.driver_connection
    # Every writer meets the unique indexes in the same order, so two writers with
    # overlapping batches (one retrying what the other claimed) wait, not deadlock.
    rows = sorted(batch, key=ROOM_SEQ)
    if len(rows) <= VALUES_INSERT_MAX:
        # One statement, so atomic without a transaction of ours: one round trip. Padded to
        # its size with copies of the last row, which ON CONFLICT DO NOTHING skips (the
        # status counts the rows inserted).
        size = _values_size(len(rows))
        values = [value for row in rows for value in row]
        values += list(rows[-1]) * (size - len(rows))
        status = await pg.execute(_values_insert(size), *values)
        return int(str(status).rsplit(" ", 1)[-1])
    # SQLAlchemy has not begun a transaction on this connection (it begins lazily on its own
    # statements), so each attempt gets one explicitly: the batch lands whole or not at all.
    try:
        async with pg.transaction():
            status = await pg.copy_records_to_table("messages", records=rows, columns=COLUMNS)
    except asyncpg.UniqueViolationError:
        async with pg.transaction():
            return await _store_postgres_staged(pg, rows)
    return int(str(status).rsplit(" ", 1)[-1])


# Up to this many rows, a batch goes in as ONE multi-row INSERT, which asyncpg prepares once
# per connection and size and keeps: ``copy_records_to_table`` prepares its column query again
# on every call (a round trip) and needs a transaction (two more), and at a gateway's trickle
# (~25 rows every gather_s) those round trips cost the writer more than the rows. Bigger
# batches (a backlog) keep COPY, the least CPU per row for PostgreSQL.
#
# Why plain parameters and not one array a column (``unnest``, as until 2026-12-07): asyncpg
# checks every array element against ``collections.abc`` (~14 checks a row) and encodes
# arrays element by element; nine scalars a row cost the client about half as much
# (bench/notes.md, the row "The Redis writer's small batches"), PostgreSQL the same. The
# parameters take their types from the columns, and a VALUES list is inserted in its order
# (room, seq), the order every writer meets the unique indexes in.
#
# Sizes: up to 8 rows as they are, then in steps of 8 (a batch padded up to its step), so a
# connection prepares at most 19 statements, not one per size: each prepared statement is a
# plan PostgreSQL keeps for the connection's life, and asyncpg caches 100 per connection.
VALUES_INSERT_MAX = 96
_VALUES_STEP = 8
_VALUES_INSERT: dict[int, str] = {}


def _values_size(n: int) -> int:
    """The statement size a batch of ``n`` rows (1 to ``VALUES_INSERT_MAX``) goes in as."""
    return n if n <= _VALUES_STEP else -(-n // _VALUES_STEP) * _VALUES_STEP


def _values_insert(n: int) -> str:
    """The INSERT of ``n`` rows: built on first use, kept (at most 19 sizes)."""
    sql = _VALUES_INSERT.get(n)
    if sql is None:
        width = len(COLUMNS)
        rows = ", ".join(
            "(" + ", ".join(f"${r * width + c + 1}" for c in range(width)) + ")" for r in range(n)
        )
        sql = _VALUES_INSERT[n] = f"INSERT INTO messages ({_NAMES}) VALUES {rows} ON CONFLICT DO NOTHING"
    return sql


async def _store_postgres_staged(pg: Any, rows: Sequence[NewMessage]) -> int:
    """COPY into a temporary table, then one INSERT ... SELECT ... ON CONFLICT DO NOTHING:
    rows already stored are skipped (inside the caller's transaction)."""
    await pg.execute(
        "CREATE TEMP TABLE IF NOT EXISTS incoming_messages "
        "(id text, room text, seq bigint, author_id integer, cid text, body text, "
        "reply_to text, thread_root text, created_ms bigint) ON COMMIT DELETE ROWS"
    )
    await pg.copy_records_to_table("incoming_messages", records=rows, columns=COLUMNS)
    status = await pg.execute(
        f"INSERT INTO messages ({_NAMES}) SELECT {_NAMES} FROM incoming_messages "
        "ORDER BY room, seq ON CONFLICT DO NOTHING"
    )
    return int(str(status).rsplit(" ", 1)[-1])
