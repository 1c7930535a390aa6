"""One send reads the room's moderation facts once: ``check_send`` hands what it checked to
``claim_slot``. These tests hold that a ban, a mute or slow mode that lands between the two
(while a reply's thread is looked up) is still enforced by ``claim_slot``, whether it came as
an event (the checked copy changes in place) or through a fresh read (the cache replaced the
copy, so ``claim_slot`` must read again rather than trust the one it was given). Without slow
mode there is no slot to claim: the send itself checks a reply again after the look-up
(tests/test_reply_recheck.py)."""

from __future__ import annotations

import pytest

from chat_server.moderation.enforce import Enforcer
from chat_server.moderation.facts import FactsCache, RoomFacts
from chat_server.moderation.stores import MemorySlots
from chat_server.protocol import moderation_events as events
from rooms.errors import Banned, Locked, Muted, NotJoined, SlowMode
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


# The send path's synchronous way (``check_send_now``, ``takes_no_slot``: no coroutine while
# the facts are cached) answers as the awaited one does, and defers to it otherwise.


@pytest.mark.parametrize(("state", "refused"), [
    ({}, None),
    ({"restrictions": {"u1": [Restriction("ban", None, "")]}}, Banned),
    ({"restrictions": {"u1": [Restriction("mute", None, "")]}}, Muted),
    ({"locked": True}, Locked),
    ({"slow_mode_s": 30}, None),  # slow mode is the slot's business
    # A running kick: out of the room (its socket closing), so refused as not joined.
    ({"restrictions": {"u1": [Restriction("kick", NOW + 60, "")]}}, NotJoined),
    ({"restrictions": {"u1": [Restriction("kick", NOW - 1, "")]}}, None),  # over
])
async def test_check_send_now_refuses_as_check_send_once_the_facts_are_cached(
    state: dict[str, object], refused: type[Exception] | None,
) -> None:
    store = Store(**state)
    enf, _ = enforcer(store)
    assert enf.check_send_now("u1", ROOM, staff=False) is None  # nothing cached: read first
    assert store.reads == 0
    if refused is None:
        checked = await enf.check_send("u1", ROOM, staff=False)
        assert enf.check_send_now("u1", ROOM, staff=False) is checked
    else:
        with pytest.raises(refused):
            await enf.check_send("u1", ROOM, staff=False)
        with pytest.raises(refused):
            enf.check_send_now("u1", ROOM, staff=False)
    assert store.reads == 1


async def test_check_send_now_defers_to_a_read_once_the_facts_are_stale() -> None:
    store = Store()
    cache = FactsCache(store.load, ttl_s=0)  # stale as soon as read
    enf = Enforcer(cache, MemorySlots(), lambda: NOW)
    await enf.check_send("u1", ROOM, staff=False)
    assert enf.check_send_now("u1", ROOM, staff=False) is None


async def test_takes_no_slot_only_when_claim_slot_would_do_nothing() -> None:
    store = Store()
    enf, cache = enforcer(store)
    checked = await enf.check_send("u1", ROOM, staff=False)
    assert enf.takes_no_slot(ROOM, False, checked)
    assert not enf.takes_no_slot(ROOM, False, None)  # no facts checked: claim_slot reads
    # Slow mode lands as an event, in the checked copy: now there is a slot to claim.
    cache.apply(events.StateChanged(ROOM, 30, False, None))
    assert not enf.takes_no_slot(ROOM, False, checked)
    assert enf.takes_no_slot(ROOM, True, checked)  # staff are exempt and use none
    await enf.claim_slot("u1", ROOM, staff=False, checked=checked)
    with pytest.raises(SlowMode):
        await enf.claim_slot("u1", ROOM, staff=False, checked=checked)
    # The cache forgot the copy (events may be lost): claim_slot must read again, staff too
    # (the read may fail, and then the send fails as it always did).
    cache.invalidate(ROOM)
    assert not enf.takes_no_slot(ROOM, False, checked)
    assert not enf.takes_no_slot(ROOM, True, checked)
