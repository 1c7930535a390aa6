"""Writing votes: on the drivers directly, and on SQLite the votes arriving together in one
commit.

A vote is the same two steps as ever (``persistence/questions.py`` explains why in this
order): the question's row first (``votes ± 1, version + 1`` only while it is open, which takes
its row lock on PostgreSQL; SQLite locks the database), then the vote's row inserted or
deleted; if that changed nothing (a second vote, a withdrawal of no vote) the first step is
undone. So a vote row is counted exactly once whatever gateways vote at once.

Why not through the ORM, as until 2026-12-07: a vote was an ORM bulk UPDATE (compiled, cache
keyed, its session synchronised), an INSERT and a commit, each a hop to aiosqlite's thread,
and in a storm of 1,000 votes that was most of the loop's work per vote (py-spy of
``bench.questions``). Here the statements are plain SQL kept as text.

SQLite: the votes that arrive while a commit is under way go together in the next one (up to
``VOTES_A_COMMIT``), each inside a SAVEPOINT of its own so that one vote's undo leaves the
others; one transaction, one fsync, one hop to the connection's thread for all of them.
PostgreSQL: each vote its own transaction on the raw asyncpg connection, as before (a batch
would hold each question's row lock until the last vote of the batch, and every gateway votes
on the same rows).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

# (changed, votes, version, pinned) as the question now is, or None when it is no longer open.
Outcome = tuple[bool, int, int, bool] | None

# What a vote's write raises when the database fails it (down, full, locked past the busy
# timeout, a connection lost), as against a bug: the drivers' errors, as they arrive raw here.
DATABASE_FAILURES: tuple[type[BaseException], ...] = (
    sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError, SQLAlchemyError, OSError, TimeoutError,
)

# The most votes one SQLite commit carries: bounds how long the connection's thread holds the
# write lock (the messages' writer waits for it) and how many voters wake in one loop turn.
VOTES_A_COMMIT = 16

# Plain SQL, kept as text: the two drivers differ only in how a parameter is written.
_LITE_UPDATE = ("UPDATE questions SET votes = votes + ?, version = version + 1 "
                "WHERE id = ? AND status = 'open' RETURNING votes, version, pinned")
_LITE_INSERT = ("INSERT INTO question_votes (question_id, user_id, created_ms) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING")
_LITE_DELETE = "DELETE FROM question_votes WHERE question_id = ? AND user_id = ?"
_LITE_NOW = "SELECT votes, version, pinned FROM questions WHERE id = ?"
_PG_UPDATE = ("UPDATE questions SET votes = votes + $1, version = version + 1 "
              "WHERE id = $2 AND status = 'open' RETURNING votes, version, pinned")
_PG_INSERT = ("INSERT INTO question_votes (question_id, user_id, created_ms) VALUES ($1, $2, $3) "
              "ON CONFLICT DO NOTHING")
_PG_DELETE = "DELETE FROM question_votes WHERE question_id = $1 AND user_id = $2"
_PG_NOW = "SELECT votes, version, pinned FROM questions WHERE id = $1"


@dataclass(frozen=True, slots=True)
class Vote:
    question_id: int  # storage keys
    user_id: int
    up: bool  # cast; False: withdraw
    now_ms: int


def write_sqlite(conn: sqlite3.Connection, votes: Sequence[Vote]) -> list[Outcome | BaseException]:
    """Every vote of ``votes`` in ONE transaction on a plain sqlite3 connection, each in a
    savepoint of its own; an error of one vote's statements undoes that vote alone and is its
    answer. Commits; anything that fails the transaction itself rolls it all back and raises."""
    if conn.in_transaction:  # never expected: a pooled connection comes back clean
        log.warning("question votes: a pooled SQLite connection was in a transaction; rolled back")
        conn.rollback()
    conn.execute("BEGIN IMMEDIATE")  # the write lock first, waiting (busy_timeout) as any writer
    try:
        outcomes = [_one_sqlite(conn, vote) for vote in votes]
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return outcomes


def _one_sqlite(conn: sqlite3.Connection, vote: Vote) -> Outcome | BaseException:
    conn.execute("SAVEPOINT vote")
    try:
        # fetchall: a RETURNING statement must run to its end before the next one.
        after = conn.execute(_LITE_UPDATE, (1 if vote.up else -1, vote.question_id)).fetchall()
        if not after:
            conn.execute("RELEASE vote")
            return None
        if vote.up:
            changed = conn.execute(_LITE_INSERT, (vote.question_id, vote.user_id, vote.now_ms)).rowcount
        else:
            changed = conn.execute(_LITE_DELETE, (vote.question_id, vote.user_id)).rowcount
        if changed != 1:  # voted already / had not voted: the count stays as it was
            conn.execute("ROLLBACK TO vote")
            now = conn.execute(_LITE_NOW, (vote.question_id,)).fetchone()
            conn.execute("RELEASE vote")
            return False, int(now[0]), int(now[1]), bool(now[2])
        conn.execute("RELEASE vote")
        votes, version, pinned = after[0]
        return True, int(votes), int(version), bool(pinned)
    except sqlite3.DatabaseError as exc:
        if not conn.in_transaction:  # the transaction itself is gone (a full disk, I/O)
            raise
        conn.execute("ROLLBACK TO vote")
        conn.execute("RELEASE vote")
        return exc


class _Unchanged(Exception):
    """Rolls a PostgreSQL vote back: it changed no vote row."""


async def write_postgres(pg: Any, vote: Vote) -> Outcome:
    """One vote in a transaction of its own on a raw asyncpg connection."""
    try:
        async with pg.transaction():
            after = await pg.fetchrow(_PG_UPDATE, 1 if vote.up else -1, vote.question_id)
            if after is None:
                return None
            if vote.up:
                status = await pg.execute(_PG_INSERT, vote.question_id, vote.user_id, vote.now_ms)
            else:
                status = await pg.execute(_PG_DELETE, vote.question_id, vote.user_id)
            if not str(status).endswith(" 1"):
                raise _Unchanged
    except _Unchanged:
        now = await pg.fetchrow(_PG_NOW, vote.question_id)
        return False, int(now[0]), int(now[1]), bool(now[2])
    return True, int(after[0]), int(after[1]), bool(after[2])


class VoteWrites:
    """``cast(vote)``: the vote written and its outcome. On SQLite the votes waiting when a
    commit ends go together in the next; on PostgreSQL at most ``at_once`` write at a time
    (past the pool's connections they would only wait for one, each having armed the pool's
    timeout: hundreds in one turn of the loop in a storm)."""

    def __init__(self, engine: AsyncEngine, at_once: int) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._at_once = asyncio.Semaphore(at_once)
        self._limit = at_once
        self._waiting: list[tuple[Vote, asyncio.Future[Outcome]]] = []
        self._committing: asyncio.Task[None] | None = None
        # PostgreSQL: connections kept from one vote to the next while votes keep coming. A
        # check-out from the pool pings first (BEGIN, a statement, ROLLBACK: three round trips
        # through SQLAlchemy's adapter), as much work for the gateway as the vote itself in a
        # storm (py-spy of ``bench.questions --redis``). Kept only while other votes are in
        # flight, so an idle gateway holds none, and a connection comes back to the pool
        # (pinged again when next checked out) as soon as the votes stop.
        self._kept: list[AsyncConnection] = []
        self._in_flight = 0
        self.commits = 0  # transactions written (for tests and benchmarks)
        self.checkouts = 0  # PostgreSQL: connections taken from the pool

    async def cast(self, vote: Vote) -> Outcome:
        if self._postgres:
            return await self._cast_postgres(vote)
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((vote, done))
        if self._committing is None:
            self._committing = asyncio.create_task(self._commit_waiting(), name="question-votes")
        # A voter who leaves does not take the others' commit with it (nor its own vote, once
        # it is on its way: as with any write whose answer is lost, the next count shows it).
        return await asyncio.shield(done)

    async def _cast_postgres(self, vote: Vote) -> Outcome:
        self._in_flight += 1
        try:
            async with self._at_once:
                conn = self._kept.pop() if self._kept else None
                if conn is None:
                    conn = await self._engine.connect()
                    self.checkouts += 1
                good = False
                try:
                    pg: Any = (await conn.get_raw_connection()).driver_connection
                    try:
                        outcome = await write_postgres(pg, vote)
                    except asyncpg.PostgresError:
                        # The server refused a statement (a foreign key, say): the connection
                        # is fine if it is open and out of the transaction (rolled back).
                        good = not pg.is_closed() and not pg.is_in_transaction()
                        raise
                    good = True
                    self.commits += 1
                    return outcome
                finally:
                    # Kept for the votes still coming; otherwise back to the pool, or, when
                    # its state is unknown (lost, cancelled mid-statement), discarded.
                    if good and self._in_flight > 1 and len(self._kept) < self._limit:
                        self._kept.append(conn)
                    else:
                        await asyncio.shield(_release(conn, invalidate=not good))
        finally:
            self._in_flight -= 1
            if self._in_flight == 0 and self._kept:
                await asyncio.shield(self._release_kept())

    async def _release_kept(self) -> None:
        kept, self._kept = self._kept, []
        await asyncio.gather(*(_release(conn, invalidate=False) for conn in kept))

    async def aclose(self) -> None:
        """At shutdown: the votes already waiting committed (SQLite), the kept connections
        back to the pool. Votes still arriving meanwhile are the caller's to stop."""
        committing = self._committing
        if committing is not None:
            await asyncio.wait({committing}, timeout=5.0)
            if not committing.done():
                committing.cancel()
                await asyncio.wait({committing})
        await self._release_kept()

    async def _commit_waiting(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:VOTES_A_COMMIT], self._waiting[VOTES_A_COMMIT:]
                try:
                    outcomes = await self._write_sqlite([vote for vote, _ in batch])
                except asyncio.CancelledError:  # stopped (shutdown): nothing will write the rest
                    waiting, self._waiting = batch + self._waiting, []
                    for _, done in waiting:
                        done.cancel()
                    raise
                except Exception as exc:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for (_, done), outcome in zip(batch, outcomes, strict=True):
                    if done.done():
                        continue
                    if isinstance(outcome, BaseException):
                        done.set_exception(outcome)
                    else:
                        done.set_result(outcome)
        finally:
            self._committing = None

    async def _write_sqlite(self, votes: list[Vote]) -> list[Outcome | BaseException]:
        async with self._engine.connect() as conn:
            lite: Any = (await conn.get_raw_connection()).driver_connection  # aiosqlite.Connection
            # Everything in ONE call on aiosqlite's thread (its own way of running a function
            # there), not a hop per statement: see persistence/transcripts._store_sqlite.
            outcomes: list[Outcome | BaseException] = await lite._execute(write_sqlite, lite._conn, votes)
            self.commits += 1
            return outcomes


async def _release(conn: AsyncConnection, invalidate: bool) -> None:
    with contextlib.suppress(Exception):  # already broken: the pool forgets it either way
        if invalidate:
            await conn.invalidate()
        await conn.close()
