"""Red team of the fan-out in turns (chat_server/gateway/fanout.py): what the room's members
see while the room's frames are still going out a slice per turn of the loop and the room
changes under them: members join, leave, resume, drop; a gap is filled; a consumer is slow;
the room is let go and taken again; the hub stops; two big rooms compete (frames written to
the members directly: test_fan_out_turns_redteam_direct.py).

Each scenario acts at the moment a chosen message has been queued but not yet sent to every
member (a hook on the hub's fan-out entry point: the real FanOut runs underneath), so it
exercises the turns deterministically. The in-process tier (real Hub, broker, SQLite writer;
socketless connections) with turns of 2 connections; test_fan_out_turns_redteam_live.py runs
real servers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from chat_server.gateway.connection import CLOSE_LOST, CLOSE_SLOW, Connection, Cursor
from chat_server.gateway.fanout import FanOut
from chat_server.gateway.filling import LocalRoom
from chat_server.wire import MSGPACK, Outgoing
from rooms.model import Member
from rooms.roles import Role
from support.inproc import ROOM, InProc, decode, frames_until, of_type
from support.turns import (
    TURN,
    Hooks,
    after_last_joined,
    drained,
    has_seq_after_joined,
    joined_members,
    loop_errors_caught,
    msg_seqs,
    outbox_last_seq,
    send_many,
)

pytestmark = pytest.mark.unit


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Each test asserts that nothing reached the loop's exception handler."""
    with loop_errors_caught() as seen:
        yield seen


@pytest.fixture
async def tier(tmp_path: Path, loop_errors: list[dict[str, Any]]) -> AsyncIterator[InProc]:
    async with InProc(tmp_path, fan_out_turn=TURN) as t:
        yield t


# -- membership changing while a message is going out -------------------------------------------


