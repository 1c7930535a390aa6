"""A thread that owns one plain ``sqlite3`` connection and commits batches of messages.

Why a thread of our own: the embedded mode commits every posted message before it is
acknowledged, one to three rows a commit in small rooms. Through SQLAlchemy's async session
and aiosqlite each commit cost a session, a pooled connection, a greenlet and several hops to
aiosqlite's thread and back; here a batch costs the event loop one queue append and one
callback when its transaction has committed (``loop.call_soon_threadsafe``).

Group commit: the thread takes everything queued while the previous transaction committed and
commits it in ONE transaction (one fsync for them all, with ``synchronous=FULL``). A batch's
future resolves only once that transaction has committed, so nothing is acknowledged before
it is on disk. If the group's transaction fails, each batch of the group is tried again in a
transaction of its own, so an error fails only the futures of the batch that caused it; the
thread keeps going.

``stop`` drains: it refuses new batches, the thread commits what is already queued, then
closes the connection; a batch that cannot be committed then has its future failed. Every
future is settled before ``stop`` returns, so no row is silently dropped.

Waiting for another connection's lock: SQLite's own busy wait cannot be interrupted
(``interrupt`` stops a running statement, not the busy handler's sleeps), so the thread waits
in steps of ``_LOCK_STEP_S`` up to ``_LOCK_WAIT_S`` in all, and ``stop``, once its time is up,
ends the wait after the current step: a stop is bounded even while the file is locked. That
holds for the connection's opening too (its ``journal_mode=WAL`` may have to wait for the
file), as for each transaction's BEGIN IMMEDIATE.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url

from persistence.db import SQLITE_PRAGMAS
from persistence.transcripts import NewMessage, insert_sqlite

__all__ = ["SqliteWriter", "WriterStopped", "sqlite_path"]

_LOCK_WAIT_S = 30.0  # how long a transaction waits for the write lock (SQLITE_PRAGMAS' 30 s)
_LOCK_STEP_S = 0.05  # SQLite's busy wait, one step of it: how late a stop may see its turn


class WriterStopped(Exception):
    """The writer is stopping or stopped: the batch was not taken (nothing of it stored)."""


def sqlite_path(url: str | URL) -> str | None:
    """The file of a SQLite database URL, or None (another database, or in memory: a second
    connection to ``:memory:`` would be a database of its own)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    path = parsed.database or ""
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path


@dataclass(slots=True)
class _Batch:
    rows: Sequence[NewMessage]
    done: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


