"""One send reads the room's moderation facts once: ``check_send`` hands what it checked to
``claim_slot``. These tests hold that a ban, a mute or slow mode that lands between the two
(while a reply's thread is looked up) is still enforced by ``claim_slot``, whether it came as
an event (the checked copy changes in place) or through a fresh read (the cache replaced the
copy, so ``claim_slot`` must read again rather than trust the one it was given)."""

from __future__ import annotations

import pytest

from chat_server.moderation.enforce import Enforcer
from chat_server.moderation.facts import FactsCache, RoomFacts
from chat_server.moderation.stores import MemorySlots
from chat_server.protocol import moderation_events as events
from rooms.errors import Banned, Muted, SlowMode
from rooms.model import Community
from rooms.moderation import Restriction

pytestmark = pytest.mark.unit
ROOM = "lounge"
NOW = 1_000_000.0


def facts(**state: object) -> RoomFacts:
    return RoomFacts(Community(ROOM, "Lounge", "national", ""), **state)  # type: ignore[arg-type]


class Store:
    """The database's answer, as fresh objects on every read (as the real loader gives)."""

    def __init__(self, **state: object) -> None:
        self.state = state
        self.reads = 0

    async def load(self, room: str) -> RoomFacts | None:
        self.reads += 1
        return facts(**self.state) if room == ROOM else None


def enforcer(store: Store) -> tuple[Enforcer, FactsCache]:
    cache = FactsCache(store.load, ttl_s=60)
    return Enforcer(cache, MemorySlots(), lambda: NOW), cache


async def test_the_slot_is_taken_with_the_checked_facts() -> None:
    enf, _ = enforcer(Store(slow_mode_s=30))
    checked = await enf.check_send("u1", ROOM, staff=False)
    await enf.claim_slot("u1", ROOM, staff=False, checked=checked)
    checked = await enf.check_send("u1", ROOM, staff=False)
    with pytest.raises(SlowMode):
        await enf.claim_slot("u1", ROOM, staff=False, checked=checked)


async def test_an_event_between_the_checks_is_enforced_by_the_slot() -> None:
    enf, cache = enforcer(Store(slow_mode_s=30))
    checked = await enf.check_send("u1", ROOM, staff=False)
    cache.apply(events.Restricted(ROOM, "u1", "ban", None, ""))  # lands meanwhile
    with pytest.raises(Banned):
        await enf.claim_slot("u1", ROOM, staff=False, checked=checked)


@pytest.mark.parametrize("landed", ["mute", "slow_mode"])
async def test_a_fresh_read_between_the_checks_replaces_what_was_checked(landed: str) -> None:
    store = Store(slow_mode_s=30)
    enf, cache = enforcer(store)
    if landed == "slow_mode":
        store.state = {}
    checked = await enf.check_send("u1", ROOM, staff=False)
    # Meanwhile the control channel was resubscribed (events may be lost): the cache forgets
    # the room, and the next read finds what landed.
    if landed == "mute":
        store.state = {"slow_mode_s": 30, "restrictions": {"u1": [Restriction("mute", None, "")]}}
    else:
        store.state = {"slow_mode_s": 30}
    cache.invalidate(ROOM)
    if landed == "mute":
        with pytest.raises(Muted):
            await enf.claim_slot("u1", ROOM, staff=False, checked=checked)
    else:
        await enf.claim_slot("u1", ROOM, staff=False, checked=checked)  # takes the slot
        with pytest.raises(SlowMode):
            await enf.claim_slot("u1", ROOM, staff=False)
    assert store.reads == 2


async def test_without_the_checked_facts_the_slot_reads_them() -> None:
    store = Store(slow_mode_s=30)
    enf, _ = enforcer(store)
    await enf.claim_slot("u1", ROOM, staff=False)
    with pytest.raises(SlowMode):
        await enf.claim_slot("u1", ROOM, staff=False)
    assert store.reads == 1