async def test_joins_leaves_resumes_and_drops_mid_turn(
    tier: InProc, loop_errors: list[dict[str, Any]]
) -> None:
    """Catches: a later frame of a room sent before an earlier one's slices (order), a slice
    that stops at a member who left (loss for the rest), a joiner neither in the frame's
    targets nor covered by its replay (loss), a resumed member handed a seq twice."""
    n = 30
    stay_m, stay = await joined_members(tier, 6, "S")
    (leaver_m, resumer_m, dropper_m), (leaver, resumer, dropper) = await joined_members(tier, 3, "X")
    fresh = tier.connect(await tier.member("J"))  # joins without since: from the head on
    full = tier.connect(await tier.member("K"))  # joins with since 0: everything
    since: dict[str, int] = {}
    again: list[Connection] = []
    hooks = Hooks(tier)

    def resume(conn: Connection) -> None:
        since[conn.id] = outbox_last_seq(conn)
        hooks.spawn(tier.join(conn, since[conn.id]))  # join again on the same connection

    async def drop_and_return() -> None:
        dropper.close(CLOSE_LOST, "")
        await tier.hub.detach(dropper)
        back = tier.connect(dropper_m)
        again.append(back)
        await tier.join(back, since["drop"])

    def drop(_: Outgoing) -> None:
        since["drop"] = outbox_last_seq(dropper)
        hooks.spawn(drop_and_return())

    hooks.at(4, lambda _: hooks.spawn(tier.join(fresh)))
    hooks.at(5, lambda _: hooks.spawn(tier.rooms.leave(leaver, ROOM)))
    hooks.at(6, drop)
    hooks.at(8, lambda _: resume(resumer))
    hooks.at(10, lambda _: hooks.spawn(tier.join(full, 0)))
    await send_many(tier, stay[:3], n // 3)
    await hooks.done()

    everyone = list(range(1, n + 1))
    for c in stay:
        got = await frames_until(c, lambda f: n in msg_seqs(f))
        assert msg_seqs(got) == everyone, c.id
    got = await frames_until(full, has_seq_after_joined(n))
    assert msg_seqs(after_last_joined(got)) == everyone
    got = await frames_until(fresh, has_seq_after_joined(n, since=False))
    head = of_type(got, "joined")[-1]["seq"]
    assert msg_seqs(after_last_joined(got)) == list(range(head + 1, n + 1))
    got = await frames_until(again[0], has_seq_after_joined(n))
    assert msg_seqs(after_last_joined(got)) == list(range(since["drop"] + 1, n + 1))
    got = await frames_until(resumer, has_seq_after_joined(n))
    before = msg_seqs(got[:len(got) - len(after_last_joined(got))])
    assert before == sorted(set(before))  # nothing twice, nothing back in time before it
    assert msg_seqs(after_last_joined(got)) == list(range(since[resumer.id] + 1, n + 1))
    got = await frames_until(leaver, lambda f: bool(of_type(f, "left")))
    left_at = [f.get("type") for f in got].index("left")
    assert msg_seqs(got) == sorted(set(msg_seqs(got))) and max(msg_seqs(got)) <= n
    await drained(tier, *stay, full, fresh, again[0], resumer, leaver)
    assert msg_seqs(got[left_at:]) == []  # nothing of the room after ``left``
    for c in [*stay, full, fresh, again[0], resumer]:
        assert not of_type([decode(d) for d in c._outbox], "gap")
    assert not tier.hub._fan._queued
    assert loop_errors == []
    del stay_m, leaver_m, resumer_m


async def test_the_room_let_go_mid_turn_and_taken_again(
    tier: InProc, loop_errors: list[dict[str, Any]]
) -> None:
    """Everyone leaves while the room's message is still going out in turns (the room is
    released, its subscription dropped, its queue not yet empty); then members come back on
    the same connections and on new ones, and the room goes on. Catches: frames of the new
    room stuck behind (or lost with) the old room's queue, the old queue's frames reaching
    the returning connections again, a turn that raises on a room the hub no longer holds."""
    members, conns = await joined_members(tier, 16)
    sender = conns[0]
    seen_queued: list[bool] = []
    back_new: list[Connection] = []
    resumed: dict[str, int] = {}
    hooks = Hooks(tier)

    async def all_leave_and_return() -> None:
        for c in conns:
            resumed[c.id] = outbox_last_seq(c)
        await asyncio.gather(*(tier.rooms.leave(c, ROOM) for c in conns))
        # Released (no local member), while seq 3's turns are still under way.
        seen_queued.append(ROOM not in tier.hub._rooms and ROOM in tier.hub._fan._queued)
        for c in conns[:3]:
            await tier.join(c, resumed[c.id])
        for i in range(3):
            back_new.append(tier.connect(await tier.member(f"N{i}")))
            await tier.join(back_new[-1], 0)

    for i in range(3):
        if i == 2:
            hooks.at(3, lambda _: hooks.spawn(all_leave_and_return()))
        await tier.send(sender, f"before {i}", f"b{i}")
    await hooks.done()
    assert seen_queued == [True], "the room was not released with its turn still queued"
    for i in range(4):
        await tier.send(sender, f"after {i}", f"a{i}")
    for c in conns[:3]:
        got = await frames_until(c, has_seq_after_joined(7))
        assert msg_seqs(after_last_joined(got)) == list(range(resumed[c.id] + 1, 8)), c.id
        assert msg_seqs(got) == sorted(msg_seqs(got))
    for c in back_new:
        got = await frames_until(c, has_seq_after_joined(7))
        assert msg_seqs(after_last_joined(got)) == list(range(1, 8)), c.id
    await drained(tier, *conns[:3], *back_new)
    assert not tier.hub._fan._queued
    assert loop_errors == []
    del members


async def test_a_gap_filled_while_turns_are_going_out(
    tier: InProc, loop_errors: list[dict[str, Any]]
) -> None:
    """Pub/sub drops seq 5 (as around a fault): later seqs are held, the filler reads 5 back
    from the log and fans it out with what was held, all behind the turns already queued.
    Catches: the filler's frames going out ahead of the queue (order), or twice, or a gap."""
    n = 24
    _, conns = await joined_members(tier, 7)
    broker: Any = tier.broker
    inner = broker._on_frame
    dropped: list[int] = []

    def lossy(room: str, seq: int | None, data: bytes) -> None:
        if seq == 5 and not dropped:
            dropped.append(seq)
            return
        inner(room, seq, data)

    broker._on_frame = lossy
    await send_many(tier, conns[:3], n // 3)
    assert dropped == [5]
    for c in conns:
        got = await frames_until(c, lambda f: n in msg_seqs(f))
        assert msg_seqs(got) == list(range(1, n + 1)), c.id
        assert not of_type(got, "gap")
    await drained(tier, *conns)
    assert loop_errors == []


async def test_a_slow_consumer_is_put_out_and_resumes_whole(
    tmp_path: Path, loop_errors: list[dict[str, Any]]
) -> None:
    """A member who stops reading fills its outbox while the room goes out in turns: it is
    closed with 1013, the others are not held up and lose nothing, and it resumes whole.
    Catches: a slice that stops at the closed connection, a close that throws in a turn."""
    n = 40
    async with InProc(tmp_path, fan_out_turn=TURN, outbox=16) as tier:
        members, conns = await joined_members(tier, 7)
        slow_m, slow = members[6], conns[6]
        readers = [asyncio.create_task(frames_until(c, lambda f: n in msg_seqs(f))) for c in conns[:6]]
        await send_many(tier, conns[:2], n // 2)
        for c, reader in zip(conns[:6], readers, strict=True):
            assert msg_seqs(await reader) == list(range(1, n + 1)), c.id
        assert slow.close_code == CLOSE_SLOW
        await tier.hub.detach(slow)
        back = tier.connect(slow_m)
        reading = asyncio.create_task(frames_until(back, has_seq_after_joined(n)))
        await tier.join(back, 0)
        assert msg_seqs(after_last_joined(await reading)) == list(range(1, n + 1))
        await drained(tier, *conns[:6], back)
    assert loop_errors == []


async def test_seqless_frames_settled_go_out_once(
    tier: InProc, loop_errors: list[dict[str, Any]]
) -> None:
    """Frames without a seq (typing, presence, gap) have no cursor to drop a second copy:
    a settle (a moderation write) while they are still queued must send each of them exactly
    once. Catches a settle that sends what is left but leaves it queued for the next turn."""
    _, conns = await joined_members(tier, 7)
    await tier.send(conns[0], "hello", "h1")
    for c in conns:
        await frames_until(c, lambda f: 1 in msg_seqs(f))
    typing = [msgpack.packb({"type": "typing", "room": ROOM, "user": {"id": f"u{i}"}}) for i in range(3)]
    for data in typing:
        tier.hub._on_frame(ROOM, None, data)  # as from the broker
    assert ROOM in tier.hub._fan._queued
    tier.hub.settle(ROOM)  # what a graceful shutdown does, room by room
    for _ in range(10):
        await asyncio.sleep(0)
    for c in conns:
        got = [decode(d) for d in c._outbox]
        assert [f["user"]["id"] for f in of_type(got, "typing")] == ["u0", "u1", "u2"], c.id
    assert loop_errors == []


# -- the hub stopping, and two big rooms ------------------------------------------------------------


async def test_stop_with_turns_still_queued(
    tmp_path: Path, loop_errors: list[dict[str, Any]]
) -> None:
    """Catches a stop that waits for the turns (a hang once the broker is closed) or a turn
    that raises after it."""
    tier = InProc(tmp_path, fan_out_turn=TURN)
    await tier.start()
    _, conns = await joined_members(tier, 7)
    local = tier.hub._rooms[ROOM]
    for seq in range(1, 4):
        tier.hub._fan_out(local, None, Outgoing(msgpack.packb(
            {"type": "presence", "room": ROOM, "n": seq})))
    assert ROOM in tier.hub._fan._queued
    async with asyncio.timeout(10):
        await tier.stop()
    for _ in range(10):
        await asyncio.sleep(0)
    assert loop_errors == []
    del conns


def _room(slug: str, n: int) -> LocalRoom:
    local = LocalRoom(slug)
    for i in range(n):
        conn = Connection(f"{slug}-c{i}", Member(f"{slug}{i}", f"h{i}", Role.MEMBER, None, i + 1),
                          "digest", MSGPACK, 100_000)
        conn.rooms[slug] = Cursor(pending=None)
        local.conns[conn] = None
    return local


def _handed(conn: Connection) -> list[int]:
    return [decode(d)["seq"] for d in conn._outbox]


async def test_a_room_fed_every_turn_does_not_starve_another() -> None:
    """Room A gets a new message every turn of the loop, for longer than B needs; B's one
    message still reaches all its members within a few turns, and A's members get all of
    A's in order. Catches serving the room at the head until its queue is empty, or putting
    a room not finished back at the front."""
    fan, a, b = FanOut(turn=TURN), _room("a", 6), _room("b", 6)
    loop = asyncio.get_running_loop()
    fed = 0

    def feed() -> None:
        nonlocal fed
        fed += 1
        fan.send(a, fed, Outgoing(msgpack.packb({"type": "message", "room": "a", "seq": fed})))
        if fed < 200:
            loop.call_soon(feed)

    feed()
    fan.send(b, 1, Outgoing(msgpack.packb({"type": "message", "room": "b", "seq": 1})))
    turns_b = 0
    while any(not _handed(c) for c in b.conns):
        turns_b += 1
        assert turns_b <= 10, f"room b starved: {[len(_handed(c)) for c in b.conns]}"
        await asyncio.sleep(0)
    for _ in range(5000):  # turns, bounded: 200 messages x 6 members, 2 a turn, and B's
        if fed >= 200 and not fan._queued:
            break
        await asyncio.sleep(0)
    assert fed == 200 and not fan._queued
    assert all(_handed(c) == list(range(1, 201)) for c in a.conns)

