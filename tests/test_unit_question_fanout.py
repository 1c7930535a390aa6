"""The receiving gateway's question fan-out (chat_server/questions/fanout.py) with real
connections: who is sent what, never an older version after a newer one, count storms
coalesced to the latest count."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import msgpack

from chat_server.gateway.connection import Connection
from chat_server.protocol import control
from chat_server.protocol.control import QuestionChanged
from chat_server.questions.fanout import Fanout
from chat_server.wire import JSON
from rooms.model import Member
from rooms.roles import Role

ROOM = "event-0123456789abcdef"


def conn(user: str, staff: bool = False) -> Connection:
    c = Connection(f"c-{user}", Member(user, f"h{user}", Role.MEMBER, 1), "digest", JSON, 10_000)
    c.rooms[ROOM] = None  # type: ignore[assignment]  # joined: only membership is read here
    if staff:
        c.staff_in.add(ROOM)
    return c


def message(version: int, votes: int = 0, public: bool = True, votes_only: bool = False, **extra: Any) -> QuestionChanged:
    """The control event as another gateway's bytes decode to it."""
    frame = {"type": "question", "event": "0123456789abcdef", "id": "q1", "votes": votes, "version": version}
    private = {**frame, "reason": "secret"} if not public else frame
    event = control.decode(msgpack.packb({
        "op": "question", "room": ROOM, "q": "q1", "version": version, "frame": frame,
        "private": private, "public": public, "see": ["author"], "votes_only": votes_only, **extra,
    }))
    assert isinstance(event, QuestionChanged)
    return event


async def received(c: Connection) -> list[dict[str, Any]]:
    if not c._outbox:
        return []
    batch = await c.next_frames()
    return [json.loads(b) for b in batch or []]


def to_each(*conns: Connection) -> Callable[[str, Callable[[Connection], None]], None]:
    """The hub's ``to_room`` for a room whose connections are ``conns`` (nothing queued)."""
    def to_room(room: str, write: Callable[[Connection], None]) -> None:
        for c in conns:
            write(c)
    return to_room


async def test_pending_reaches_only_author_and_staff() -> None:
    author, staff, other = conn("author"), conn("s", staff=True), conn("o")
    fan = Fanout(to_each(author, staff, other), lambda: [author, staff, other], 0.25)
    fan.on_control(message(1, public=False))
    assert [f["reason"] for f in await received(author)] == ["secret"]
    assert [f["reason"] for f in await received(staff)] == ["secret"]
    assert await received(other) == []


async def test_counts_coalesced_and_never_older() -> None:
    member = conn("m")
    fan = Fanout(to_each(member), lambda: [member], 0.05)
    fan.on_control(message(1, votes=1, votes_only=True))  # after a quiet spell: at once
    for v in range(2, 40):
        fan.on_control(message(v, votes=v, votes_only=True))
    assert [f["votes"] for f in await received(member)] == [1]
    await asyncio.sleep(0.15)
    assert [f["votes"] for f in await received(member)] == [39]  # one frame, the latest count
    fan.on_control(message(41, votes=40))  # an action: at once
    fan.on_control(message(40, votes=39, votes_only=True))  # older: dropped
    await asyncio.sleep(0.15)
    assert [f["version"] for f in await received(member)] == [41]
    fan.stop()


async def test_a_big_room_s_counts_wait_longer_and_its_size_is_read_once_a_second() -> None:
    """The coalescer's interval follows the room's members on this gateway (read through the
    hub, at most once a second, not once a vote): with 8,000 here, one question's count
    frames go out every 2 s (4,000 frames a second at most), not every 0.05 s."""
    member = conn("m")
    reads: list[str] = []

    def audience(room: str) -> int:
        reads.append(room)
        return 8000

    fan = Fanout(to_each(member), lambda: [member], 0.05, audience)
    fan.on_control(message(1, votes=1, votes_only=True))
    for v in range(2, 40):
        fan.on_control(message(v, votes=v, votes_only=True))
    assert [f["votes"] for f in await received(member)] == [1]
    due = fan._coalescer.next_due()
    assert due is not None and due - time.monotonic() > 1.5  # held ~2 s, not 0.05
    assert reads == [ROOM]
    fan.stop()
