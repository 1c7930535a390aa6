"""Checkpoints of the embedded mode's SQLite file on a thread of their own, off the commit path.

Why: with SQLite's default (``wal_autocheckpoint=1000`` pages) the connection that commits
runs a checkpoint whenever the WAL has passed 1,000 pages: it copies every page the WAL holds
into the database file and syncs both files, while every post queued behind that commit
waits. In small rooms a one-row commit writes ~11 pages (the row, four index leaves, the FTS5
segment, its structure record and document size), so the writer thread did that every ~90
commits, four times a second at 500 messages a second, copying the same hot pages (index
leaves, the FTS5 structure) each time.

Here the writer thread's connection checkpoints only as a backstop (``BACKSTOP_PAGES``,
when this thread has not kept up), and this thread, woken by the first commit after its last
round and then waiting ``interval_s`` for more, runs a round on its own connection: PASSIVE
checkpoints (``PRAGMA wal_checkpoint(PASSIVE)``), which copy the WAL as it was when each
began and sync the database file while the writer goes on committing, one after the other
until a pass finds nothing committed since the one before (a pass during which a commit or
two landed is followed by one that copies just those). The WAL is then wholly copied, and the
writer's next commit starts it over from its beginning instead of growing it. Nothing here
holds up a commit, and a commit is durable by the WAL's own fsync at COMMIT
(``synchronous=FULL``) as before: checkpoints change where a page lives, not whether it is
on disk. (A first version took a lock the writer holds around each transaction for the last
pass, to be sure to catch up: that pass syncs the WAL and the database file, two fsyncs, and
held the writer 4-7 ms twice a second on the loaded machine, as long as the checkpoint it
replaced.)

SQLite truncates the WAL file back to ``journal_size_limit`` (set on the writer's
connection) when it starts it over, so a burst that grew it does not leave it big. The
file is otherwise kept at its size: a commit that overwrites allocated blocks syncs less
file-system metadata than one that appends.

A round that fails (an I/O error) is logged and tried again at the next; a round that cannot
catch up (commits every few milliseconds, a reader holding an older snapshot) leaves the WAL
to grow until a later one does, and the backstop bounds it if none does.
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
# Passes of one round: each copies what was committed during the one before (a commit or two
# at small-room rates), until one finds nothing new.
_MAX_PASSES = 5
# journal_size_limit of the writer connection: the WAL file is cut back to this when SQLite
# starts it over after a burst grew it past it.
WAL_LIMIT_BYTES = 64 * 1024 * 1024


class Checkpointer:
    """Runs the checkpoint rounds of the SQLite file at ``path`` on its own thread. ``poke``
    is called by the writer thread after each commit; ``start`` and ``stop`` by its owner."""

    def __init__(self, path: str, interval_s: float = 0.5) -> None:
        self._path = path
        self._interval_s = interval_s
        self._wake = threading.Event()  # a commit since the last round
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0  # rounds that caught up with the WAL (for tests and benchmarks)
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
        """PASSIVE passes until one finds nothing committed since the pass before it: the
        WAL is then wholly copied, and the writer's next commit starts it over. A pass that
        could not copy everything (a reader holds an older snapshot) ends the round."""
        last = -1
        for _ in range(_MAX_PASSES):
            busy, frames, copied = _passive(conn)
            if busy or frames != copied:
                return
            if frames == last:
                self.rounds += 1
                return
            last = frames


def _passive(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """One PASSIVE checkpoint: (busy, frames in the WAL, frames copied). A pass that finds
    everything copied already copies and syncs nothing. fetchall: the statement is done and
    reset, so this connection keeps no read mark that would stop the writer from starting
    the WAL over."""
    ((busy, frames, copied),) = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return int(busy), int(frames), int(copied)
