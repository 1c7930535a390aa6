"""Opening a Kindred socket and the frames' two encodings, shared by ``RoomSocket`` and by
anything that reads the raw frames itself (the tests' frame-logging client builds on these)."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import websockets
from websockets.asyncio.client import ClientConnection

MSGPACK = "kindred.v1.msgpack"
JSON = "kindred.v1.json"
Frame = dict[str, Any]


async def connect(
    ws_url: str,
    token: str | None,
    protocol: str = MSGPACK,
    *,
    origin: str | None = None,
    headers: dict[str, str] | None = None,
    open_timeout_s: float = 10.0,
) -> ClientConnection:
    """The WebSocket handshake (docs/protocol.md §1): the bearer token, one subprotocol, no
    compression, frames up to 4 MiB."""
    extra = dict(headers or {})
    if token is not None:
        extra["Authorization"] = f"Bearer {token}"
    return await websockets.connect(
        ws_url,
        additional_headers=extra,
        subprotocols=[protocol],  # type: ignore[list-item]
        origin=origin,  # type: ignore[arg-type]
        compression=None,
        max_size=2**22,
        open_timeout=open_timeout_s,
    )


def decode(data: bytes | str) -> Any:
    """One frame as the server sent it: msgpack in binary messages, JSON in text ones."""
    return msgpack.unpackb(data, raw=False) if isinstance(data, bytes) else json.loads(data)


def encode(frame: Frame, protocol: str) -> bytes | str:
    return msgpack.packb(frame) if protocol == MSGPACK else json.dumps(frame)
