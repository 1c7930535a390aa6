"""Red team of the fan-out in turns (chat_server/gateway/fanout.py): a frame written to a
room's members directly (moderation, a staff alert, a question, a session's state) while a
message of the room is still going out in turns never overtakes it. In-process tier, turns of
2 connections; the harness is tests/support/turns.py."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from chat_server.events.gates import Gates
from chat_server.protocol import moderation_events as events
from chat_server.protocol.control import QuestionChanged, SessionChanged
from chat_server.questions.fanout import Fanout as QuestionFanout
from chat_server.wire import Outgoing
from rooms.model import Member
from rooms.roles import Role
from support.inproc import ROOM, InProc, frames_until, of_type
from support.turns import (
    TURN,
    Hooks,
    drained,
    joined_members,
    loop_errors_caught,
    msg_seqs,
    read_on,
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


# -- frames written to the room's members directly ------------------------------------------------

# Each: what to apply when seq AT is still going out, the frame type it makes, and who gets
# it ("all" or "victim"). The victim is member 6, never a sender.
AT, SENT = 4, 8


def _removed(tier: InProc, members: list[Member], out: Outgoing) -> None:
    body = msgpack.unpackb(out.msgpack)
    tier.hub.moderating.apply(events.MessageRemoved(ROOM, body["id"], body["author"]["id"], "r"))


def _muted(tier: InProc, members: list[Member], out: Outgoing) -> None:
    tier.hub.moderating.apply(events.Restricted(ROOM, members[6].id, "mute", None, "r"))


def _room_state(tier: InProc, members: list[Member], out: Outgoing) -> None:
    tier.hub.moderating.apply(events.StateChanged(ROOM, 0, False, {"id": "p" * 32}))


def _kicked(tier: InProc, members: list[Member], out: Outgoing) -> None:
    tier.hub.moderating.apply(events.Restricted(ROOM, members[6].id, "kick", None, "r"))


def _platform_banned(tier: InProc, members: list[Member], out: Outgoing) -> None:
    tier.hub.moderating.apply(events.PlatformBanned(members[6].id, None, "r"))


def _question(tier: InProc, members: list[Member], out: Outgoing) -> None:
    fanout = QuestionFanout(tier.hub.to_room, tier.hub.connections, 0.5)
    frame = {"type": "question", "room": ROOM, "id": "q1", "votes": 0}
    fanout.on_control(QuestionChanged(ROOM, "q1", 1, frame, frame, True, []))


def _event_state(tier: InProc, members: list[Member], out: Outgoing) -> None:
    gates = Gates(tier.db, tier.hub.connections, tier.hub.to_room)
    frame = {"type": "event_state", "room": ROOM, "event": "e1", "state": "ended"}
    gates.on_control(SessionChanged(ROOM, frame, []))


def _alert(tier: InProc, members: list[Member], out: Outgoing) -> None:
    """A crisis alert about the message, to the staff on duty who moderate the room: member
    6, made an admin on duty for it."""
    staff = next(c for c in tier.hub.connections() if c.member.id == members[6].id)
    staff.member, staff.on_duty = dataclasses.replace(staff.member, role=Role.ADMIN), True
    body = msgpack.unpackb(out.msgpack)
    tier.hub.moderating.apply(events.Alert(ROOM, "crisis", body["id"], 1, tier.org_id, None))


DIRECT = {
    "removed": (_removed, "removed", "all"),
    "muted": (_muted, "muted", "victim"),
    "room_state": (_room_state, "room_state", "all"),  # with a pin: not the join's
    "kicked": (_kicked, "kicked", "victim"),
    "platform_ban": (_platform_banned, "banned", "victim"),
    "question": (_question, "question", "all"),
    "event_state": (_event_state, "event_state", "all"),
    "alert": (_alert, "alert", "victim"),
}


@pytest.mark.parametrize("case", list(DIRECT))
async def test_a_direct_frame_never_overtakes_a_queued_message(
    tier: InProc, loop_errors: list[dict[str, Any]], case: str
) -> None:
    """Catches a writer to the room's connections that does not settle the room first: its
    frame reaches the members of the later slices before the message queued ahead of it (and
    for a kick or ban, that message is then never sent to its member at all)."""
    action, kind, who = DIRECT[case]
    members, conns = await joined_members(tier, 7)
    hooks = Hooks(tier)
    hooks.at(AT, lambda out: action(tier, members, out))
    await send_many(tier, conns[:2], SENT // 2)
    await hooks.done()
    targets = conns if who == "all" else [conns[6]]
    seen: dict[str, list[dict[str, Any]]] = {}
    for c in targets:
        got = seen[c.id] = await frames_until(c, lambda f: bool(of_type(f, kind)))
        kinds = [f.get("type") if f.get("type") != "room_state" or f.get("pinned") else "join's"
                 for f in got]
        assert kind in kinds, (c.id, kinds)
        before = msg_seqs(got[:kinds.index(kind)])
        # Every message up to the one queued ahead of the frame, in order, none skipped.
        assert before == list(range(1, len(before) + 1)) and len(before) >= AT, (c.id, before)
    if case in ("kicked", "platform_ban"):
        return  # put out: nothing more is theirs
    for c in conns:
        got = await read_on(c, seen.get(c.id, []), lambda f: SENT in msg_seqs(f))
        assert msg_seqs(got) == list(range(1, SENT + 1)), c.id
    await drained(tier, *conns)
    assert loop_errors == []
