"""The server core in one process: Hub, in-memory broker and presence, the embedded writer on
SQLite, a fake clock, socketless connections (tests/support/inproc.py). Join, resume, gaps,
fan-out, slow consumers, a kick that crosses a join, blocks: each in well under a second."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chat_server import wire
from chat_server.gateway.connection import CLOSE_REMOVED, CLOSE_SLOW
from chat_server.protocol import moderation_events as events
from rooms.errors import Kicked, NotJoined
from rooms.moderation import Restriction
from support.inproc import ROOM, InProc, count_of, eventually, frames_until, of_type

pytestmark = pytest.mark.unit


@pytest.fixture
async def tier(tmp_path: Path) -> AsyncIterator[InProc]:
    async with InProc(tmp_path) as t:
        yield t


async def _tier(tmp_path: Path, **kwargs: Any) -> InProc:
    t = InProc(tmp_path, **kwargs)
    await t.start()
    return t


def _bodies(frames: list[dict[str, Any]]) -> list[str]:
    return [f["body"] for f in of_type(frames, "message")]


async def test_join_answers_joined_then_room_state_with_the_member_present(tier: InProc) -> None:
    ann = await tier.member("Ann")
    conn = tier.connect(ann)
    await tier.join(conn)
    got = await frames_until(conn, count_of("room_state", 1))
    assert [f["type"] for f in got[:2]] == ["joined", "room_state"]
    assert got[0]["seq"] == 0 and [p["id"] for p in got[0]["present"]] == [ann.id]
    with pytest.raises(NotJoined):
        await tier.hub.send(tier.connect(ann), ROOM, "hi", "c0", None)


async def test_fan_out_reaches_every_member_once_in_order(tier: InProc) -> None:
    ann, bob = await tier.member("Ann"), await tier.member("Bob")
    a, b = tier.connect(ann), tier.connect(bob, wire.JSON)
    await tier.join(a)
    await tier.join(b)
    for i in range(5):
        await tier.send(a, f"m{i}", f"c{i}")
    got_a = await frames_until(a, count_of("message", 5))
    got_b = await frames_until(b, count_of("message", 5))
    assert _bodies(got_a) == _bodies(got_b) == [f"m{i}" for i in range(5)]
    assert [f["seq"] for f in of_type(got_b, "message")] == [1, 2, 3, 4, 5]
    assert [f["cid"] for f in of_type(got_a, "ack")] == [f"c{i}" for i in range(5)]
    # A resend with the same cid is the same message, acknowledged as a duplicate.
    await tier.send(a, "m0", "c0")
    ack = of_type(await frames_until(a, count_of("ack", 1)), "ack")[0]
    assert (ack["seq"], ack.get("duplicate")) == (1, True)


async def test_resume_sends_what_was_missed_from_the_log_and_the_database(tmp_path: Path) -> None:
    tier = await _tier(tmp_path, log_window=2)  # the log keeps two: the rest is read from the database
    try:
        ann, bob = await tier.member("Ann"), await tier.member("Bob")
        a = tier.connect(ann)
        await tier.join(a)
        for i in range(6):
            await tier.send(a, f"m{i}", f"c{i}")
        b = tier.connect(bob)
        await tier.join(b, since=1)
        got = await frames_until(b, count_of("message", 5))
        assert [f["seq"] for f in of_type(got, "message")] == [2, 3, 4, 5, 6]
        assert of_type(got, "gap") == []
        # Resuming from the head sends nothing more.
        again = tier.connect(bob)
        await tier.join(again, since=6)
        assert of_type(await frames_until(again, count_of("room_state", 1)), "message") == []
    finally:
        await tier.stop()


async def test_what_a_resume_cannot_send_is_a_gap_never_a_guess(tmp_path: Path) -> None:
    tier = await _tier(tmp_path, max_resume=2)
    try:
        ann = await tier.member("Ann")
        a = tier.connect(ann)
        await tier.join(a)
        for i in range(5):
            await tier.send(a, f"m{i}", f"c{i}")
        b = tier.connect(ann)
        await tier.join(b, since=0)
        got = await frames_until(b, count_of("message", 2))
        kinds = [(f["type"], f.get("seq", f.get("from"))) for f in got if f["type"] in ("gap", "message")]
        assert kinds == [("gap", 1), ("message", 4), ("message", 5)]
        assert of_type(got, "gap")[0]["to"] == 3
    finally:
        await tier.stop()


async def test_a_slow_consumer_is_closed_1013_and_the_room_goes_on(tmp_path: Path) -> None:
    tier = await _tier(tmp_path, outbox=8)
    try:
        ann, bob = await tier.member("Ann"), await tier.member("Bob")
        reader, sleeper = tier.connect(ann), tier.connect(bob)
        await tier.join(reader)
        await tier.join(sleeper)  # never reads
        for i in range(12):
            await tier.send(reader, f"m{i}", f"c{i}")
            await frames_until(reader, count_of("message", 1))  # the reader keeps up
        assert sleeper.close_code == CLOSE_SLOW
        assert reader.close_code is None
    finally:
        await tier.stop()


async def test_a_kick_that_crosses_a_join_still_puts_the_member_out(tier: InProc) -> None:
    nav, bob = await tier.member("Nav"), await tier.member("Bob")
    watcher = tier.connect(nav)
    await tier.join(watcher)  # the room is live on this gateway
    b = tier.connect(bob)
    until_ms = int((tier.clock.now + 60) * 1000)

    def kicked_now() -> None:
        # On record first (as Moderation.act does), then the event, which finds no
        # connection of Bob's in the room yet.
        tier.restrictions[bob.id] = [Restriction("kick", until_ms / 1000, "a break")]
        tier.hub.moderating.apply(events.Restricted(ROOM, bob.id, "kick", until_ms, "a break"))

    await tier.join(b, between=kicked_now)
    got = await frames_until(b, count_of("kicked", 1))
    assert of_type(got, "kicked")[0]["reason"] == "a break"
    await eventually(lambda: b.close_code == CLOSE_REMOVED)
    # The kick holds for its time on the fake clock, then ends.
    with pytest.raises(Kicked):
        await tier.join(tier.connect(bob))
    tier.clock.now += 61
    again = tier.connect(bob)
    await tier.join(again)
    assert of_type(await frames_until(again, count_of("joined", 1)), "joined")


async def test_a_blocked_members_messages_are_skipped_without_a_gap(tier: InProc) -> None:
    ann, bob, cy = await tier.member("Ann"), await tier.member("Bob"), await tier.member("Cy")
    a, b, c = tier.connect(ann), tier.connect(bob), tier.connect(cy)
    for conn in (a, b, c):
        await tier.join(conn)
    tier.hub.moderating.apply(events.BlocksChanged(cy.id, frozenset({ann.id})))
    await tier.send(a, "from ann", "a1")
    await tier.send(b, "from bob", "b1")
    await tier.send(a, "ann again", "a2")
    await tier.send(b, "bob again", "b2")
    got = await frames_until(c, count_of("message", 2))
    assert _bodies(got) == ["from bob", "bob again"]
    assert of_type(got, "gap") == []
    # A resume skips them too, cursor advancing past them.
    later = tier.connect(cy)
    later.hidden = frozenset({ann.id})
    await tier.join(later, since=0)
    resumed = await frames_until(later, count_of("message", 2))
    assert _bodies(resumed) == ["from bob", "bob again"] and of_type(resumed, "gap") == []
