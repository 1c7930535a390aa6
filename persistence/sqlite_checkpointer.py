"""Checkpoints of the embedded mode's SQLite file on a thread of their own, off the commit path.

Why: with SQLite's default (``wal_autocheckpoint=1000`` pages) the connection that commits
runs a checkpoint whenever the WAL has passed 1,000 pages: it copies every page the WAL holds
into the database file and syncs both files, while every post queued behind that commit
waits. In small rooms a one-row commit writes ~11 pages (the row, four index leaves, the FTS5
segment, its structure record and document size), so the writer thread did that every ~90
commits, four times a second at 500 messages a second, copying the same hot pages (index
leaves, the FTS5 structure) each time.

Here the writer thread's connection checkpoints only as a backstop (``BACKSTOP_PAGES``, when
this thread has not kept up), and this thread, woken by the first commit after its last round
and then waiting ``interval_s`` for more, runs a round:

1. ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection, while the writer goes on
   committing: it copies the pages of the WAL as it was when the round began and syncs the
   database file. A commit is durable by the WAL's own fsync at COMMIT
   (``synchronous=FULL``), so nothing here changes what an acknowledgement means.
2. If that copied everything it saw (no reader held an older snapshot), a second PASSIVE
   pass under ``gate``, the lock the writer thread holds around each transaction: it copies
   only what was committed during the first pass, and as the writer begins no transaction
   meanwhile, the WAL is then wholly copied, so the writer's next commit starts the WAL over
   from its beginning instead of growing it. The writer waits for that short pass only.

SQLite truncates the WAL file back to ``journal_size_limit`` (set on the writer's
connection) when it starts it over, so a burst that grew it does not leave it big. The
file is otherwise kept at its size: a commit that overwrites allocated blocks syncs less
file-system metadata than one that appends.

A round that fails (an I/O error, another connection's checkpoint holding the lock) is
logged and tried again at the next; commits never wait for it beyond the second pass, and
the backstop bounds the WAL if this thread falls behind for good.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

__all__ = ["BACKSTOP_PAGES", "WAL_LIMIT_BYTES", "Checkpointer"]

# The writer connection's own autocheckpoint, in pages: reached only when this thread has not
# kept up (at 500 messages a second the WAL grows ~2,200 pages between two rounds).
BACKSTOP_PAGES = 16_384
# journal_size_limit of the writer connection: the WAL file is cut back to this when SQLite
# starts it over after a burst grew it past it.
WAL_LIMIT_BYTES = 64 * 1024 * 1024


class Checkpointer:
    """Runs the checkpoint rounds of the SQLite file at ``path`` on its own thread. ``gate``
    is the lock the writer thread holds around each of its transactions. ``poke`` is called
    by the writer after a commit; ``start`` and ``stop`` by the writer's owner."""

    def __init__(self, path: str, gate: threading.Lock, interval_s: float = 0.5) -> None:
        self._path = path
        self._gate = gate
        self._interval_s = interval_s
        self._wake = threading.Event()  # a commit since the last round
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0  # rounds that copied the whole WAL (for tests and benchmarks)
        self.failures = 0  # rounds that failed (logged)

    def poke(self) -> None:
        """A transaction was committed. Cheap when a round is already due: ``Event.set`` on
        a set event takes its lock and returns, no wake-up."""
        if not self._wake.is_set():
            self._wake.set()

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the round in progress (a thread's join: call it off the event loop's
        thread or accept a wait of one round)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._wake.wait()
                # Gather the commits of interval_s into one round: each round copies the hot
                # pages once, however many commits rewrote them.
                if self._stopping.wait(self._interval_s):
                    return
                self._wake.clear()
                try:
                    if conn is None:
                        conn = self._connect()
                    self._round(conn)
                except sqlite3.Error as exc:
                    self.failures += 1
                    log.warning("WAL checkpoint failed (%s); trying again at the next round", exc)
                    if conn is not None:
                        with contextlib.suppress(sqlite3.Error):
                            conn.close()
                        conn = None
        finally:
            if conn is not None:
                conn.close()

    def _connect(self) -> sqlite3.Connection:
        # check_same_thread: made and used in this thread only. No busy wait: PASSIVE never
        # waits for a lock, and a round that meets one is simply tried again later.
        conn = sqlite3.connect(self._path, timeout=0, isolation_level=None)
        # The checkpoint syncs the WAL before copying and the database file after: FULL, as
        # every connection of the process (persistence/db.py).
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _round(self, conn: sqlite3.Connection) -> None:
        if not _passive(conn):
            return  # a reader holds an older snapshot: no restart this round, no gate
        with self._gate:
            if _passive(conn):
                self.rounds += 1


def _passive(conn: sqlite3.Connection) -> bool:
    """One PASSIVE checkpoint; whether it copied every frame the WAL held when it began.
    fetchall: the statement is done and reset, so this connection keeps no read mark that
    would stop the writer from starting the WAL over."""
    ((busy, frames, copied),) = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return not busy and frames == copied
