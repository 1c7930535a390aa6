"""The process helpers themselves, against real redis-server and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import urllib.request
from pathlib import Path

import asyncpg
import pytest
import redis

from support import zygote
from support.cluster import TEST_ENV, set_up
from support.gateways import Gateway, start_together
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


class _NeverReady(RedisServer):
    """A real redis-server that the readiness check never accepts."""

    ready_timeout_s = 1

    def _ready(self) -> bool:
        return False


@pytest.mark.redis
def test_a_server_that_never_gets_ready_is_killed_and_its_log_shown(tmp_path: Path) -> None:
    server = _NeverReady(tmp_path)
    with pytest.raises(TimeoutError, match=r"(?s)answering PING not true within .*log tail:\n.*Redis version"):
        server.start()
    assert server._proc is not None and server._proc.returncode is not None
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


def test_a_forked_gateway_is_the_serve_command(tmp_path: Path) -> None:
    """A gateway forked from the zygote (support/zygote.py) answers, stops gracefully with 0,
    reports SIGKILL as -9, and one that cannot start exits with the command's code and its
    refusal in its log; every one is a process of its own with its own environment."""
    env = {**TEST_ENV, "KINDRED_DATA_DIR": str(tmp_path / "data")}
    set_up(env, tmp_path)
    first, second = Gateway(env, tmp_path, name="first"), Gateway(env, tmp_path, name="second")
    start_together([first, second])
    try:
        if zygote.usable({**os.environ, **env}):
            assert isinstance(first._proc, zygote.Forked)
        assert first._proc is not None and second._proc is not None
        assert first._proc.pid != second._proc.pid
        for gw in (first, second):
            with urllib.request.urlopen(f"{gw.http_url}/healthz", timeout=5) as resp:
                assert resp.status == 200
        assert first.terminate() == 0
        second.kill()
        assert second._proc.returncode == -signal.SIGKILL
    finally:
        first.kill()
        second.kill()
    refused = Gateway({**env, "KINDRED_SEND_RATE": "plenty"}, tmp_path, name="refused")
    with pytest.raises(RuntimeError, match="exited with 2"):
        refused.start()
    assert "KINDRED_SEND_RATE" in refused.log_tail()
