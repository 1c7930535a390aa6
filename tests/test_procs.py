"""The process helpers themselves, against real redis-server and PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import asyncpg
import pytest
import redis

from support.procs import Postgres, RedisServer, free_port, wait_for


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_wait_for_times_out_with_message() -> None:
    with pytest.raises(TimeoutError, match="the moon not true within"):
        wait_for(lambda: False, 0.1, "the moon")


@pytest.mark.redis
def test_redis_survives_sigkill_via_aof(tmp_path: Path) -> None:
    with RedisServer(tmp_path) as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        client = redis.Redis.from_url(server.url)
        try:
            assert client.set("kindred:probe", "still here")
            port = server.port

            server.kill()
            with pytest.raises(redis.ConnectionError):
                client.get("kindred:probe")

            server.restart()
            assert server.port == port
            assert client.get("kindred:probe") == b"still here"
        finally:
            client.close()
    assert not server.running


async def _select_one(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        value: int = await conn.fetchval("SELECT 1")
        return value
    finally:
        await conn.close()


async def _count_tables(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        value: int = await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        )
        return value
    finally:
        await conn.close()


async def _create_table_and_hold(dsn: str, pg: Postgres) -> None:
    # Keep a connection open across reset_database to prove FORCE ends it.
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE rooms (id int PRIMARY KEY)")
        await conn.execute("INSERT INTO rooms VALUES (1)")
        await asyncio.to_thread(pg.reset_database)
        # Depending on timing asyncpg has or has not yet read the server's
        # "terminating connection" message; either way the connection is dead.
        with pytest.raises((asyncpg.InterfaceError, asyncpg.PostgresError, ConnectionError)):
            await conn.fetchval("SELECT 1")
    finally:
        conn.terminate()


@pytest.mark.postgres
def test_postgres_stop_start_and_reset(tmp_path: Path) -> None:
    with Postgres(tmp_path) as pg:
        assert pg.url == f"postgresql+asyncpg://kindred:kindred@127.0.0.1:{pg.port}/kindred"
        assert asyncio.run(_select_one(pg.dsn)) == 1

        pg.stop()
        assert not pg.running
        pg.start()
        assert asyncio.run(_select_one(pg.dsn)) == 1

        asyncio.run(_create_table_and_hold(pg.dsn, pg))
        assert asyncio.run(_count_tables(pg.dsn)) == 0

        # A crash (SIGKILL) is survivable too: crash recovery runs on start.
        pg.kill()
        pg.start()
        assert asyncio.run(_select_one(pg.dsn)) == 1
    assert not pg.running
