"""The own-message hold in Redis mode, at the Sender's level: a real Hub on a real RedisBroker
(redis-server), the member's connection on a real uvicorn socket with the direct write path.
The echo of a member's message comes back over pub/sub, usually before the post script's
reply; while the send awaits its ack (``Sender.send``: ``expect_own`` ... ``end_own``) the
connection holds it, so the echo and the ack leave in one socket write.

The hold's cap (``Connection.OWN_HOLD_S``, 2 ms) is widened here: on a loaded machine a Redis
round trip can take longer, and the cap itself is tested where it is decided
(tests/test_own_message_with_ack.py). Writes are recorded by a pass-through around the real
transport (support/uvicorn_app.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import websockets
from redis.asyncio import Redis

from chat_server.aio import stop_task
from chat_server.gateway.connection import CLOSE_NORMAL, Connection
from chat_server.wire import MSGPACK
from support.inproc import InProc
from support.procs import RedisServer
from support.uvicorn_app import CountingTransport, accept_counted, payloads, serving

pytestmark = pytest.mark.redis

SENDS = 10
REDIS_DB = 11  # a database of its own, emptied: pub/sub channels are per database here


class _Patient(Connection):
    __slots__ = ()
    OWN_HOLD_S = 5.0


@pytest.fixture
async def tier(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[InProc]:
    url = redis_server.url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    admin = Redis.from_url(url)
    await admin.flushdb()
    await admin.aclose()
    t = InProc(tmp_path, redis_url=url)
    await t.start()
    try:
        yield t
    finally:
        await t.stop()


async def _socket(tier: InProc, opened: asyncio.Future[tuple[Connection, CountingTransport]]) -> Any:
    member = await tier.member("Ann")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        writer, counting = await accept_counted(scope, receive, send, MSGPACK)
        conn = tier.connect(member, direct=writer, kind=_Patient)
        opened.set_result((conn, counting))
        pump = asyncio.create_task(_pump(conn, send))
        await receive()  # the client's close
        conn.close(CLOSE_NORMAL, "bye")
        await stop_task(pump)

    return app


async def _pump(conn: Connection, send: Any) -> None:
    """The endpoint's writer task: what the socket could not take at once."""
    while (batch := await conn.next_frames()) is not None:
        for data in batch:
            await send({"type": "websocket.send", "bytes": data})
            conn.wrote()


def _kinds(write: bytes) -> list[tuple[str, Any]]:
    """(type, seq or cid) of each frame in one write."""
    frames = [msgpack.unpackb(p) for p in payloads(write)]
    return [(f["type"], f.get("cid") or f.get("seq")) for f in frames if isinstance(f, dict)]


async def test_the_echo_of_a_send_and_its_ack_leave_in_one_write(tier: InProc) -> None:
    opened: asyncio.Future[tuple[Connection, CountingTransport]] = asyncio.get_running_loop().create_future()
    async with (
        serving(await _socket(tier, opened)) as url,
        websockets.connect(url, compression=None, subprotocols=[MSGPACK]) as ws,  # type: ignore[list-item]
    ):
        conn, counting = await asyncio.wait_for(opened, 5)
        await tier.join(conn)
        received: list[dict[str, Any]] = []

        async def until(kind: str, key: str, value: Any) -> None:
            while not any(f.get("type") == kind and f.get(key) == value for f in received):
                received.append(msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5)))

        await until("room_state", "room", "t-lounge")
        joined = len(counting.written)
        for i in range(1, SENDS + 1):
            await tier.send(conn, f"note {i}", f"c{i}")
            await until("ack", "cid", f"c{i}")
            await until("message", "seq", i)
        writes = [_kinds(w) for w in counting.written[joined:]]

    def where(frame: tuple[str, Any]) -> int:
        return next(n for n, w in enumerate(writes) if frame in w)

    together = [i for i in range(1, SENDS + 1) if where(("message", i)) == where(("ack", f"c{i}"))]
    # An echo that came before its ack waited for it: never written on its own ahead of it
    # (one that came after the ack is written when it comes) ...
    for i in range(1, SENDS + 1):
        assert where(("message", i)) >= where(("ack", f"c{i}")), (i, writes)
    # ... and the pub/sub echo usually comes first: then the two are one write.
    assert together, writes
