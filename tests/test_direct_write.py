"""The direct write path against a real uvicorn: the protocol offers itself to the app in the
scope, and frames written through it reach the client intact and in order with frames sent
the ASGI way. This is the seam with uvicorn's internals, so it is tested on its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets

from chat_server.gateway import direct
from chat_server.wire import ws_frame
from support.uvicorn_app import serving


def _app(seen: dict[str, Any]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        writer = direct.writer_for(scope)
        seen["writer"] = writer
        if writer is not None:
            assert writer.write_now(ws_frame(b"\x01direct"))
            assert writer.write_now(ws_frame("direct text"))
        await send({"type": "websocket.send", "text": "through asgi"})
        await receive()  # the client's close

    return app


@pytest.fixture
async def direct_url() -> AsyncIterator[tuple[str, dict[str, Any]]]:
    seen: dict[str, Any] = {}
    async with serving(_app(seen)) as url:
        yield url, seen


@pytest.fixture
async def stock_url() -> AsyncIterator[tuple[str, dict[str, Any]]]:
    seen: dict[str, Any] = {}
    async with serving(_app(seen), ws="websockets-sansio") as url:
        yield url, seen


async def test_frames_written_directly_arrive_whole_and_in_order(direct_url: tuple[str, dict[str, Any]]) -> None:
    url, seen = direct_url
    async with websockets.connect(url, compression=None) as ws:
        got = [await asyncio.wait_for(ws.recv(), 5) for _ in range(3)]
    assert got == [b"\x01direct", "direct text", "through asgi"]
    assert isinstance(seen["writer"], direct.DirectWebSocketProtocol)


async def test_another_implementation_offers_no_direct_writer(stock_url: tuple[str, dict[str, Any]]) -> None:
    url, seen = stock_url
    async with websockets.connect(url, compression=None) as ws:
        assert await asyncio.wait_for(ws.recv(), 5) == "through asgi"
    assert seen["writer"] is None



def test_the_uvicorn_internals_direct_relies_on_are_there() -> None:
    """Fails the day uvicorn renames or drops what gateway/direct.py builds on (none of it is
    public API), and when the installed uvicorn is outside the range pyproject.toml allows."""
    import inspect
    import tomllib
    from importlib.metadata import version
    from pathlib import Path

    from packaging.requirements import Requirement
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    spec = next(Requirement(d) for d in pyproject["project"]["dependencies"]
                if Requirement(d).name == "uvicorn")
    assert spec.specifier.contains(version("uvicorn")), (version("uvicorn"), str(spec.specifier))
    assert any(s.operator == "<" for s in spec.specifier), "uvicorn needs a ceiling"

    source = inspect.getsource(WebSocketsSansIOProtocol)
    for name in direct.UVICORN_METHODS:
        assert name in WebSocketsSansIOProtocol.__dict__, f"uvicorn no longer defines {name}()"
    for name in direct.UVICORN_ATTRIBUTES:
        assert f"self.{name} =" in source or f"self.{name}:" in source, (
            f"uvicorn's protocol no longer sets self.{name}"
        )


async def test_a_live_socket_has_every_attribute_direct_reads(
    direct_url: tuple[str, dict[str, Any]],
) -> None:
    url, seen = direct_url
    async with websockets.connect(url, compression=None) as ws:
        await asyncio.wait_for(ws.recv(), 5)
        writer = seen["writer"]
        missing = [n for n in direct.UVICORN_ATTRIBUTES if not hasattr(writer, n)]
    assert missing == []
