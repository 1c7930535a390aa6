"""A join's answer (``joined``, ``room_state``, what was missed) goes out as one write: the
connection gathers the frames it would write at once between ``cork`` and ``uncork``. Against
a real uvicorn with the direct write path; the socket's writes are counted on its transport
(the bytes still go through). Whatever the socket cannot take goes to the outbox, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
import pytest
import websockets

from chat_server.gateway.connection import CLOSE_NORMAL, Connection, Cursor
from chat_server.wire import MSGPACK, Outgoing
from rooms.model import Member
from rooms.roles import Role
from support.uvicorn_app import accept_counted, serving

Scenario = Callable[[Connection, list[bytes]], Awaitable[None]]
HELD = msgpack.packb({"type": "message", "room": "r", "seq": 7})
MEMBER = Member(id="m1", handle="m1", role=Role.MEMBER, org_id=None, db_id=1)


def _app(scenario: Scenario, done: asyncio.Future[list[bytes]]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        writer, counting = await accept_counted(scope, receive, send)
        writes = counting.written
        conn = Connection("c1", MEMBER, "digest", MSGPACK, 64, writer)
        try:
            await scenario(conn, writes)
            while (batch := await asyncio.wait_for(conn.next_frames(), 5)) is not None:
                for data in batch:  # the writer task's way (endpoint._write)
                    await send({"type": "websocket.send", "bytes": data})
                    conn.wrote()
        finally:
            done.set_result(writes)
        await send({"type": "websocket.close", "code": CLOSE_NORMAL})

    return app


@pytest.fixture
def serve() -> Callable[[Scenario], Awaitable[tuple[list[bytes], list[bytes]]]]:
    async def run(scenario: Scenario) -> tuple[list[bytes], list[bytes]]:
        done: asyncio.Future[list[bytes]] = asyncio.get_running_loop().create_future()
        got: list[bytes] = []
        async with serving(_app(scenario, done)) as url:
            async with websockets.connect(url, compression=None) as ws:
                async for frame in ws:
                    got.append(frame if isinstance(frame, bytes) else frame.encode())
            return got, await asyncio.wait_for(done, 5)

    return run


async def test_frames_pushed_while_corked_go_out_in_one_write(serve: Any) -> None:
    async def scenario(conn: Connection, writes: list[bytes]) -> None:
        conn.rooms["r"] = cursor = Cursor()
        conn.cork()
        conn.push(b"joined")
        conn.push(b"room_state")
        await conn.push_owed(b"missed 1")
        cursor.pending.append((7, Outgoing(HELD)))  # held back during the join
        conn.release("r")
        assert writes == []  # nothing written until uncork
        conn.uncork()
        assert len(writes) == 1
        conn.push(b"after")  # uncorked: written at once, on its own
        assert len(writes) == 2
        conn.close(CLOSE_NORMAL, "done")

    got, writes = await serve(scenario)
    assert got == [b"joined", b"room_state", b"missed 1", HELD, b"after"]
    assert writes[0].startswith(b"\x82\x06joined\x82\nroom_state")  # then the close frame


async def test_what_the_socket_cannot_take_goes_to_the_outbox_in_order(serve: Any) -> None:
    async def scenario(conn: Connection, writes: list[bytes]) -> None:
        conn.push(b"queued first")
        assert len(writes) == 1  # nothing queued, the socket takes it: written at once
        writer = conn._direct
        assert writer is not None
        writer.writable.clear()  # the transport's buffer is above its high-water mark
        conn.push(b"behind")  # refused by the socket: the outbox
        conn.cork()  # frames are queued already: gathering would reorder, so it does not
        conn.push(b"corked 1")
        conn.uncork()
        writer.writable.set()
        conn.cork()
        conn.push(b"corked 2")
        conn.push(b"corked 3")
        conn.uncork()
        conn.close_after_flush(CLOSE_NORMAL, "done")

    got, _writes = await serve(scenario)
    assert got == [b"queued first", b"behind", b"corked 1", b"corked 2", b"corked 3"]


async def test_a_long_answer_is_written_in_pieces(serve: Any) -> None:
    big = b"x" * 40_000

    async def scenario(conn: Connection, writes: list[bytes]) -> None:
        conn.cork()
        for _ in range(5):
            conn.push(big)
        assert len(writes) == 2  # every 64 KiB gathered
        conn.uncork()
        assert len(writes) == 3
        conn.close_after_flush(CLOSE_NORMAL, "done")

    got, _writes = await serve(scenario)
    assert got == [big] * 5


async def test_closing_while_corked_writes_what_was_gathered_first(serve: Any) -> None:
    async def scenario(conn: Connection, writes: list[bytes]) -> None:
        conn.cork()
        conn.push(b"joined")
        conn.close_after_flush(CLOSE_NORMAL, "refused")  # e.g. too many refused frames
        conn.push(b"dropped: after the close")
        conn.uncork()

    got, _writes = await serve(scenario)
    assert got == [b"joined"]
