"""After a WebSocket upgrade nothing of uvicorn's HTTP protocol is left for the cyclic
collector (chat_server/gateway/http_upgrade.py): the gateway's own uvicorn configuration
against a real uvicorn and real WebSocket clients, with the collector switched off so that
whatever only it could free is still there to be counted."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from chat_server import serve
from chat_server.config import Settings
from chat_server.gateway import http_upgrade
from support.uvicorn_app import serving_config

CLIENTS = 5


async def _echo(ws: WebSocket) -> None:
    await ws.accept()
    async for text in ws.iter_text():
        await ws.send_text(text)


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


def _gateway_config(**overrides: Any) -> uvicorn.Config:
    app = Starlette(routes=[WebSocketRoute("/ws", _echo)])
    config = serve.uvicorn_config(Settings(host="127.0.0.1", port=0, log_level="warning"), app)
    for name, value in overrides.items():
        setattr(config, name, value)
    return config


def _http_protocols() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, HttpToolsProtocol))


async def _count_while_connected(config: uvicorn.Config) -> int:
    """HTTP protocol objects alive while CLIENTS WebSockets are open and answering."""
    async with serving_config(config) as base:
        url = base + "ws"
        before = _http_protocols()
        clients = [await websockets.connect(url, compression=None) for _ in range(CLIENTS)]
        try:
            for i, ws in enumerate(clients):
                await ws.send(f"hello {i}")
                assert await asyncio.wait_for(ws.recv(), 5) == f"hello {i}"
            return _http_protocols() - before
        finally:
            for ws in clients:
                await ws.close()


def test_the_gateway_serves_http_with_the_upgrading_protocol() -> None:
    config = _gateway_config()
    config.load()
    assert config.http_protocol_class is http_upgrade.UpgradingHttpProtocol


@pytest.mark.usefixtures("collector_off")
async def test_an_upgraded_connection_leaves_no_http_protocol_behind() -> None:
    assert await _count_while_connected(_gateway_config()) == 0


@pytest.mark.usefixtures("collector_off")
async def test_uvicorns_own_protocol_leaves_one_per_connection() -> None:
    # Why the subclass exists. If this starts failing, uvicorn breaks the cycle itself and
    # gateway/http_upgrade.py can go.
    assert await _count_while_connected(_gateway_config(http="httptools")) == CLIENTS


def test_the_parts_of_uvicorn_it_relies_on_are_there() -> None:
    for name in http_upgrade.UVICORN_METHODS:
        assert callable(getattr(HttpToolsProtocol, name, None)), name
    config = uvicorn.Config(Starlette())
    config.load()
    # A loop of its own: without one the protocol asks asyncio for the current loop, which
    # raises once an earlier test in the same worker has set and cleared one.
    loop = asyncio.new_event_loop()
    try:
        protocol = HttpToolsProtocol(config, uvicorn.server.ServerState(), {}, _loop=loop)
    finally:
        loop.close()
    for name in http_upgrade.UVICORN_ATTRIBUTES:
        assert hasattr(protocol, name), name
