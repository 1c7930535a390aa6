"""The join path's reads (the handshake, a room's facts, its stored head) on a pool of their own
that does not ping on checkout.

The main engine pings every connection it checks out (``pool_pre_ping``: on PostgreSQL a
BEGIN, a statement and a ROLLBACK, three round trips before the read's one). For these reads
that was most of the database's share of a join. They are single statements that change
nothing, so they can take SQLAlchemy's optimistic disconnect handling instead: no ping, and a
read that fails because its connection was dead (the database restarted, the backend was
ended) is run once more. The failure invalidates the pool's older connections, so the retry
connects afresh; if the database is really down the retry's connect fails and that error is
the caller's, as before. Reads only: a retried statement can have had no effect.

SQLite has nothing to ping over a network and no server to lose: it keeps the main engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from persistence.db import postgres_connect_args

T = TypeVar("T")

# The handshakes arriving together are one read, a room's facts and head one per room. No
# overflow: past the pool the reads wait for a connection. An overflow connection is opened
# and closed around a single read (a backend started, asyncpg's set-up round trips), which in
# a storm, with one head read per room at once, cost more than the pings saved.
POOL_SIZE, MAX_OVERFLOW = 10, 0


class HotReads:
    def __init__(self, engine: AsyncEngine, *, plain_local: bool = False) -> None:
        self.postgres = engine.dialect.name == "postgresql"
        self.engine = engine
        if self.postgres:
            self.engine = create_async_engine(
                engine.url, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW,
                pool_pre_ping=False, hide_parameters=True,
                connect_args=postgres_connect_args(engine.url, plain_local=plain_local),
            )

    async def run(self, read: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``read(conn)`` on a pooled connection, in autocommit on PostgreSQL (no BEGIN and
        ROLLBACK around it); run again once if its connection turned out to be dead."""
        try:
            return await self._once(read)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        return await self._once(read)

    async def _once(self, read: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with self.engine.connect() as conn:
            if self.postgres:
                # On SQLite switching the isolation level costs more hops to its thread
                # than it saves.
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            return await read(conn)

    async def close(self) -> None:
        if self.postgres:
            await self.engine.dispose()
