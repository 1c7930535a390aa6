"""The private-talk queue (chat_server/private_talk/store.py) in every form: in the database
(the embedded mode's, on a migrated SQLite file and on PostgreSQL), and in a real redis-server;
three handles on one queue each time (three engines, three Redis clients), as gateways share
it. Settling a request is claimed by exactly one of many simultaneous callers; the resources
are claimed once."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy.exc import IntegrityError

from chat_server.private_talk.store import (
    FORGET_EVERY_S,
    KEEP_SETTLED_S,
    DatabaseTalks,
    RedisTalks,
    TalkStore,
)
from persistence.db import make_engine, session_factory
from rooms.errors import Unavailable
from rooms.model import Member
from rooms.private_talk import ACCEPTED, CANCELLED, TalkRequest
from rooms.roles import Role
from support.procs import RedisServer
from support.sqlite_db import migrated_database


def _member(role: Role = Role.MEMBER) -> Member:
    return Member("u" + secrets.token_hex(8), "h" + secrets.token_hex(4), role, 1, db_id=7)


def _talk(member: Member, at: float = 100.0) -> TalkRequest:
    return TalkRequest("t" + secrets.token_hex(8), member, "riverside-lounge", 1, at)


@pytest.fixture(params=["sqlite", "postgres", "redis"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[list[TalkStore]]:
    """Three handles on one queue: three engines on one database, or three Redis clients."""
    if request.param != "redis":
        url = await migrated_database(request, tmp_path)
        engines = [make_engine(url) for _ in range(3)]
        try:
            yield [DatabaseTalks(session_factory(e), 3600) for e in engines]
        finally:
            for e in engines:
                await e.dispose()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    # A database of its own (pub/sub is not used here), emptied: other tests' deployments keep theirs.
    clients = [Redis.from_url(server.url.rsplit("/", 1)[0] + "/9") for _ in range(3)]
    await clients[0].flushdb()
    try:
        yield [RedisTalks(c, 3600) for c in clients]
    finally:
        for c in clients:
            await c.aclose()


async def test_one_waiting_request_per_member(stores: list[TalkStore]) -> None:
    a, b, _ = stores
    m = _member()
    first, second = _talk(m), _talk(m, 101.0)
    assert await a.add(first) is None
    assert await b.add(second) == first.id  # refused, naming the one waiting
    assert [t.id for t in await b.waiting()] == [first.id]
    got = await b.get(first.id)
    assert got == first
    assert got is not None and got.member == m  # the organization and key survive the round trip
    # Once it is settled the member may ask again.
    won, _ = await a.settle(first, CANCELLED, 150.0)
    assert won
    assert await b.add(second) is None
    assert [t.id for t in await a.waiting()] == [second.id]


async def test_of_many_simultaneous_requests_by_one_member_one_is_stored(stores: list[TalkStore]) -> None:
    m = _member()
    talks = [_talk(m, 100.0 + i) for i in range(12)]  # two tabs, three gateways, a retry
    results = await asyncio.gather(*(stores[i % 3].add(t) for i, t in enumerate(talks)))
    stored = [t for t, r in zip(talks, results, strict=True) if r is None]
    assert len(stored) == 1, results
    assert all(r == stored[0].id for r in results if r is not None), results
    assert [t.id for t in await stores[1].waiting()] == [stored[0].id]


async def test_exactly_one_of_many_simultaneous_accepts_wins(stores: list[TalkStore]) -> None:
    talk = _talk(_member())
    assert await stores[0].add(talk) is None
    navigators = [_member(Role.NAVIGATOR).public() for _ in range(30)]
    results = await asyncio.gather(*(
        stores[i % 3].settle(talk, ACCEPTED, 200.0, nav) for i, nav in enumerate(navigators)
    ))
    winners = [i for i, (won, _) in enumerate(results) if won]
    assert len(winners) == 1, results
    winner = navigators[winners[0]]
    for _won, current in results:
        assert current is not None and current.outcome == ACCEPTED and current.navigator == winner
    assert await stores[1].waiting() == []
    # A withdrawal that comes after loses too, and learns who took it.
    won, current = await stores[2].settle(talk, CANCELLED, 201.0)
    assert not won and current is not None and current.navigator == winner


async def test_resources_are_claimed_once_and_never_for_a_settled_request(stores: list[TalkStore]) -> None:
    talk, other = _talk(_member()), _talk(_member(), 150.0)
    for t in (talk, other):
        assert await stores[0].add(t) is None
    claims = await asyncio.gather(*(stores[i % 3].mark_resources(talk.id, 400.0) for i in range(12)))
    assert claims.count(True) == 1
    waiting = {t.id: t for t in await stores[1].waiting()}
    assert waiting[talk.id].resources_at == 400.0 and waiting[other.id].resources_at is None
    assert (await stores[2].settle(other, CANCELLED, 401.0))[0]
    assert await stores[0].mark_resources(other.id, 402.0) is False
    assert await stores[0].mark_resources("t" + "0" * 16, 402.0) is False


async def test_an_acceptance_undone_waits_again_in_its_place(stores: list[TalkStore]) -> None:
    early, late = _talk(_member(), 10.0), _talk(_member(), 20.0)
    for t in (early, late):
        assert await stores[0].add(t) is None
    won, _ = await stores[1].settle(early, ACCEPTED, 30.0, _member(Role.NAVIGATOR).public())
    assert won
    assert [t.id for t in await stores[2].waiting()] == [late.id]
    await stores[1].reopen(early)
    assert [t.id for t in await stores[2].waiting()] == [early.id, late.id]
    again = await stores[0].get(early.id)
    assert again is not None and again.outcome is None and again.navigator is None
    assert await stores[0].add(_talk(early.member)) == early.id  # still their one request
    await stores[0].attach(early.id, "conv1", "dm-conv1")  # recorded with the outcome's fields
    got = await stores[0].get(early.id)
    assert got is not None and (got.conversation, got.conversation_room) == ("conv1", "dm-conv1")


async def test_a_request_reopened_after_the_member_asked_again_leaves_the_new_one_theirs(
    stores: list[TalkStore],
) -> None:
    m = _member()
    early, again = _talk(m, 10.0), _talk(m, 40.0)
    assert await stores[0].add(early) is None
    assert (await stores[1].settle(early, ACCEPTED, 30.0, _member(Role.NAVIGATOR).public()))[0]
    assert await stores[2].add(again) is None  # settled: the member may ask again
    await stores[1].reopen(early)  # the conversation could not be opened after all
    assert [t.id for t in await stores[0].waiting()] == [early.id, again.id]
    assert await stores[0].add(_talk(m, 50.0)) == again.id
    # Either one settled, the member still has the other waiting.
    assert (await stores[2].settle(again, CANCELLED, 60.0))[0]
    assert [t.id for t in await stores[0].waiting()] == [early.id]


async def test_the_database_forgets_requests_a_day_after_they_lapse(stores: list[TalkStore]) -> None:
    if isinstance(stores[0], RedisTalks):
        pytest.skip("Redis keys expire on their own (EXPIRE, KEEP_SETTLED_S after the lapse)")
    old, kept = _talk(_member(), 1000.0), _talk(_member(), 2000.0)
    for t in (old, kept):
        assert await stores[0].add(t) is None
    assert (await stores[1].settle(kept, CANCELLED, 2001.0))[0]
    # The next request, made just over a day and the lapse (3600 s) after the first:
    later = _talk(_member(), 1000.0 + 3600 + KEEP_SETTLED_S + 1)
    assert await stores[2].add(later) is None
    assert await stores[0].get(old.id) is None
    got = await stores[0].get(kept.id)
    assert got is not None and got.outcome == CANCELLED
    assert [t.id for t in await stores[1].waiting()] == [later.id]


async def _settled_then_first(stores: list[TalkStore]) -> tuple[TalkStore, TalkRequest, TalkRequest]:
    """A request settled at 1000 s on one handle (``old``), then another handle's first
    request, 10 s before ``old`` lapses: that handle forgets on it, and nothing is old enough."""
    if isinstance(stores[0], RedisTalks):
        pytest.skip("Redis keys expire on their own")
    old = _talk(_member(), 1000.0)
    assert await stores[1].add(old) is None
    assert (await stores[1].settle(old, CANCELLED, 1001.0))[0]
    first = _talk(_member(), 1000.0 + 3600 + KEEP_SETTLED_S - 10)
    assert await stores[0].add(first) is None
    return stores[0], old, first


async def test_the_database_forgets_at_most_once_an_hour_and_never_keeps_a_row_longer(
    stores: list[TalkStore],
) -> None:
    """The delete of old requests reads the whole table, so a handle runs it on a request at
    most every ``FORGET_EVERY_S`` (the requests' clock), not on each: a lapsed row may stay
    that much longer, and no longer."""
    store, old, first = await _settled_then_first(stores)
    assert await store.get(old.id) is not None  # the first request forgot: nothing was old
    keep = 3600 + KEEP_SETTLED_S
    # The next, once ``old`` has lapsed but within the hour, does not forget ...
    assert await store.add(_talk(_member(), 1000.0 + keep + 1)) is None
    assert await store.get(old.id) is not None
    # ... and the first an hour on does: ``old`` goes, what is younger than ``keep`` stays.
    assert await store.add(_talk(_member(), first.asked_at + FORGET_EVERY_S)) is None
    assert await store.get(old.id) is None
    assert await store.get(first.id) is not None
    assert len(await stores[2].waiting()) == 3


async def test_a_clock_stepped_back_starts_the_hour_again(stores: list[TalkStore]) -> None:
    """A request asked before the last clean-up (the clock stepped back) starts the interval
    from its own time, so clean-ups do not pause for as long as the step."""
    store, old, first = await _settled_then_first(stores)
    back = _talk(_member(), first.asked_at - 60)  # the clock stepped back a minute
    assert await store.add(back) is None
    # An hour after the stepped-back request, a minute before the hour after ``first``.
    assert await store.add(_talk(_member(), back.asked_at + FORGET_EVERY_S)) is None
    assert await store.get(old.id) is None


async def test_an_add_retried_after_it_was_stored_answers_with_its_own_id(stores: list[TalkStore]) -> None:
    """The same request added again (a retry whose first try was stored after all) clashes
    on its own id: it is itself, whether still waiting or settled since."""
    if isinstance(stores[0], RedisTalks):
        pytest.skip("the database's constraints (the Redis script answers the same while it waits)")
    talk = _talk(_member())
    assert await stores[0].add(talk) is None
    assert await stores[1].add(talk) == talk.id
    assert (await stores[2].settle(talk, CANCELLED, 150.0))[0]
    assert await stores[1].add(talk) == talk.id  # not stored again, not taken for another's
    got = await stores[0].get(talk.id)
    assert got is not None and got.outcome == CANCELLED
    assert await stores[0].waiting() == []


async def test_a_request_given_a_taken_id_is_refused(stores: list[TalkStore]) -> None:
    if isinstance(stores[0], RedisTalks):
        pytest.skip("the database's constraints")
    first = _talk(_member())
    assert await stores[0].add(first) is None
    other = TalkRequest(first.id, _member(), "riverside-lounge", 1, 101.0)
    with pytest.raises(Unavailable) as refused:
        await stores[1].add(other)
    assert isinstance(refused.value.__cause__, IntegrityError)
    assert [t.id for t in await stores[2].waiting()] == [first.id]


async def test_another_refusal_is_raised_not_taken_for_the_member_waiting(stores: list[TalkStore]) -> None:
    """Only the unique ``waiting_for`` means "waiting already": a row the database refuses
    for another reason (here a member without a storage key: ``user_id`` is NOT NULL) is an
    error, even while the member has a request waiting."""
    if isinstance(stores[0], RedisTalks):
        pytest.skip("the database's constraints")
    m = _member()
    first = _talk(m)
    assert await stores[0].add(first) is None
    keyless = Member(m.id, m.handle, m.role, m.org_id, db_id=None)
    with pytest.raises(Unavailable) as refused:
        await stores[1].add(_talk(keyless, 101.0))
    assert isinstance(refused.value.__cause__, IntegrityError)
    assert "user_id" in str(refused.value.__cause__)
    assert [t.id for t in await stores[2].waiting()] == [first.id]
