"""Moderation split by job, without processes: the typed control events round-trip, the facts
cache takes events in (and reads again when one crosses a read), and enforcement goes through
the pure rules of rooms/moderation.py, slow mode included, with an explicit clock."""

from __future__ import annotations

import asyncio

import msgpack
import pytest

from chat_server.moderation.enforce import Enforcer
from chat_server.moderation.facts import FactsCache, RoomFacts
from chat_server.moderation.stores import MemorySlots
from chat_server.protocol import control
from chat_server.protocol import moderation_events as events
from rooms.errors import Banned, Kicked, Locked, Muted, SlowMode
from rooms.model import Community

pytestmark = pytest.mark.unit
ROOM = "lounge"

EVENTS: list[events.ModerationEvent] = [
    events.Restricted(ROOM, "u1", "kick", 123_000, "cool off"),
    events.Restricted(ROOM, "u1", "mute", None, ""),
    events.Lifted(ROOM, "u1", frozenset({"ban", "kick"})),
    events.StateChanged(ROOM, 30, True, {"id": "m1", "body": "hi", "author": {"id": "u2"}}),
    events.MessageRemoved(ROOM, "m1", "u2", "off topic"),
    events.PlatformBanned("u3", None, "spam"),
    events.BlocksChanged("u1", frozenset({"u2", "u3"})),
    events.DutyChanged(),
    events.Alert(ROOM, "crisis", "m2", 7, 4, "u2", author={"id": "u2"}),
    events.Alert(ROOM, "report", "m3", 8, None, "u2", reason="unkind"),
    events.Alert(ROOM, "crisis", None, 9, 4, "u2", author={"anonymous": True, "handle": "a member"},
                 question="q1", venue={"event": "e1"}),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_round_trips_through_the_control_channel(event: events.ModerationEvent) -> None:
    payload = control.encode(event)
    assert msgpack.unpackb(payload, raw=False)["op"] == "mod"
    assert events.parse(msgpack.unpackb(payload, raw=False)) == event
    assert control.decode(payload) == event


def test_an_unknown_event_is_ignored_and_a_malformed_one_raises() -> None:
    assert events.parse({"op": "mod", "t": "someday", "room": ROOM}) is None
    with pytest.raises(ValueError):
        events.parse({"op": "mod", "t": "restrict", "room": ROOM, "user": "u", "kind": "exile"})
    with pytest.raises(KeyError):
        events.parse({"op": "mod", "t": "restrict", "room": ROOM})


def test_the_alert_frame_carries_no_routing_fields() -> None:
    frame = events.Alert(ROOM, "crisis", "m2", 7, 4, "u2", author={"id": "u2"}).frame().wire()
    assert frame == {"type": "alert", "room": ROOM, "kind": "crisis", "message_id": "m2",
                     "item": 7, "author": {"id": "u2"}}
    about_question = events.Alert(ROOM, "crisis", None, 9, 4, "u2", author={"anonymous": True, "handle": "a member"},
                                  question="q1", venue={"topic": "t1"}).frame().wire()
    assert about_question == {"type": "alert", "room": ROOM, "kind": "crisis", "item": 9, "question": "q1",
                              "topic": "t1", "author": {"anonymous": True, "handle": "a member"}}


def test_an_alert_is_about_one_message_or_one_question() -> None:
    base = {"op": "mod", "t": "alert", "room": ROOM, "kind": "crisis", "item": 1, "org_id": None, "skip": None}
    with pytest.raises(ValueError):
        events.parse({**base, "message_id": None})
    with pytest.raises(ValueError):
        events.parse({**base, "message_id": "m1", "question": "q1"})


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _facts(**state: object) -> RoomFacts:
    return RoomFacts(Community(ROOM, "Lounge", "national", ""), **state)  # type: ignore[arg-type]


def _cache(facts: RoomFacts) -> tuple[FactsCache, list[str]]:
    reads: list[str] = []

    async def load(room: str) -> RoomFacts | None:
        reads.append(room)
        return facts if room == ROOM else None

    return FactsCache(load, ttl_s=60), reads


async def test_slow_mode_is_the_pure_rule_with_a_shared_slot() -> None:
    cache, _ = _cache(_facts(slow_mode_s=30))
    enforcer = Enforcer(cache, MemorySlots(), Clock())
    await enforcer.check_send("u1", ROOM, staff=False)
    await enforcer.claim_slot("u1", ROOM, staff=False)  # the first post takes the slot
    await enforcer.check_send("u1", ROOM, staff=False)  # slow mode is the slot's business
    with pytest.raises(SlowMode) as refused:
        await enforcer.claim_slot("u1", ROOM, staff=False)
    assert 29 < refused.value.retry_after_s <= 30
    await enforcer.claim_slot("u2", ROOM, staff=False)  # one slot per member
    await enforcer.claim_slot("u1", ROOM, staff=True)  # staff are exempt, and use none


async def test_restrictions_and_lock_refuse_through_the_rules() -> None:
    clock = Clock()
    cache, _ = _cache(_facts(locked=True))
    enforcer = Enforcer(cache, MemorySlots(), clock)
    with pytest.raises(Locked):
        await enforcer.check_send("u1", ROOM, staff=False)
    await enforcer.check_send("u9", ROOM, staff=True)  # staff speak in a locked room
    await cache.facts(ROOM)
    until_ms = int((clock.now + 60) * 1000)
    cache.apply(events.Restricted(ROOM, "u1", "mute", until_ms, ""))
    cache.apply(events.Restricted(ROOM, "u2", "kick", until_ms, "a break"))
    cache.apply(events.Restricted(ROOM, "u3", "ban", None, ""))
    with pytest.raises(Muted):
        await enforcer.check_send("u1", ROOM, staff=True)  # staff are not exempt from a mute
    await enforcer.check_join("u1", ROOM)  # a muted member may still read
    with pytest.raises(Kicked):
        await enforcer.check_join("u2", ROOM)
    with pytest.raises(Banned):
        await enforcer.check_join("u3", ROOM)
    clock.now += 61  # the kick and the mute end; the ban does not
    await enforcer.check_join("u2", ROOM)
    cache.apply(events.Lifted(ROOM, "u3", frozenset({"ban", "kick"})))
    await enforcer.check_join("u3", ROOM)
    cache.apply(events.StateChanged(ROOM, 0, False, None))
    await enforcer.check_send("u4", ROOM, staff=False)


async def test_an_event_that_crosses_a_read_makes_it_read_again() -> None:
    gate = asyncio.Event()
    reads = 0

    async def load(room: str) -> RoomFacts | None:
        nonlocal reads
        reads += 1
        if reads == 1:
            await gate.wait()
        return _facts()

    cache = FactsCache(load, ttl_s=60)
    seen: list[str] = []
    cache.on_loaded(lambda room, facts: seen.append(room))
    reading = asyncio.create_task(cache.facts(ROOM))
    await asyncio.sleep(0)
    cache.apply(events.Restricted(ROOM, "u1", "ban", None, ""))  # lands mid-read
    gate.set()
    assert await asyncio.wait_for(reading, 5) is not None
    assert reads == 2 and seen == [ROOM]
