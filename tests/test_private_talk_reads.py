"""The private-talk desk reads the queue when it changes and when the clock has something to do,
not every second (Redis mode, two gateways, PostgreSQL).

A request waits; nobody takes it; after the wait (6 s here) the member is shown the crisis
resources, on time. The queue's reads are counted where every gateway makes them: Redis's
``ZRANGE`` calls (only the queue's ``waiting`` uses it). Each gateway reads when the request
is made, at the wait's deadline and when the card was shown: a handful, where reading every
second made two gateways read at least twelve times in those six seconds.

With no timer, a change whose control message was never heard would wait for the 30 s
backstop; a gateway whose control subscription was lost (and with it whatever was published
meanwhile) reads the queue again as soon as it is subscribed again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import asyncpg
import pytest
import redis as redis_sync
from redis.asyncio import Redis

from chat_server.private_talk.store import RedisTalks
from rooms.model import Member
from rooms.private_talk import TalkRequest
from rooms.roles import Role
from support.cluster import Deployment, shared_servers
from support.moderation import close_all, connect, fresh_org, make_staff_many, set_duty_ok
from support.procs import TIMEOUT_SCALE, Postgres, RedisServer
from support.talks import ask_ok, wait_queue

WAIT_S = 6.0
GATEWAYS = 2


@pytest.fixture(scope="module")
def talk_pair(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, postgres: Postgres
) -> Iterator[tuple[Deployment, redis_sync.Redis]]:
    env = {**shared_servers(redis_server, postgres),
           "KINDRED_PRIVATE_TALK_WAIT_S": str(WAIT_S), "KINDRED_PRIVATE_TALK_EXPIRE_S": "600"}
    client = redis_sync.Redis.from_url(redis_server.url)
    dep = Deployment.start(tmp_path_factory.mktemp("talk-reads"), count=GATEWAYS, extra_env=env)
    yield dep, client
    dep.stop()
    client.close()


def queue_reads(client: redis_sync.Redis) -> int:
    stats = client.info("commandstats")
    return int(stats.get("cmdstat_zrange", {}).get("calls", 0))


async def test_a_waiting_request_is_read_when_something_happens_not_every_second(
    talk_pair: tuple[Deployment, redis_sync.Redis],
) -> None:
    dep, client = talk_pair
    org = await asyncio.to_thread(fresh_org, dep)
    (nav,) = await make_staff_many(dep, (org.key, "navigator", ()))
    room = org.rooms[1]
    member = dep.register(org=org.key)
    m = await connect(dep, member, 0, room)
    n = await connect(dep, nav, GATEWAYS - 1)
    try:
        await set_duty_ok(n, True)
        before = queue_reads(client)
        talk = await ask_ok(m, room)
        asked = time.time()
        await m.wait_frame("resources", timeout_s=WAIT_S + 4, talk=talk["id"])
        # On time: the deadline wakes the desks, as the 1 s tick did.
        assert time.time() - asked <= WAIT_S + 1.5 * TIMEOUT_SCALE
        # The navigator's queue says the card was shown (read after the change, everywhere).
        await n.wait_until(lambda frames: next(
            (f for f in frames if f.get("type") == "talk_queue" and f["requests"]
             and f["requests"][0]["resources_shown"]), None), 5, "the queue saying the card was shown")
        reads = queue_reads(client) - before
        # Per gateway: the request's change, the deadline, the card's change, and the asking
        # gateway's own read for the place; a few spare for a wake-up that raced a reading.
        assert reads <= 5 * GATEWAYS, f"{reads} reads of the queue in {time.time() - asked:.1f} s"
    finally:
        await close_all(m, n)


async def test_a_gateway_subscribed_again_reads_the_queue_at_once(
    talk_pair: tuple[Deployment, redis_sync.Redis],
) -> None:
    """A request put in the queue with no control message at all (as if it was published
    while the gateways' pub/sub connections were down), then every pub/sub connection
    dropped: once the gateways are subscribed again, the navigator on duty sees it, long
    before the 30 s backstop."""
    dep, client = talk_pair
    org = await asyncio.to_thread(fresh_org, dep)
    (nav,) = await make_staff_many(dep, (org.key, "navigator", ()))
    room = org.rooms[1]
    member = dep.register(org=org.key)
    n = await connect(dep, nav, GATEWAYS - 1)
    try:
        await set_duty_ok(n, True)
        await wait_queue(n, 0, lambda ids: ids == [], what="the empty queue on duty")
        dsn = dep.env["KINDRED_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
        pg = await asyncpg.connect(dsn)
        try:
            row = await pg.fetchrow("SELECT id, org_id FROM users WHERE public_id = $1", member.id)
        finally:
            await pg.close()
        assert row is not None
        request = TalkRequest("t" + "5" * 16, Member(member.id, member.handle, Role.MEMBER, row["org_id"], row["id"]),
                              room, row["org_id"], time.time())
        redis = Redis.from_url(dep.env["KINDRED_REDIS_URL"])
        try:
            assert await RedisTalks(redis, 600).add(request) is None  # in the queue, nobody told
        finally:
            await redis.aclose()
        start = len(n.frames)
        assert client.client_kill_filter(_type="pubsub") >= GATEWAYS  # each gateway's, at least
        await wait_queue(n, start, lambda ids: request.id in ids, timeout_s=5,
                         what="the request, read once the control channel was subscribed again")
    finally:
        await close_all(n)
