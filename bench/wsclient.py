"""A lean WebSocket client for the load generator: RFC 6455 on a bare ``asyncio.Protocol``.

Why not the ``websockets`` client: on this 2-core machine the generator shares the CPU with
the server it measures, and a general-purpose client spends several times more per received
frame (a future and a queue per message) than the servers spend per sent frame, so it would
measure itself. This one parses frames straight out of ``data_received`` and hands each
payload to a callback, synchronously. It still speaks the real protocol: an HTTP/1.1 upgrade
with a random key, masked client frames, ping answered with pong, the closing handshake.

Why not ``chat_server.client.RoomSocket`` either (the project's client, which the tests and
bench/questions.py use): it is built on that same ``websockets`` client, and on top it decodes
every frame into a dict and keeps per-room state, costs the load generator would add to the
figures it reports. The hot path stays here, on purpose.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Callable
from typing import cast

from websockets.utils import apply_mask

TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10

OnFrame = Callable[[int, bytes], None]


class HandshakeFailed(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status


def _frame(opcode: int, payload: bytes) -> bytes:
    """One masked, final client frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    mask = os.urandom(4)
    return head + mask + apply_mask(payload, mask)


class WSClient(asyncio.Protocol):
    """One connection. ``on_frame(opcode, payload)`` runs for every text or binary message;
    ``closed`` resolves with the close code (1006 when the TCP connection just went away)."""

    def __init__(
        self, host: str, port: int, path: str, headers: dict[str, str], subprotocol: str | None,
        on_frame: OnFrame,
    ) -> None:
        loop = asyncio.get_running_loop()
        self._host, self._port, self._path = host, port, path
        self._headers = headers
        self._subprotocol = subprotocol
        self.on_frame = on_frame
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[int] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._upgraded = False
        self._fragments: list[bytes] = []
        self._fragment_opcode = 0

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transport is not a subclass of asyncio.Transport, but has its methods.
        tr = self.transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {self._path} HTTP/1.1",
            f"Host: {self._host}:{self._port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if self._subprotocol:
            lines.append(f"Sec-WebSocket-Protocol: {self._subprotocol}")
        lines.extend(f"{k}: {v}" for k, v in self._headers.items())
        tr.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if not self._upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).decode("latin-1")
            status_line = head.split("\r\n", 1)[0]
            status = int(status_line.split(" ", 2)[1])
            if status != 101:
                # A refusal has a body (Content-Length): wait for it so the detail is readable.
                length = 0
                for line in head.split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if len(buf) < end + 4 + length:
                    return
                detail = bytes(buf[end + 4:end + 4 + length]).decode("utf-8", "replace")
                if not self.opened.done():
                    self.opened.set_exception(HandshakeFailed(status, detail))
                assert self.transport is not None
                self.transport.close()
                return
            del buf[:end + 4]
            self._upgraded = True
            if not self.opened.done():
                self.opened.set_result(None)
        self._parse()

    def _parse(self) -> None:
        buf = self._buf
        pos = 0
        size = len(buf)
        on_frame = self.on_frame
        while size - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 10], "big")
                head = 10
            if b1 & 0x80:  # servers must not mask; accept it anyway
                head += 4
            end = pos + head + length
            if end > size:
                break
            payload = bytes(buf[pos + head:end])
            if b1 & 0x80:
                payload = apply_mask(payload, bytes(buf[pos + head - 4:pos + head]))
            pos = end
            opcode = b0 & 0x0F
            if opcode in (TEXT, BINARY):
                if b0 & 0x80:
                    on_frame(opcode, payload)
                else:
                    self._fragment_opcode, self._fragments = opcode, [payload]
            elif opcode == 0:
                self._fragments.append(payload)
                if b0 & 0x80:
                    on_frame(self._fragment_opcode, b"".join(self._fragments))
                    self._fragments = []
            elif opcode == PING:
                self._write(PONG, payload)
            elif opcode == CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                self._write(CLOSE, payload[:2])
                if not self.closed.done():
                    self.closed.set_result(code)
                assert self.transport is not None
                self.transport.close()
                break
        if pos:
            del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("connection lost during the handshake"))
        if not self.closed.done():
            self.closed.set_result(1006)

    # -- sending -----------------------------------------------------------------------

    def _write(self, opcode: int, payload: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(_frame(opcode, payload))

    def send(self, opcode: int, payload: bytes) -> None:
        self._write(opcode, payload)

    def close(self, code: int = 1000) -> None:
        self._write(CLOSE, struct.pack("!H", code))

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (a network failure)."""
        if self.transport is not None:
            self.transport.abort()


async def connect(
    host: str, port: int, path: str, headers: dict[str, str], subprotocol: str | None,
    on_frame: OnFrame, timeout_s: float = 30.0, created: Callable[[WSClient], None] | None = None,
) -> WSClient:
    """Open a connection. ``created`` gets the client before any frame can arrive (a server
    may send its first frame in the same packet as the handshake response)."""
    loop = asyncio.get_running_loop()

    def factory() -> WSClient:
        client = WSClient(host, port, path, headers, subprotocol, on_frame)
        if created is not None:
            created(client)
        return client

    _, proto = await asyncio.wait_for(loop.create_connection(factory, host, port), timeout_s)
    try:
        await asyncio.wait_for(asyncio.shield(proto.opened), timeout_s)
    except BaseException:
        proto.abort()
        raise
    return proto
