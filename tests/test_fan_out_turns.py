"""A big room's fan-out goes out in turns of the event loop (chat_server/gateway/fanout.py),
so a webinar's message does not hold the whole gateway: other rooms' frames go out between
its slices, each room's frames still reach every member once and in order, and moderation's
own frames (a removal) never overtake the message they are about.

Real connections (socketless: what a writer task would write is read from their outboxes)
and, through the hub, the in-process tier's real Hub, broker and SQLite writer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest

from chat_server.gateway.connection import Connection, Cursor
from chat_server.gateway.fanout import MAX_QUEUED, FanOut
from chat_server.gateway.filling import LocalRoom
from chat_server.protocol import moderation_events as events
from chat_server.wire import MSGPACK, Outgoing
from rooms.model import Member
from rooms.roles import Role
from support.inproc import ROOM, InProc, count_of, decode, frames_until, of_type

pytestmark = pytest.mark.unit


def room_of(slug: str, n: int) -> LocalRoom:
    local = LocalRoom(slug)
    for i in range(n):
        conn = Connection(f"{slug}-c{i}", Member(f"u{i}", f"h{i}", Role.MEMBER, None, i + 1),
                          "digest", MSGPACK, 10_000)
        conn.rooms[slug] = Cursor(pending=None)  # joined, the replay done
        local.conns[conn] = None
    return local


def frame(room: str, seq: int | None) -> Outgoing:
    return Outgoing(msgpack.packb({"type": "message" if seq else "presence", "room": room, "seq": seq}))


def seqs(conn: Connection, room: str | None = None) -> list[int | None]:
    """What the connection has been handed so far (its outbox: no socket here)."""
    got = [decode(d) for d in conn._outbox]
    return [f["seq"] for f in got if room is None or f["room"] == room]


async def turns(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_small_room_goes_out_at_once() -> None:
    fan, local = FanOut(turn=4), room_of("r", 4)
    fan.send(local, 1, frame("r", 1))
    assert [seqs(c) for c in local.conns] == [[1]] * 4


async def test_a_big_room_goes_out_a_turn_at_a_time_and_in_order() -> None:
    fan, local = FanOut(turn=3), room_of("big", 8)
    conns = list(local.conns)
    for seq in (1, 2, 3):
        fan.send(local, seq, frame("big", seq))
    fan.send(local, None, frame("big", None))  # an event of the room waits its turn too
    # Now: the first message's first slice only; nothing of the later frames yet.
    assert [len(seqs(c)) for c in conns] == [1, 1, 1, 0, 0, 0, 0, 0]
    await turns(1)
    assert sum(len(seqs(c)) for c in conns) == 6
    await turns(20)
    assert [seqs(c) for c in conns] == [[1, 2, 3, None]] * 8


async def test_another_room_does_not_wait_behind_a_big_one() -> None:
    fan, big, small = FanOut(turn=2), room_of("big", 10), room_of("small", 2)
    fan.send(big, 1, frame("big", 1))
    fan.send(small, 1, frame("small", 1))
    assert [seqs(c) for c in small.conns] == [[1], [1]]  # not after the webinar's 8 others
    assert sum(len(seqs(c)) for c in big.conns) == 2
    await turns(10)
    assert [seqs(c) for c in big.conns] == [[1]] * 10


async def test_two_big_rooms_take_turns() -> None:
    fan, a, b = FanOut(turn=2), room_of("a", 6), room_of("b", 6)
    fan.send(a, 1, frame("a", 1))
    fan.send(b, 1, frame("b", 1))
    await turns(1)
    # Each turn is one budget of 2, the rooms served in order of waiting: a's second slice.
    assert sum(len(seqs(c)) for c in a.conns) == 4 and sum(len(seqs(c)) for c in b.conns) == 2
    await turns(1)
    assert sum(len(seqs(c)) for c in b.conns) == 4
    await turns(10)
    assert all(seqs(c) == [1] for c in [*a.conns, *b.conns])


async def test_settle_sends_what_is_left_before_the_caller_writes() -> None:
    fan, local = FanOut(turn=2), room_of("big", 7)
    fan.send(local, 1, frame("big", 1))
    fan.send(local, 2, frame("big", 2))
    fan.settle("big")
    assert [seqs(c) for c in local.conns] == [[1, 2]] * 7
    await turns(5)  # nothing is sent twice once the turn that was due runs
    assert [seqs(c) for c in local.conns] == [[1, 2]] * 7
    fan.send(local, 3, frame("big", 3))  # and the room is not stuck behind the settled queue
    await turns(5)
    assert [seqs(c) for c in local.conns] == [[1, 2, 3]] * 7


async def test_a_room_that_falls_behind_is_not_queued_without_end() -> None:
    # Frames arriving faster than the turns drain them (an overloaded gateway): at most
    # MAX_QUEUED in the room's queue (the one under way included); each further one sends the
    # oldest to everyone left at once (one frame's fan-out in the hold, as before the turns),
    # and everything still reaches everyone once, in order.
    fan, local = FanOut(turn=2), room_of("big", 7)
    for seq in range(1, MAX_QUEUED + 1):
        fan.send(local, seq, frame("big", seq))
    assert len(fan._queued["big"]) == MAX_QUEUED
    fan.send(local, MAX_QUEUED + 1, frame("big", MAX_QUEUED + 1))
    assert len(fan._queued["big"]) == MAX_QUEUED
    assert [seqs(c) for c in local.conns] == [[1]] * 7  # the oldest whole; nothing else yet
    fan.send(local, MAX_QUEUED + 2, frame("big", MAX_QUEUED + 2))
    assert [seqs(c) for c in local.conns] == [[1, 2]] * 7
    await turns(40)
    assert "big" not in fan._queued
    assert [seqs(c) for c in local.conns] == [list(range(1, MAX_QUEUED + 3))] * 7


async def test_settle_all_sends_every_room_s_queue() -> None:
    # A graceful shutdown's first step (Runtime.drain): nothing left in turns.
    fan, a, b = FanOut(turn=2), room_of("a", 5), room_of("b", 5)
    fan.send(a, 1, frame("a", 1))
    fan.send(b, 1, frame("b", 1))
    fan.settle_all()
    assert not fan._queued
    assert all(seqs(c) == [1] for c in [*a.conns, *b.conns])


async def test_a_member_who_left_meanwhile_is_skipped() -> None:
    fan, local = FanOut(turn=2), room_of("big", 5)
    conns = list(local.conns)
    fan.send(local, 1, frame("big", 1))
    del conns[4].rooms["big"]  # left before its slice
    await turns(5)
    assert [seqs(c) for c in conns] == [[1]] * 4 + [[]]


def state(room: str) -> Outgoing:
    return Outgoing(msgpack.packb({"type": "room_state", "room": room, "seq": None}))


def push_of(out: Outgoing) -> Callable[[Connection], None]:
    return lambda conn: conn.push(out.for_protocol(conn.protocol))


async def test_a_direct_write_waits_its_turn_behind_the_room_s_frames() -> None:
    """Moderation's or a question's frame to a webinar while a message is going out: it
    queues behind the message and goes out in turns too, rather than settling the room
    (the message to everyone left, then the frame to everyone, in one hold of the loop)."""
    fan, local = FanOut(turn=3), room_of("big", 8)
    conns = list(local.conns)
    fan.send(local, 1, frame("big", 1))
    fan.each("big", conns, push_of(state("big")))
    assert [len(seqs(c)) for c in conns] == [1, 1, 1, 0, 0, 0, 0, 0]  # nothing more this turn
    await turns(1)
    assert sum(len(seqs(c)) for c in conns) == 6  # three more: the message's next slice
    await turns(20)
    assert [seqs(c) for c in conns] == [[1, None]] * 8


async def test_a_direct_write_to_a_big_room_goes_out_in_turns_and_keeps_its_place() -> None:
    fan, local = FanOut(turn=3), room_of("big", 8)
    conns = list(local.conns)
    fan.each("big", conns, push_of(state("big")))
    assert [len(seqs(c)) for c in conns] == [1, 1, 1, 0, 0, 0, 0, 0]
    fan.send(local, 1, frame("big", 1))  # a message after it waits behind it
    await turns(20)
    assert [seqs(c) for c in conns] == [[None, 1]] * 8


async def test_a_direct_write_to_a_small_room_or_a_few_goes_out_at_once() -> None:
    fan, local = FanOut(turn=4), room_of("r", 4)
    conns = list(local.conns)
    fan.each("r", conns, push_of(state("r")))
    fan.each("r", [], push_of(state("r")))  # nobody: nothing queued
    assert [seqs(c) for c in conns] == [[None]] * 4
    assert not fan._queued


async def test_a_settle_sends_the_direct_writes_queued_in_order() -> None:
    fan, local = FanOut(turn=2), room_of("big", 5)
    conns = list(local.conns)
    fan.send(local, 1, frame("big", 1))
    fan.each("big", conns, push_of(state("big")))
    fan.send(local, 2, frame("big", 2))
    fan.settle("big")
    assert [seqs(c) for c in conns] == [[1, None, 2]] * 5
    await turns(5)
    assert [seqs(c) for c in conns] == [[1, None, 2]] * 5


# -- through the hub -------------------------------------------------------------------------


@pytest.fixture
async def tier(tmp_path: Path) -> AsyncIterator[InProc]:
    async with InProc(tmp_path, fan_out_turn=2) as t:
        yield t


async def test_every_member_gets_every_message_once_in_order(tier: InProc) -> None:
    members = [await tier.member(f"M{i}") for i in range(7)]
    conns = [tier.connect(m) for m in members]
    for c in conns:
        await tier.join(c)
    # Three senders at once: the writer commits them in batches, and each batch's fan-outs
    # queue behind each other's turns.
    await asyncio.gather(*(tier.send(conns[s], f"m{s}-{i}", f"c{s}-{i}")
                           for i in range(10) for s in range(3)))
    for c in conns:
        got = of_type(await frames_until(c, count_of("message", 30)), "message")
        assert [f["seq"] for f in got] == list(range(1, 31))


async def test_a_removal_never_overtakes_its_message(tier: InProc) -> None:
    members = [await tier.member(f"M{i}") for i in range(7)]
    conns = [tier.connect(m) for m in members]
    for c in conns:
        await tier.join(c)
    await tier.send(conns[0], "first", "c0")
    await turns(20)
    for c in conns:
        await frames_until(c, count_of("message", 1))
    # The room's next frame is still going out (as a presence or message frame fanned out
    # just before a navigator's removal reaches this gateway) when the removal is applied.
    local = tier.hub._rooms[ROOM]
    message = Outgoing(msgpack.packb({"type": "message", "room": ROOM, "seq": 2, "id": "x" * 32,
                                      "body": "second"}))
    tier.hub._fan_out(local, 2, message)
    tier.hub.moderating.apply(events.MessageRemoved(ROOM, "x" * 32, members[0].id, "off topic"))
    for c in conns:
        got: list[dict[str, Any]] = await frames_until(c, count_of("removed", 1))
        kinds = [f["type"] for f in got if f["type"] in ("message", "removed")]
        assert kinds == ["message", "removed"], kinds


async def _mid_message(tier: InProc) -> tuple[list[Member], list[Connection]]:
    """Seven members who all read the room's first message, and its second still going out
    in turns: its first slice (2 of 7) written, the rest waiting."""
    members = [await tier.member(f"M{i}") for i in range(7)]
    conns = [tier.connect(m) for m in members]
    for c in conns:
        await tier.join(c)
    await tier.send(conns[0], "first", "c0")
    for c in conns:
        await frames_until(c, count_of("message", 1))
    message = Outgoing(msgpack.packb({"type": "message", "room": ROOM, "seq": 2, "id": "y" * 32,
                                      "body": "second"}))
    tier.hub._fan_out(tier.hub._rooms[ROOM], 2, message)
    return members, conns


async def test_moderation_s_frame_to_a_webinar_holds_the_loop_for_one_slice_only(tier: InProc) -> None:
    """A room's state (a pin) applied while the room's message is still going out in turns:
    the call itself writes nothing (the message's later slices and the state wait their
    turns), and every member reads the message, then the state."""
    _, conns = await _mid_message(tier)
    before = sum(len(c._outbox) for c in conns)
    tier.hub.moderating.apply(events.StateChanged(ROOM, 0, False, {"id": "p" * 32}))
    assert sum(len(c._outbox) for c in conns) == before  # nothing written in this hold
    for c in conns:
        got = await frames_until(c, lambda fs: any(f["type"] == "room_state" and f.get("pinned") for f in fs))
        kinds = [f["type"] for f in got if f["type"] == "message" or f.get("pinned")]
        assert kinds == ["message", "room_state"], (c.id, kinds)


@pytest.mark.parametrize("put_out", ["kick", "platform ban"])
async def test_a_kick_or_ban_in_a_webinar_does_not_wait_for_the_room_s_turns(tier: InProc, put_out: str) -> None:
    """A kick or a ban must close the member's sockets within a second, and a webinar's
    queue can be longer than that: the member put out gets what was queued for them and the
    frame in the call itself, while the rest of the room keeps its turns (a platform ban, in
    every room of its member, settled the whole room before)."""
    members, conns = await _mid_message(tier)
    victim = conns[6]  # in the last slice
    assert victim._outbox == [] or 2 not in [decode(d).get("seq") for d in victim._outbox]
    others = sum(len(c._outbox) for c in conns[:6])
    if put_out == "kick":
        tier.hub.moderating.apply(events.Restricted(ROOM, members[6].id, "kick", None, "r"))
    else:
        tier.hub.moderating.apply(events.PlatformBanned(members[6].id, None, "r"))
    got = [decode(d) for d in victim._outbox]
    told = "kicked" if put_out == "kick" else "banned"
    assert [f.get("seq") if f["type"] == "message" else f["type"] for f in got] == [2, told], got
    assert victim._flush_then_close is not None
    assert sum(len(c._outbox) for c in conns[:6]) == others  # the others wait their turns
    for c in conns[:6]:
        await frames_until(c, count_of("message", 1))
