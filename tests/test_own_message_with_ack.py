"""A sender's own message and its ack in one socket write (``Connection.expect_own`` /
``end_own``), against a real uvicorn socket with the direct write path: the client reads
every frame whole and in the order they were queued, and the socket is written once for the
message, whatever followed it, and the ack. Writes are counted by a pass-through around the
real transport (every call still reaches it)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgpack
import websockets

from chat_server.gateway.connection import Connection, Cursor
from chat_server.protocol.message import message_frame
from chat_server.wire import MSGPACK, Outgoing
from rooms.model import Member
from rooms.roles import Role
from support.uvicorn_app import CountingTransport, accept_counted, serving

ROOM = "lung-cancer"
OWN_ID = "a" * 32
ME = Member("u-me", "me", Role.MEMBER, 1)
OTHER = {"id": "u-other", "handle": "other", "role": "member"}


def _message(message_id: str, seq: int, author: dict[str, str]) -> Outgoing:
    return Outgoing(message_frame(ROOM, message_id, seq, author, "hello", None, 1, None))


Script = Callable[[Connection, CountingTransport, dict[str, Any]], None]


def _app(script: Script, seen: dict[str, Any]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        writer, counting = await accept_counted(scope, receive, send, MSGPACK)
        conn = Connection("c-1", ME, "digest", MSGPACK, max_frames=100, direct=writer)
        conn.rooms[ROOM] = Cursor(pending=None)
        script(conn, counting, seen)
        seen["conn"] = conn
        await receive()  # the client's close

    return app


async def _frames(script: Script, n: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    seen: dict[str, Any] = {}
    async with (
        serving(_app(script, seen)) as url,
        websockets.connect(url, compression=None, subprotocols=[MSGPACK]) as ws,  # type: ignore[list-item]
    ):
        got = [msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5)) for _ in range(n)]
    return got, seen


def _ack(conn: Connection) -> None:
    conn.push(msgpack.packb({"type": "ack", "cid": "c-1", "id": OWN_ID, "seq": 2, "room": ROOM}))


async def test_own_message_what_follows_and_the_ack_go_out_in_one_write() -> None:
    def script(conn: Connection, transport: CountingTransport, seen: dict[str, Any]) -> None:
        conn.expect_own(OWN_ID)
        conn.deliver(ROOM, 1, _message("b" * 32, 1, OTHER))  # before ours: not held
        seen["before_own"] = transport.writes
        conn.deliver(ROOM, 2, _message(OWN_ID, 2, ME.public()))
        conn.deliver(ROOM, 3, _message("c" * 32, 3, OTHER))
        seen["while_held"] = transport.writes
        _ack(conn)
        conn.end_own()
        seen["after"] = transport.writes
        conn.deliver(ROOM, 4, _message("d" * 32, 4, OTHER))  # the send is over: at once
        seen["later"] = transport.writes

    got, seen = await _frames(script, 5)
    assert [(f["type"], f.get("seq")) for f in got] == [
        ("message", 1), ("message", 2), ("message", 3), ("ack", 2), ("message", 4),
    ]
    assert (seen["before_own"], seen["while_held"], seen["after"], seen["later"]) == (1, 1, 2, 3)


async def test_without_a_send_in_flight_each_frame_is_written_at_once() -> None:
    def script(conn: Connection, transport: CountingTransport, seen: dict[str, Any]) -> None:
        conn.deliver(ROOM, 1, _message(OWN_ID, 1, ME.public()))
        _ack(conn)
        seen["writes"] = transport.writes

    got, seen = await _frames(script, 2)
    assert [f["type"] for f in got] == ["message", "ack"]
    assert seen["writes"] == 2


async def test_a_send_that_fails_still_writes_what_was_held() -> None:
    def script(conn: Connection, transport: CountingTransport, seen: dict[str, Any]) -> None:
        conn.expect_own(OWN_ID)
        conn.deliver(ROOM, 1, _message(OWN_ID, 1, ME.public()))
        conn.push(msgpack.packb({"type": "error", "code": "unavailable", "cid": "c-1"}))
        conn.end_own()
        seen["writes"] = transport.writes

    got, seen = await _frames(script, 2)
    assert [f["type"] for f in got] == ["message", "error"]
    assert seen["writes"] == 1


async def test_a_graceful_close_sends_what_was_held_first() -> None:
    def script(conn: Connection, transport: CountingTransport, seen: dict[str, Any]) -> None:
        conn.expect_own(OWN_ID)
        conn.deliver(ROOM, 1, _message(OWN_ID, 1, ME.public()))
        conn.close_after_flush(1012, "restarting")
        seen["writes"] = transport.writes

    got, seen = await _frames(script, 1)
    assert got[0]["seq"] == 1
    assert seen["writes"] == 1


async def test_a_post_that_never_returns_holds_frames_only_briefly() -> None:
    # The post is stalled (Redis not answering, or the client gone mid-post): end_own is
    # not called within the test, yet the own message and another room's frame arrive.
    def script(conn: Connection, transport: CountingTransport, seen: dict[str, Any]) -> None:
        conn.rooms["other-room"] = Cursor(pending=None)
        conn.expect_own(OWN_ID)
        conn.deliver(ROOM, 1, _message(OWN_ID, 1, ME.public()))
        conn.deliver("other-room", 1, _message("b" * 32, 1, OTHER))
        conn.push(msgpack.packb({"type": "kicked", "room": "other-room"}))

    got, seen = await _frames(script, 3)  # each recv waits at most 5 s
    assert [f["type"] for f in got] == ["message", "message", "kicked"]
    conn = seen["conn"]
    assert conn._corked is None and not conn._own_corked
    conn.end_own()  # the post ends at last: nothing left to write, nothing breaks
    assert conn._corked is None
