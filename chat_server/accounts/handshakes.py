"""The session lookups of handshakes that arrive together, read from the database together.

A reconnect storm brings hundreds of handshakes within a second, each needing its session's
member, blocks and staff rooms (persistence/handshake.py). Read one by one, each paid its own
round trip to the database (on SQLite: several hops to aiosqlite's thread, and a rollback when
the pooled connection went back). Here one read is in flight at a time; the lookups that
arrive meanwhile wait for it to finish and then go together in the next one.

Nothing is cached: every lookup is answered by a read that started after the lookup was
asked for, so a session signed out (its row deleted) before a handshake arrives is never let
in by it, exactly as with a read of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from persistence.handshake import Handshake

# Reads the live sessions among these token digests: {digest: Handshake}, the others absent.
ReadMany = Callable[[list[str]], Awaitable[dict[str, Handshake]]]


class HandshakeReads:
    def __init__(self, read: ReadMany, max_batch: int = 500) -> None:
        self._read = read
        self._max_batch = max_batch  # bounded: one read's rows, and its wait
        self._waiting: dict[str, list[asyncio.Future[Handshake | None]]] = {}
        self._reading: asyncio.Task[None] | None = None
        self._closed = False

    async def lookup(self, digest: str) -> Handshake | None:
        """The live session's member and context, None for an unknown, expired or ended one.
        Raises what the read raised (the database unreachable)."""
        if self._closed:
            raise RuntimeError("shutting down")
        answer: asyncio.Future[Handshake | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(digest, []).append(answer)
        if self._reading is None:
            self._next()
        return await answer

    def _next(self) -> None:
        batch: dict[str, list[asyncio.Future[Handshake | None]]] = {}
        while self._waiting and len(batch) < self._max_batch:
            digest = next(iter(self._waiting))
            batch[digest] = self._waiting.pop(digest)
        self._reading = asyncio.create_task(self._run(batch), name="handshake-reads")

    async def _run(self, batch: dict[str, list[asyncio.Future[Handshake | None]]]) -> None:
        try:
            found = await self._read(list(batch))
        except BaseException as exc:
            # Every handshake of the batch is refused the way a failed read of its own was.
            error = exc if isinstance(exc, Exception) else RuntimeError("the read was cancelled")
            for answers in batch.values():
                for answer in answers:
                    if not answer.done():  # a handshake whose client went away meanwhile
                        answer.set_exception(error)
            if not isinstance(exc, Exception):
                raise
        else:
            for digest, answers in batch.items():
                for answer in answers:
                    if not answer.done():
                        answer.set_result(found.get(digest))
        finally:
            self._reading = None
            if self._waiting and not self._closed:
                self._next()

    async def close(self) -> None:
        """Stop reading; handshakes still waiting get an error (shutdown)."""
        self._closed = True
        reading = self._reading
        if reading is not None:
            reading.cancel()
            with contextlib.suppress(BaseException):
                await reading
        for answers in self._waiting.values():
            for answer in answers:
                if not answer.done():
                    answer.set_exception(RuntimeError("shutting down"))
        self._waiting.clear()
