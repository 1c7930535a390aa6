"""A private-talk request survives a restart of the embedded server (no Redis), on SQLite and
on PostgreSQL: the queue is in the database (persistence/talks.py), not in the process.

A frightened member who asked for a navigator must not lose their place because the server
crashed or was restarted: after a crash (SIGKILL) the member is shown their request, waiting,
in its place, and the navigator coming on duty sees it; asking again is still refused as a
second request; after a graceful restart it is taken, and after another crash the navigator
who took it is answered as before (the outcome and the conversation are stored too).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from support.cluster import Deployment
from support.moderation import close_all, connect, fresh_org, make_staff_many, set_duty_ok, view
from support.procs import Postgres
from support.talks import accept, ask, ask_ok, wait_queue, wait_talk

# Long enough that nothing is shown the resources or lapses while the server restarts.
RESTART_ENV = {"KINDRED_PRIVATE_TALK_WAIT_S": "600", "KINDRED_PRIVATE_TALK_EXPIRE_S": "1200"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def embedded_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One `kindred serve` without Redis, on a SQLite file or on PostgreSQL."""
    env = dict(RESTART_ENV)
    if request.param == "postgres":
        pg: Postgres = request.getfixturevalue("postgres")
        pg.reset_database()
        env["KINDRED_DATABASE_URL"] = pg.url
    dep = Deployment.start(tmp_path_factory.mktemp(f"talk-restart-{request.param}"), count=1, extra_env=env)
    assert "KINDRED_REDIS_URL" not in dep.env
    yield dep
    dep.stop()


async def test_a_waiting_request_keeps_its_place_across_restarts(embedded_db: Deployment) -> None:
    dep, gw = embedded_db, embedded_db.gateways[0]
    org = await asyncio.to_thread(fresh_org, dep)
    (nav,) = await make_staff_many(dep, (org.key, "navigator", ()))
    first, second = dep.register(org=org.key), dep.register(org=org.key)
    m1 = await connect(dep, first, 0, org.lounge)
    m2 = await connect(dep, second, 0, org.rooms[1])
    t1 = await ask_ok(m1, org.lounge)
    t2 = await ask_ok(m2, org.rooms[1])
    assert (t1["place"], t2["place"]) == (1, 2), (t1, t2)

    # A crash: nothing of the process survives, and nobody is told.
    gw.kill()
    await close_all(m1, m2)
    await asyncio.to_thread(gw.start)

    m1 = await connect(dep, first, 0)
    m2 = await connect(dep, second, 0)
    n = await connect(dep, nav, 0)
    try:
        # Each member is shown their request on connecting: waiting, in its place, since when it was.
        again = await wait_talk(m1, t1["id"], state="waiting", place=1)
        assert again["asked_at"] == t1["asked_at"] and again["room"] == org.lounge, again
        await wait_talk(m2, t2["id"], state="waiting", place=2)
        # The navigator coming on duty sees both, in order, the member as anyone sees them.
        await set_duty_ok(n, True)
        queue = await wait_queue(n, 0, lambda ids: ids == [t1["id"], t2["id"]], what="the queue after a crash")
        assert queue["requests"][0]["member"] == view(first), queue
        # Still one request per member.
        await m1.join(org.lounge)
        refused = await ask(m1, org.lounge)
        assert refused["code"] == "talk_pending" and refused["id"] == t1["id"], refused
    finally:
        await close_all(m1, m2, n)

    # A graceful restart, then the navigator takes the first request.
    assert gw.terminate() == 0
    await asyncio.to_thread(gw.start)
    m1 = await connect(dep, first, 0)
    m2 = await connect(dep, second, 0)
    n = await connect(dep, nav, 0)
    try:
        await wait_talk(m1, t1["id"], state="waiting", place=1)
        await set_duty_ok(n, True)
        await wait_queue(n, 0, lambda ids: ids == [t1["id"], t2["id"]], what="the queue after a restart")
        taken = await accept(n, t1["id"])
        assert taken["type"] == "talk_accepted" and taken["member"] == view(first), taken
        await wait_talk(m1, t1["id"], state="accepted")
        await wait_talk(m2, t2["id"], state="waiting", place=1)
    finally:
        await close_all(m1, m2, n)

    # Another crash: the taken request is remembered as taken, with its conversation.
    gw.kill()
    await asyncio.to_thread(gw.start)
    m2 = await connect(dep, second, 0)
    n = await connect(dep, nav, 0)
    try:
        await wait_talk(m2, t2["id"], state="waiting", place=1)
        again = await accept(n, t1["id"])
        assert again == {**taken, "cid": again["cid"]}, (again, taken)
        await set_duty_ok(n, True)
        await wait_queue(n, 0, lambda ids: ids == [t2["id"]], what="the queue without the taken request")
    finally:
        await close_all(m2, n)
