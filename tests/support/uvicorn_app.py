"""A bare ASGI app served by a real uvicorn inside the test's own event loop, for tests of the
seam with uvicorn's WebSocket protocol (the direct write path, gateway/direct.py): the app
sees the real socket, the test holds the objects the app made. And a pass-through around a
socket's transport that records every write (each still reaches the socket)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from chat_server.gateway import direct


@asynccontextmanager
async def serving(app: Any, ws: Any = direct.DirectWebSocketProtocol) -> AsyncIterator[str]:
    """``app`` on 127.0.0.1, a free port, with the WebSocket implementation ``ws`` (the direct
    write path unless told otherwise), no lifespan and no compression; yields its ws:// URL.
    Started and stopped within 10 s each."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, ws=ws, lifespan="off",
                            log_level="warning", ws_per_message_deflate=False)
    async with serving_config(config) as url:
        yield url


@asynccontextmanager
async def serving_config(config: uvicorn.Config) -> AsyncIterator[str]:
    """A uvicorn with ``config`` (its host 127.0.0.1, its port 0: a free one) in this event
    loop; yields its ws:// URL. Started and stopped within 10 s each."""
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
                await asyncio.sleep(0.01)
        yield f"ws://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


class CountingTransport:
    """The real transport, with what each ``write`` call carried recorded."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self.written: list[bytes] = []

    @property
    def writes(self) -> int:
        return len(self.written)

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def count_writes(writer: direct.DirectWebSocketProtocol) -> CountingTransport:
    """Put a ``CountingTransport`` between ``writer`` (uvicorn's protocol, so the ASGI sends
    too) and its socket."""
    counting = CountingTransport(writer.transport)
    writer.transport = counting  # type: ignore[assignment]
    return counting


async def accept_counted(
    scope: dict[str, Any], receive: Any, send: Any, subprotocol: str | None = None,
) -> tuple[direct.DirectWebSocketProtocol, CountingTransport]:
    """In an app on ``serving``: accept the WebSocket (with ``subprotocol``); its direct
    writer, with its writes recorded (``count_writes``)."""
    await receive()  # websocket.connect
    accept = {"type": "websocket.accept"}
    if subprotocol is not None:
        accept["subprotocol"] = subprotocol
    await send(accept)
    writer = direct.writer_for(scope)
    assert writer is not None, "the direct write path is not in the scope"
    return writer, count_writes(writer)


def payloads(written: bytes) -> list[bytes]:
    """The payloads of the server's WebSocket frames in ``written`` (one ``write`` call's
    bytes: whole frames, unmasked, as a server sends them)."""
    found, at = [], 0
    while at < len(written):
        size, at = written[at + 1] & 0x7F, at + 2
        if size >= 126:
            width = 2 if size == 126 else 8
            size, at = int.from_bytes(written[at:at + width], "big"), at + width
        found.append(written[at:at + size])
        at += size
    return found
