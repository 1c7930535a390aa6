"""A reply is checked again once its thread is looked up. ``Sender.send`` checks moderation
first, from the cached facts, then awaits the look-up of ``reply_to``'s thread (in Redis mode
a Redis call; for a message the broker no longer knows, the database's read). A ban, a mute,
a lock or a kick that lands meanwhile, or the room left, must still refuse the reply, and
nothing is posted. Without slow mode the slot step asks nothing (``takes_no_slot``), so only
that second check stands between such an event and the post.

The server core in one process (tests/support/inproc.py): the real Hub, Sender, Enforcer and
facts cache, on the in-memory broker with the embedded writer on SQLite, or on a real
RedisBroker (redis-server). The stored look-up is the test's: it applies the event, as the
broker's listener would apply one arriving from a navigator's gateway, while the sender awaits
it, then answers the thread's root. No timing: the event lands inside the await itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from chat_server.gateway.connection import Connection
from chat_server.protocol import moderation_events as events
from rooms.errors import Banned, Locked, Muted, NotJoined, RoomError
from rooms.moderation import Restriction
from support.inproc import ROOM, InProc, count_of, frames_until, of_type

REDIS_DB = 13  # a database of its own, emptied: pub/sub channels are per database here
ROOT = "ab" * 16  # an older message: the broker does not know it, its thread is read from store


@pytest.fixture(params=[
    pytest.param("embedded", marks=pytest.mark.unit), pytest.param("redis", marks=pytest.mark.redis),
])
async def tier(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[InProc]:
    url = None
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        url = server.url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
        admin = Redis.from_url(url)
        await admin.flushdb()
        await admin.aclose()
    async with InProc(tmp_path, redis_url=url) as t:
        yield t


def _restricted(tier: InProc, user: str, kind: str, for_s: float | None) -> None:
    """On record first (as Moderation.act does), then the event every gateway receives."""
    until = None if for_s is None else tier.clock.now + for_s
    tier.restrictions[user] = [Restriction(kind, until, "a break")]
    until_ms = None if until is None else int(until * 1000)
    tier.hub.moderating.apply(events.Restricted(ROOM, user, kind, until_ms, "a break"))


Landing = Callable[[InProc, Connection], Awaitable[None]]


async def _muted(tier: InProc, conn: Connection) -> None:
    _restricted(tier, conn.member.id, "mute", None)


async def _banned(tier: InProc, conn: Connection) -> None:
    _restricted(tier, conn.member.id, "ban", None)


async def _kicked(tier: InProc, conn: Connection) -> None:
    _restricted(tier, conn.member.id, "kick", 600)


async def _locked(tier: InProc, conn: Connection) -> None:
    tier.hub.moderating.apply(events.StateChanged(ROOM, 0, True, None))


async def _left(tier: InProc, conn: Connection) -> None:
    await tier.rooms.leave(conn, ROOM)


async def _muted_then_read_again(tier: InProc, conn: Connection) -> None:
    # The mute's event was lost (a pub/sub re-subscription): the cache forgets the room, and
    # the next read finds the mute on record.
    tier.restrictions[conn.member.id] = [Restriction("mute", None, "a break")]
    tier.facts.invalidate(ROOM)


@pytest.mark.parametrize(("landing", "refused"), [
    (_muted, Muted),
    (_banned, Banned),
    (_locked, Locked),
    (_kicked, NotJoined),  # out of the room (its socket closing): refused as not joined
    (_left, NotJoined),
    (_muted_then_read_again, Muted),
], ids=["mute", "ban", "lock", "kick", "leave", "mute-read-afresh"])
async def test_what_lands_during_the_thread_look_up_refuses_the_reply(
    tier: InProc, landing: Landing, refused: type[RoomError],
) -> None:
    ann, bob = await tier.member("Ann"), await tier.member("Bob")
    a, b = tier.connect(ann), tier.connect(bob)
    await tier.join(a)
    await tier.join(b)
    head = (await tier.broker.heads([ROOM]))[ROOM]
    looked_up: list[str] = []

    async def stored_thread_of(room: str, message_id: str) -> str | None:
        await landing(tier, a)  # while the sender awaits the look-up
        looked_up.append(message_id)
        return ROOT

    tier.stored_thread_of = stored_thread_of
    with pytest.raises(refused):
        await tier.rooms.send(a, ROOM, "me too", "c-reply", ROOT, False)
    assert looked_up == [ROOT]  # it was the look-up's window, not the first check
    # Nothing was posted: the room's head did not move, and a later message reaches Bob
    # with nothing of Ann's before it.
    assert (await tier.broker.heads([ROOM]))[ROOM] == head
    tier.hub.moderating.apply(events.StateChanged(ROOM, 0, False, None))  # unlocked, if it was
    await tier.rooms.send(b, ROOM, "hello", "c-bob", None, False)
    got = of_type(await frames_until(b, count_of("message", 1)), "message")
    assert [(m["body"], m["seq"]) for m in got] == [("hello", head + 1)]


async def test_a_reply_with_nothing_landing_is_posted_in_its_thread(tier: InProc) -> None:
    ann, bob = await tier.member("Ann"), await tier.member("Bob")
    a, b = tier.connect(ann), tier.connect(bob)
    await tier.join(a)
    await tier.join(b)

    async def stored_thread_of(room: str, message_id: str) -> str | None:
        return ROOT if message_id == ROOT else None

    tier.stored_thread_of = stored_thread_of
    await tier.rooms.send(a, ROOM, "me too", "c-reply", ROOT, False)
    got = of_type(await frames_until(b, count_of("message", 1)), "message")
    assert [(m["body"], m["reply_to"], m["thread_root"]) for m in got] == [("me too", ROOT, ROOT)]
