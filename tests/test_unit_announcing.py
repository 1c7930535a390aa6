"""The presence announcer (chat_server/gateway/announcing.py) on the embedded mode's real
broker and presence store, in process: what goes out, when, and what is held back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgpack
import pytest

from chat_server.broker.memory import MemoryBroker
from chat_server.gateway.announcing import Announcer
from chat_server.transcripts.embedded import EmbeddedWriter
from persistence.db import make_engine, session_factory
from presence.batch import JOINED, LEFT
from presence.memory import MemoryPresence

ROOM = "lounge"
BATCH_S = 0.2


def _user(n: int) -> dict[str, str]:
    return {"id": f"u{n}", "handle": f"Member{n}", "role": "member"}


class Room:
    """An announcer on a real MemoryBroker, with the room subscribed and its frames kept."""

    def __init__(self, linger_s: float = 0.0) -> None:
        self.frames: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.held: set[str] = set()  # users a "local connection" has in the room
        self.engine = make_engine("sqlite+aiosqlite:///:memory:")
        self.broker = MemoryBroker(1000, EmbeddedWriter(session_factory(self.engine)))
        self.presence = MemoryPresence("gw", ttl_s=30)
        self.announcer = Announcer(self.broker, self.presence, BATCH_S, linger_s, lambda: 100.0,
                                   lambda room, user: user in self.held)

    async def start(self) -> None:
        def on_frame(room: str, seq: int | None, data: bytes) -> None:
            self.frames.append(msgpack.unpackb(data, raw=False))
            self.arrived.set()

        await self.broker.start(on_frame, lambda room: None, lambda payload: None)
        await self.broker.subscribe(ROOM)

    async def stop(self) -> None:
        await self.announcer.close()
        await self.broker.close()
        await self.engine.dispose()

    async def next_frame(self, timeout_s: float = 2.0) -> dict[str, Any]:
        count = len(self.frames)
        async with asyncio.timeout(timeout_s):
            while len(self.frames) == count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.frames[count]


@pytest.fixture
async def room() -> AsyncIterator[Room]:
    r = Room(linger_s=0.1)
    await r.start()
    yield r
    await r.stop()


def _ids(users: list[dict[str, str]]) -> list[str]:
    return [u["id"] for u in users]


async def test_a_quiet_room_hears_at_once_and_a_busy_one_in_one_frame(room: Room) -> None:
    for n in (1, 2, 3):
        await room.presence.enter(ROOM, _user(n), 100.0)
    room.announcer.changed(ROOM, JOINED, _user(1))
    first = await room.next_frame(timeout_s=BATCH_S / 2)  # not held back
    assert _ids(first["joined"]) == ["u1"] and first["left"] == []
    room.announcer.changed(ROOM, JOINED, _user(2))
    room.announcer.changed(ROOM, JOINED, _user(3))
    second = await room.next_frame()
    assert _ids(second["joined"]) == ["u2", "u3"] and len(room.frames) == 2


async def test_a_change_that_no_longer_holds_is_not_sent(room: Room) -> None:
    """Bob's 'left' waited for the batch; meanwhile he is present again (another gateway
    said so): the frame leaves him out rather than contradict the newer one."""
    await room.presence.enter(ROOM, _user(9), 100.0)
    room.announcer.changed(ROOM, JOINED, _user(9))  # makes the room busy: the next waits
    await room.next_frame()
    room.announcer.changed(ROOM, LEFT, _user(1))
    room.announcer.changed(ROOM, LEFT, _user(2))
    await room.presence.enter(ROOM, _user(1), 100.0)  # u1 is back before the frame goes
    frame = await room.next_frame()
    assert _ids(frame["left"]) == ["u2"] and frame["joined"] == []


async def test_close_publishes_what_is_still_pending() -> None:
    r = Room()
    await r.start()
    try:
        r.announcer.changed(ROOM, LEFT, _user(5))
        await r.next_frame()
        r.announcer.changed(ROOM, LEFT, _user(6))  # held for the batch window
    finally:
        await r.stop()
    assert [_ids(f["left"]) for f in r.frames] == [["u5"], ["u6"]]


async def test_a_lingering_member_who_does_not_return_is_announced_after_the_linger(room: Room) -> None:
    bob = _user(1)
    await room.presence.enter(ROOM, bob, 100.0)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    room.announcer.linger(ROOM, bob)
    frame = await room.next_frame()
    assert _ids(frame["left"]) == ["u1"] and loop.time() - t0 >= 0.1
    assert await room.presence.present_among(ROOM, ["u1"]) == set()


async def test_a_member_back_before_the_linger_ends_is_never_announced(room: Room) -> None:
    bob = _user(1)
    await room.presence.enter(ROOM, bob, 100.0)
    room.announcer.linger(ROOM, bob)
    room.announcer.returned(ROOM, "u1")
    await asyncio.sleep(0.3)  # past the linger (0.1 s) and a batch: absence needs the wait
    assert room.frames == []
    assert await room.presence.present_among(ROOM, ["u1"]) == {"u1"}


async def test_a_member_back_as_the_linger_ends_keeps_their_presence(room: Room) -> None:
    """Their new connection is counted here but ``returned`` came too late to stop the
    timer: the entry the linger removed is put back and nothing is announced."""
    bob = _user(1)
    await room.presence.enter(ROOM, bob, 100.0)
    room.announcer.linger(ROOM, bob)
    room.held.add("u1")
    await asyncio.sleep(0.3)
    assert room.frames == []
    assert await room.presence.present_among(ROOM, ["u1"]) == {"u1"}


async def test_a_kick_ends_a_linger_at_once() -> None:
    r = Room(linger_s=30.0)
    await r.start()
    try:
        bob, carol = _user(1), _user(2)
        for u in (bob, carol):
            await r.presence.enter(ROOM, u, 100.0)
            r.announcer.linger(ROOM, u)
        r.announcer.end_now("u1", ROOM)  # kicked from this room; carol lingers on
        frame = await r.next_frame(timeout_s=2.0)  # far inside the 30 s linger
        assert _ids(frame["left"]) == ["u1"]
        assert await r.presence.present_among(ROOM, ["u1", "u2"]) == {"u2"}
        r.announcer.end_now("u2", "another-room")  # not this room: nothing changes
        r.announcer.end_now("u2")  # a platform ban: every room
        frame = await r.next_frame()
        assert _ids(frame["left"]) == ["u2"]
    finally:
        await r.stop()
