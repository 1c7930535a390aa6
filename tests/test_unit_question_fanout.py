"""The receiving gateway's question fan-out (chat_server/questions/fanout.py) with real
connections: who is sent what, never an older version after a newer one, count storms
coalesced to the latest count."""

from __future__ import annotations

import asyncio
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
from support.question_frames import count_change, received

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
    assert [f["votes"] for f in await frames_within(member, 3.0)] == [39]  # and then sent
    fan.stop()


async def frames_within(c: Connection, seconds: float) -> list[dict[str, Any]]:
    """What reaches ``c`` first, waiting at most ``seconds`` for it."""
    deadline = time.monotonic() + seconds
    while not c._outbox and time.monotonic() < deadline:  # noqa: ASYNC110 - a timer writes it: no event
        await asyncio.sleep(0.01)
    return await received(c)


async def test_a_small_room_s_count_does_not_wait_for_a_big_room_s_timer() -> None:
    """The big room's count is held ~2 s and the timer armed for it; a small room's count
    held afterwards is due in 0.05 s and must go then, not with the big room's."""
    small_room = "event-fedcba9876543210"
    big, small = conn("big"), conn("small")
    small.rooms = {small_room: None}  # type: ignore[dict-item]

    def to_room(room: str, write: Callable[[Connection], None]) -> None:
        write(big if room == ROOM else small)

    fan = Fanout(to_room, lambda: [big, small], 0.05, lambda room: 8000 if room == ROOM else 10)

    fan.on_control(count_change(ROOM, "qb", 1, votes=1))
    fan.on_control(count_change(ROOM, "qb", 2, votes=2))  # held ~2 s: the timer armed for it
    fan.on_control(count_change(small_room, "qs", 1, votes=1))
    fan.on_control(count_change(small_room, "qs", 2, votes=2))  # held 0.05 s
    assert [f["votes"] for f in await received(small)] == [1]
    assert [f["votes"] for f in await frames_within(small, 0.5)] == [2]
    assert [f["votes"] for f in await received(big)] == [1]  # its held count still waits
    fan.stop()
