"""The embedded mode's writer: commits posted messages to the database in small groups.

A send is acknowledged only after its row is committed. Rows queue while a commit runs, so
under load each commit carries many rows (natural batching) and at rest a row waits for no
timer. After each commit the rows' ``after_commit`` callbacks run in seq order: that is when
the broker appends them to the recent log and fans them out.

On SQLite (a file) the commits go to a thread of their own with a plain sqlite3 connection
(``persistence.sqlite_writer``): the event loop only hands it the batch and is called back
once it is committed, which costs far less CPU per commit than an async session; on
PostgreSQL through the async session.

The queue is bounded (``max_queue`` rows): while the database is slow or away, rows wait for
it, and past the bound ``submit`` refuses with ``Unavailable`` (the client resends with the
same cid later) rather than growing memory without limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.aio import stop_task, wait_at_most
from chat_server.transcripts.committer import RowRefused
from chat_server.transcripts.errors import is_bad_row
from persistence import transcripts
from persistence.sqlite_writer import SqliteWriter, sqlite_path
from persistence.transcripts import NewMessage
from rooms.errors import Unavailable

log = logging.getLogger(__name__)

__all__ = ["EmbeddedWriter", "RowRefused"]

FINISH_CHUNK = 256  # rows whose after_commit runs between two turns of the event loop


@dataclass(slots=True)
class _Item:
    row: NewMessage
    after_commit: Callable[[], None]
    done: asyncio.Future[None]


class EmbeddedWriter:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], max_batch: int = 2000, max_queue: int = 20_000
    ) -> None:
        self._db = db
        self._max_batch = max_batch
        self._max_queue = max_queue
        self._queue: deque[_Item] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._sqlite: SqliteWriter | None = None
        bind = db.kw.get("bind")
        self._sqlite_path = sqlite_path(bind.url) if bind is not None else None
        self.committed = 0

    def start(self) -> None:
        if self._sqlite_path is not None:
            self._sqlite = SqliteWriter(self._sqlite_path, self._max_batch)
            self._sqlite.start()
        self._task = asyncio.create_task(self._run(), name="embedded-writer")

    async def stop(self) -> None:
        """Commit what is queued (best effort, a few seconds), then stop."""
        if self._task is None:
            return
        await wait_at_most(self._idle.wait(), 5)
        await stop_task(self._task)
        self._task = None
        if self._sqlite is not None:
            # A batch handed over before the task stopped is committed (or fails) first.
            await self._sqlite.stop()
            self._sqlite = None

    def submit(self, row: NewMessage, after_commit: Callable[[], None]) -> asyncio.Future[None]:
        """Queue ``row``; the future resolves once it is committed and ``after_commit`` ran,
        or fails with ``RowRefused``. Raises ``Unavailable`` when ``max_queue`` rows wait."""
        if len(self._queue) >= self._max_queue:
            raise Unavailable("the server is busy storing messages; send it again shortly")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(row, after_commit, done))
        self._idle.clear()
        self._wake.set()
        return done

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
            batch = [self._queue[i] for i in range(min(len(self._queue), self._max_batch))]
            try:
                await self._commit([item.row for item in batch])
            except Exception as exc:
                if not is_bad_row(exc):
                    log.warning("transcript commit failed (%s); retrying", type(exc).__name__)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                await self._one_by_one(batch)
            else:
                for i, item in enumerate(batch):
                    if i and i % FINISH_CHUNK == 0:
                        # A big batch's callbacks fan every row out to the room: let the
                        # loop serve sockets between chunks instead of stalling for all.
                        await asyncio.sleep(0)
                    self._finish(item)
            backoff = 0.05
            for _ in batch:
                self._queue.popleft()
            if not self._queue:
                self._idle.set()

    async def _one_by_one(self, batch: list[_Item]) -> None:
        """A batch the database refused: commit rows singly and set aside those it refuses."""
        for item in batch:
            try:
                await self._commit([item.row])
            except Exception as exc:
                if not is_bad_row(exc):
                    raise
                log.error("message %s in %s set aside: %s", item.row.id, item.row.room, type(exc).__name__)
                if not item.done.done():
                    item.done.set_exception(RowRefused(type(exc).__name__))
                continue
            self._finish(item)

    def _finish(self, item: _Item) -> None:
        item.after_commit()
        self.committed += 1
        if not item.done.done():
            item.done.set_result(None)

    async def _commit(self, rows: list[NewMessage]) -> None:
        if self._sqlite is not None:
            await self._sqlite.submit(rows)
            return
        async with self._db() as session:
            await transcripts.store(session, rows)
