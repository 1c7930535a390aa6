"""A member whose client stopped reading (test_faults_slow_consumer.py and
test_faults_shutdown.py): a raw WebSocket with a tiny receive buffer that joins a room and then
reads nothing, so what the server sends it backs up into the connection's outbox; and the
backlog of big messages that fills it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

import msgpack
import websockets

from support.client import MSGPACK
from support.cluster import Member
from support.faults import Frame, Sender
from support.gateways import Gateway
from support.procs import TIMEOUT_SCALE


async def _stalled_client(gw: Gateway, token: str) -> websockets.ClientConnection:
    """A raw client with a 4 KiB receive buffer and a one-frame queue: once it stops reading,
    the server's writes back up as soon as the kernel's buffers are full."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", gw.port))
    return await websockets.connect(
        gw.ws_url,
        sock=sock,
        additional_headers={"Authorization": f"Bearer {token}"},
        subprotocols=[MSGPACK],  # type: ignore[list-item]
        compression=None,
        max_queue=1,
        max_size=2**22,
        open_timeout=10 * TIMEOUT_SCALE,
    )


class Backlogged:
    """A member whose client joined a room and then stopped reading: what the server sends it
    piles up in the kernel's socket buffers, then in the server's outbox for the connection."""

    def __init__(self, ws: websockets.ClientConnection, room: str, joined: Frame) -> None:
        self.ws = ws
        self.room = room
        self.joined = joined

    @classmethod
    async def join(cls, gw: Gateway, member: Member, room: str) -> Backlogged:
        ws = await _stalled_client(gw, member.token)
        await ws.send(msgpack.packb({"type": "join", "room": room}))
        joined = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5 * TIMEOUT_SCALE), raw=False)
        assert joined["type"] == "joined", joined
        return cls(ws, room, joined)

    async def read_to_close(self, timeout_s: float = 15) -> tuple[list[Frame], int, str]:
        """Read on, up to the close: (its message frames, the close code, the reason).

        The 4 KiB receive buffer that made it stall would also make reading on take ~900
        round trips, each waiting for the scheduler on a loaded machine: a client that reads
        again reads at a normal pace, so the buffer is widened first (to the 64 KiB window
        the handshake allows)."""
        sock = self.ws.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        got: list[Frame] = []
        async with asyncio.timeout(timeout_s * TIMEOUT_SCALE):
            with contextlib.suppress(websockets.ConnectionClosed):
                async for data in self.ws:
                    frame = msgpack.unpackb(data, raw=False)
                    if frame.get("type") == "message" and frame.get("room") == self.room:
                        got.append(frame)
        rcvd = self.ws.protocol.close_rcvd
        return got, (rcvd.code if rcvd is not None else 1006), (rcvd.reason if rcvd is not None else "")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()


BIG = "x" * 2990  # with the counter in front: 3,000-character bodies


async def _post_backlog(sender: Sender, n: int) -> None:
    """n 3,000-character messages, each acked before the next: ~3 MB, more than the kernel
    buffers of a stalled connection hold (~930 of them), so the rest waits in its outbox."""
    for i in range(n):
        await sender.post(f"{i:05d} {BIG}", cid=f"{sender.name}-big-{i}")


