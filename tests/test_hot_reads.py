"""The join path's reads on their own pool (persistence/hot_reads.py), against a real
PostgreSQL: no ping on checkout, so a connection the server has ended is found out by the read
itself, which is then run once more on a fresh connection and answers; an error that is not a
lost connection is the caller's at once, not retried. And the connection set-up
(persistence/db.py): to a database on this machine with nothing configured, asyncpg's
TLS-first request is not sent; a configured ``ssl`` is left alone."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from chat_server.config import Settings
from persistence.db import make_engine
from persistence.hot_reads import HotReads
from support.procs import Postgres

# What a PostgreSQL client sends first when it asks for TLS: length 8, code 80877103.
SSL_REQUEST = struct.pack("!ii", 8, 80877103)


async def _backend_pid(conn: AsyncConnection) -> int:
    return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


@pytest.fixture
async def hot(postgres: Postgres) -> AsyncIterator[HotReads]:
    engine = make_engine(postgres.url)
    reads = HotReads(engine)
    try:
        yield reads
    finally:
        await reads.close()
        await engine.dispose()


@pytest.mark.postgres
async def test_a_read_on_an_ended_connection_is_run_again_and_answers(
    hot: HotReads, postgres: Postgres
) -> None:
    first = await hot.run(_backend_pid)
    assert hot.engine.pool.checkedin() == 1  # kept for the next read
    postgres.psql(f"SELECT pg_terminate_backend({first})")
    second = await hot.run(_backend_pid)  # found dead by the read, not by a ping: retried
    assert second != first
    assert await hot.run(_backend_pid) == second  # the fresh connection is pooled in turn


@pytest.mark.postgres
async def test_an_error_that_is_not_a_lost_connection_is_not_retried(hot: HotReads) -> None:
    calls = 0

    async def bad(conn: AsyncConnection) -> None:
        nonlocal calls
        calls += 1
        await conn.execute(text("SELECT no_such_column FROM pg_class"))

    with pytest.raises(DBAPIError):
        await hot.run(bad)
    assert calls == 1
    assert await hot.run(_backend_pid) > 0


async def _first_message(url: str, plain_local: bool = True) -> bytes:
    """What a new connection of ``make_engine(url, plain_local=…)`` sends first, to a
    listener on 127.0.0.1 that closes it after reading."""
    got: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def listen(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(8)
        if not got.done():
            got.set_result(data)
        writer.close()

    server = await asyncio.start_server(listen, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    engine = make_engine(url.format(port=port), plain_local=plain_local)
    try:
        with pytest.raises(Exception):  # noqa: B017 - the listener is no database
            async with engine.connect():
                pass
        return await asyncio.wait_for(got, 5)
    finally:
        await engine.dispose()
        server.close()
        await server.wait_closed()


@pytest.mark.unit
async def test_a_local_database_is_not_asked_for_tls_first() -> None:
    first = await _first_message("postgresql+asyncpg://u:p@127.0.0.1:{port}/d")
    assert first and first != SSL_REQUEST  # the startup message at once


@pytest.mark.unit
@pytest.mark.parametrize("configured", ["?ssl=prefer", "?ssl=require"])
async def test_a_configured_ssl_is_kept(configured: str) -> None:
    first = await _first_message("postgresql+asyncpg://u:p@127.0.0.1:{port}/d" + configured)
    assert first == SSL_REQUEST


@pytest.mark.unit
async def test_pgsslmode_in_the_environment_is_kept() -> None:
    settings = Settings.from_env({"PGSSLMODE": "prefer"})
    assert settings.pg_sslmode == "prefer" and not settings.postgres_plain_local
    assert Settings.from_env({}).postgres_plain_local
    url = "postgresql+asyncpg://u:p@127.0.0.1:{port}/d"
    assert await _first_message(url, plain_local=settings.postgres_plain_local) == SSL_REQUEST
