"""How the load generator talks to each server it measures.

Kindred speaks its own protocol (docs/protocol.md, msgpack subprotocol). The raw-limit and
Django Channels reference servers in ``bench/peers`` were written for this benchmark to speak
the same frames (``join``, ``send`` in; ``joined``, ``ack``, ``message`` out, msgpack in binary
WebSocket messages), so the generator's code path is the same for all three. python-socketio
speaks Socket.IO (Engine.IO v4 over a WebSocket, JSON text packets); its dialect wraps the
same frames in ``42["event", {...}]`` packets.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack

from bench.wsclient import BINARY, TEXT, WSClient

_packb = msgpack.Packer(use_bin_type=True).pack
_unpackb = msgpack.unpackb


class Msgpack:
    """Kindred, the raw limit and Channels: one msgpack map per binary message."""

    name = "msgpack"
    path = "/ws"

    def __init__(self, subprotocol: str | None) -> None:
        self.subprotocol = subprotocol

    def headers(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def encode(self, frame: dict[str, Any]) -> tuple[int, bytes]:
        return BINARY, _packb(frame)

    def decode(self, client: WSClient, opcode: int, payload: bytes) -> dict[str, Any] | None:
        frame: dict[str, Any] = _unpackb(payload)
        return frame

    def needs_open(self) -> bool:
        return False


class SocketIO:
    """Engine.IO 4 over a WebSocket: ``0{...}`` open, ``40`` connect, ``2``/``3`` ping/pong,
    ``42[event, data]`` events. The server emits each frame as event ``frame``."""

    name = "socketio"
    path = "/socket.io/?EIO=4&transport=websocket"
    subprotocol = None

    def headers(self, token: str | None) -> dict[str, str]:
        return {}

    def encode(self, frame: dict[str, Any]) -> tuple[int, bytes]:
        return TEXT, b'42["' + frame["type"].encode() + b'",' + json.dumps(frame).encode() + b"]"

    def decode(self, client: WSClient, opcode: int, payload: bytes) -> dict[str, Any] | None:
        kind = payload[:1]
        if kind == b"4":
            if payload[1:2] == b"2":
                event = json.loads(payload[2:])
                frame: dict[str, Any] = event[1]
                return frame
            if payload[1:2] == b"0":
                return {"type": "_open"}
            return None
        if kind == b"2":  # Engine.IO ping from the server: answer or be dropped
            client.send(TEXT, b"3")
        elif kind == b"0":  # Engine.IO open: now connect to the default namespace
            client.send(TEXT, b"40")
        return None

    def needs_open(self) -> bool:
        return True


def dialect(kind: str) -> Msgpack | SocketIO:
    if kind == "kindred":
        return Msgpack("kindred.v1.msgpack")
    if kind == "socketio":
        return SocketIO()
    return Msgpack(None)
