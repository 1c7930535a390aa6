"""KINDRED_HTTP_KEEP_ALIVE_S: how long the gateway keeps an idle HTTP keep-alive connection.

A proxy that keeps its connections to Kindred alive must give up on an idle one before the
gateway closes it, or a request sent just as it closes is reset (docs/operations.md §2.5), so
operators raise this above the proxy's idle timeout. Checked on a raw socket: after a
response, the connection is closed by the gateway once the setting's time has passed idle,
and not before; Kindred's own Python client gives up on idle connections sooner than the
default (chat_server/client/api.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_server.client.api import KEEPALIVE_EXPIRY_S
from chat_server.config import Settings
from support.cluster import Deployment
from support.procs import TIMEOUT_SCALE

KEEP_S = 1.0


@pytest.fixture(scope="module")
def short_keep_alive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    dep = Deployment.start(tmp_path_factory.mktemp("keep-alive"), count=1,
                           extra_env={"KINDRED_HTTP_KEEP_ALIVE_S": str(KEEP_S)})
    yield dep
    dep.stop()


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One GET /healthz on the connection, its whole response read."""
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: kindred\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 200"), head
    length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))
    await reader.readexactly(length)


async def _one_request(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await _request(reader, writer)
    return reader, writer


async def test_an_idle_connection_is_closed_after_the_setting_and_not_before(short_keep_alive: Deployment) -> None:
    reader, writer = await _one_request(short_keep_alive.gateways[0].port)
    loop = asyncio.get_running_loop()
    idle_from = loop.time()
    try:
        # Closed by the gateway: EOF, within the setting plus the scaled margin.
        closed = await asyncio.wait_for(reader.read(1), KEEP_S + 3 * TIMEOUT_SCALE)
        assert closed == b""
        idle = loop.time() - idle_from
        assert idle >= KEEP_S * 0.9  # not before its time
        assert idle < 4.5, idle  # the setting's, not the default's 5 s
    finally:
        writer.close()


async def test_a_connection_in_use_stays_open(short_keep_alive: Deployment) -> None:
    """Requests every half the setting keep one connection open for three times the setting."""
    port = short_keep_alive.gateways[0].port
    reader, writer = await _one_request(port)
    try:
        for _ in range(6):
            await asyncio.sleep(KEEP_S / 2)
            await _request(reader, writer)
    finally:
        writer.close()


def test_the_setting_is_read_checked_and_the_client_gives_up_first(tmp_path: Path) -> None:
    default = Settings.from_env({"KINDRED_DATA_DIR": str(tmp_path)}).http_keep_alive_s
    assert default == 5.0
    assert default > KEEPALIVE_EXPIRY_S
    assert Settings.from_env({"KINDRED_DATA_DIR": str(tmp_path), "KINDRED_HTTP_KEEP_ALIVE_S": "65"}).http_keep_alive_s == 65
    with pytest.raises(Exception, match="KINDRED_HTTP_KEEP_ALIVE_S must be positive"):
        Settings.from_env({"KINDRED_DATA_DIR": str(tmp_path), "KINDRED_HTTP_KEEP_ALIVE_S": "0"})