class SqliteWriter:
    """Commits batches of ``NewMessage`` rows to the SQLite file at ``path`` from its own
    thread. ``submit`` and ``stop`` are called from the event loop; ``max_rows`` caps the
    rows of one group transaction (a single bigger batch still goes whole)."""

    def __init__(self, path: str, max_rows: int = 5000) -> None:
        self._path = path
        self._max_rows = max_rows
        self._queue: deque[_Batch] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._ended: asyncio.Future[None] | None = None
        self._give_up = threading.Event()  # stop's time is up: wait no more for the lock
        self.transactions = 0  # committed group transactions (for tests and benchmarks)

    @property
    def queued(self) -> int:
        """Batches handed over and not yet taken into a transaction."""
        with self._cond:
            return len(self._queue)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._stopping = False
        self._give_up.clear()
        self._ended = loop.create_future()
        self._thread = threading.Thread(
            target=self._run, args=(loop, self._ended), name="sqlite-writer", daemon=True
        )
        self._thread.start()

    def submit(self, rows: Sequence[NewMessage]) -> asyncio.Future[None]:
        """Queue ``rows`` for the next transaction. The future resolves once they are
        committed, or fails with the database's error (then none of them is stored) or with
        ``WriterStopped``. Raises ``WriterStopped`` at once when the writer is not running."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self._stopping or self._thread is None:
                raise WriterStopped("the transcript writer is not running")
            self._queue.append(_Batch(rows, done, loop))
            self._cond.notify()
        return done

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Refuse new batches, commit what is queued, close the connection. After
        ``timeout_s`` a statement still running is interrupted and nothing waits for another
        connection's write lock any more: what cannot be committed at once then fails
        (``WriterStopped`` for a batch the lock kept out). Every future handed out is settled
        when this returns."""
        if self._thread is None or self._ended is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify()
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(self._ended)
        except TimeoutError:
            self._give_up.set()
            conn = self._conn
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):  # closed meanwhile: nothing runs
                    conn.interrupt()  # thread-safe: the running statement fails at once
            await self._ended
        self._thread = None

    # -- the thread ---------------------------------------------------------------------

    def _run(self, loop: asyncio.AbstractEventLoop, ended: asyncio.Future[None]) -> None:
        try:
            while True:
                group = self._next_group()
                if not group:
                    break
                _settle(group, self._commit(group))
        finally:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()
            with self._cond:  # only if the loop above died of something unforeseen
                self._stopping = True
                left = list(self._queue)
                self._queue.clear()
            _settle(left, [WriterStopped("the transcript writer ended")] * len(left))
            # After every _settle above (call_soon_threadsafe keeps the order): once ``stop``
            # sees this, every batch's future has its outcome.
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, ended)

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; BEGIN IMMEDIATE and COMMIT are ours.
        # check_same_thread=False only so that ``stop`` may interrupt it from the loop's
        # thread; nothing else touches it outside this thread.
        conn = sqlite3.connect(self._path, timeout=_LOCK_STEP_S, isolation_level=None,
                               check_same_thread=False)
        try:
            # The pragmas wait for a lock as a transaction does, up to _LOCK_WAIT_S in steps:
            # ``journal_mode=WAL`` needs the file to itself when it is not in WAL mode yet, or
            # when another connection holds it in exclusive locking mode. Failing after one
            # step, as it did, failed the batches of a writer (re)opening meanwhile.
            for pragma in SQLITE_PRAGMAS:
                self._waiting_for_lock(conn, pragma)
            # One step of the lock wait, after SQLITE_PRAGMAS' 30 s: ``_begin`` takes the steps.
            conn.execute(f"PRAGMA busy_timeout={int(_LOCK_STEP_S * 1000)}")
            # Temporary storage in memory: the multi-row INSERT (its FTS5 trigger) keeps a
            # statement journal of ~250 KiB, which spilled to a file SQLite created in
            # /var/tmp, wrote and deleted on about every other commit (strace of small rooms:
            # an open, a close, two access() and ~60 writes a commit). Nothing durable lives
            # there: a statement journal only undoes one statement inside its transaction,
            # and the WAL with its fsync is what makes a commit survive a crash, as before.
            conn.execute("PRAGMA temp_store=MEMORY")
        except BaseException:
            conn.close()
            raise
        return conn

    def _next_group(self) -> list[_Batch]:
        """Everything queued (up to ``max_rows`` rows, at least one batch), waiting for it;
        empty once stopping and nothing is left."""
        with self._cond:
            while not self._queue:
                if self._stopping:
                    return []
                self._cond.wait()
            group = [self._queue.popleft()]
            rows = len(group[0].rows)
            while self._queue and rows + len(self._queue[0].rows) <= self._max_rows:
                batch = self._queue.popleft()
                rows += len(batch.rows)
                group.append(batch)
            return group

    def _commit(self, group: list[_Batch]) -> list[Exception | None]:
        """Commit the group in one transaction; failing that, each batch alone. Returns
        each batch's error (None: committed)."""
        if self._conn is None:
            try:
                self._conn = self._connect()
            except Exception as exc:  # the file cannot be opened (yet): the caller retries
                return [exc] * len(group)
        if len(group) == 1:
            return [self._transaction(group[0].rows)]
        rows = [row for batch in group for row in batch.rows]
        error = self._transaction(rows)
        if error is None:
            return [None] * len(group)
        if not _rows_refused(error):  # the lock, or a stop: each batch alone would fare no better
            return [error] * len(group)
        return [self._transaction(batch.rows) for batch in group]

    def _transaction(self, rows: Sequence[NewMessage]) -> Exception | None:
        conn = self._conn
        assert conn is not None
        try:
            self._begin(conn)
            insert_sqlite(conn, rows)
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            return exc
        self.transactions += 1
        return None

    def _begin(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, waiting for another connection's write lock (``_waiting_for_lock``).
        In WAL mode the write lock is what a writer waits for; a later statement that found
        the file busy all the same would fail its transaction after one step (nothing
        stored, the caller retries)."""
        self._waiting_for_lock(conn, "BEGIN IMMEDIATE")

    def _waiting_for_lock(self, conn: sqlite3.Connection, sql: str) -> None:
        """Run ``sql``, waiting up to ``_LOCK_WAIT_S`` for another connection's lock, a step
        at a time. Raises ``WriterStopped`` when ``stop`` gave up waiting."""
        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            if self._give_up.is_set():
                raise WriterStopped("stopped while another connection held the database's lock")
            try:
                conn.execute(sql)
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                    raise


def _rows_refused(error: Exception) -> bool:
    """Whether the database refused the rows themselves (a constraint, say), rather than
    being locked or interrupted, or the writer stopping."""
    if isinstance(error, WriterStopped):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    return code is None or code & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_INTERRUPT)


def _settle(group: list[_Batch], errors: Sequence[Exception | None]) -> None:
    """Hand each batch's outcome to its loop: one wake-up of the loop per loop and group."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[None], Exception | None]]] = {}
    for batch, error in zip(group, errors, strict=True):
        by_loop.setdefault(batch.loop, []).append((batch.done, error))
    for loop, outcomes in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(_resolve_all, outcomes)


def _resolve_all(outcomes: list[tuple[asyncio.Future[None], Exception | None]]) -> None:
    for done, error in outcomes:
        if done.done():  # cancelled by its waiter
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
