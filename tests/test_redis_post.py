"""The broker's post script on its RedisPipe, against a real redis-server: each post written
as it is made, a cid posted once whatever the resends, NOSCRIPT after Redis forgot the
script, and the guarantee the acknowledged path rests on: a lost connection or a late
reply fails every post in flight (the caller reports "unavailable"), and the client's resend
with the same cid stores each message exactly once. Also over a unix socket, which the post's
former connection (broker/script_pipe.py) left to redis-py.

The module has a redis-server of its own: tests pause it and kill its connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import redis as redis_sync
from redis.asyncio import Redis

from chat_server import keys
from chat_server.broker.base import Draft, Posted
from chat_server.broker.redis_broker import RedisBroker
from rooms.errors import Unavailable
from support.procs import TIMEOUT_SCALE, RedisServer

pytestmark = pytest.mark.redis

ROOM = "room-p"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("post-redis"), appendonly=False, unixsocket=True) as srv:
        yield srv


@pytest.fixture
def admin(server: RedisServer) -> Iterator[redis_sync.Redis]:
    client = redis_sync.Redis.from_url(server.url)
    client.flushall()
    yield client
    client.execute_command("CLIENT", "UNPAUSE")
    client.close()


async def open_broker(url: str, **options: float) -> tuple[Redis, RedisBroker]:
    client = Redis.from_url(url, **options)
    return client, RedisBroker(client, "gw", window=100, check_interval_s=5)


@pytest.fixture
async def broker(server: RedisServer) -> AsyncIterator[RedisBroker]:
    client, b = await open_broker(server.url)
    yield b
    await b.close()
    await client.aclose()


def draft(n: int) -> Draft:
    return Draft(ROOM, f"m{n}", "u1", 1, f"c{n}", b"prefix", f"body {n}", None, None, 1000 + n)


async def post_all(broker: RedisBroker, ns: range) -> list[Posted | BaseException]:
    """Every post started in the same loop turn; results or exceptions, in order."""
    return await asyncio.gather(*(broker.post(draft(n), 0) for n in ns), return_exceptions=True)


def stored_once(admin: redis_sync.Redis, n: int) -> None:
    """Messages 0..n-1 each in the room's log exactly once, seqs 1..n, nothing else."""
    frames = [fields[b"f"] for _, fields in admin.xrange(keys.log(ROOM))]
    assert len(frames) == n and int(admin.get(keys.seq(ROOM)) or 0) == n
    cids = {admin.get(keys.cid("u1", f"c{i}")) for i in range(n)}
    assert len(cids) == n and None not in cids


async def test_posts_are_written_at_once_and_a_cid_is_stored_once(
    broker: RedisBroker, admin: redis_sync.Redis,
) -> None:
    # Made while the connection opens: held, then one write.
    posted = await post_all(broker, range(3))
    assert [p.seq for p in posted if isinstance(p, Posted)] == [1, 2, 3]
    # Made on an open connection: each written as it is made, not at the end of the turn.
    writes = broker._post_pipe.writes
    calls = [asyncio.ensure_future(broker.post(draft(n), 0)) for n in range(3, 21)]
    await asyncio.sleep(0)  # each call's first step has run; the turn has not ended
    assert broker._post_pipe.writes == writes + 18
    posted = await asyncio.gather(*calls)
    assert [p.seq for p in posted] == list(range(4, 22))
    again = await broker.post(draft(7), 0)
    assert (again.message_id, again.seq, again.duplicate) == ("m7", 8, True)
    admin.script_flush()  # as after a restart: NOSCRIPT, answered by sending the script
    assert (await broker.post(draft(21), 0)).seq == 22
    stored_once(admin, 22)


async def test_a_lost_connection_fails_every_post_in_flight_and_resends_store_each_once(
    broker: RedisBroker, admin: redis_sync.Redis,
) -> None:
    assert all(isinstance(p, Posted) for p in await post_all(broker, range(5)))
    me = await broker._post_pipe.execute("CLIENT", "ID")
    admin.execute_command("CLIENT", "PAUSE", int(2000 * TIMEOUT_SCALE), "WRITE")
    in_flight = [asyncio.ensure_future(broker.post(draft(n), 0)) for n in range(5, 10)]
    await asyncio.sleep(0.05)
    assert not any(p.done() for p in in_flight)  # written, held by the pause
    admin.execute_command("CLIENT", "KILL", "ID", me)
    results = await asyncio.gather(*in_flight, return_exceptions=True)
    assert all(isinstance(p, Unavailable) for p in results), results
    admin.execute_command("CLIENT", "UNPAUSE")
    resent = await post_all(broker, range(10))  # the clients send again, same cids
    assert all(isinstance(p, Posted) for p in resent), resent
    assert [p.duplicate for p in resent[:5] if isinstance(p, Posted)] == [True] * 5
    stored_once(admin, 10)


async def test_a_late_reply_fails_every_post_in_flight_and_resends_store_each_once(
    server: RedisServer, admin: redis_sync.Redis,
) -> None:
    client, broker = await open_broker(server.url, socket_timeout=0.2)
    try:
        await broker.post(draft(0), 0)
        admin.execute_command("CLIENT", "PAUSE", int(1000 * TIMEOUT_SCALE), "WRITE")
        late = await post_all(broker, range(1, 6))
        assert all(isinstance(p, Unavailable) for p in late), late
        admin.execute_command("CLIENT", "UNPAUSE")
        # The paused scripts may have run after all: the resends say so, or store them now.
        resent = await post_all(broker, range(6))
        assert all(isinstance(p, Posted) for p in resent), resent
        stored_once(admin, 6)
    finally:
        await broker.close()
        await client.aclose()


async def test_posts_over_a_unix_socket_go_through_the_pipe(
    server: RedisServer, admin: redis_sync.Redis,
) -> None:
    client, broker = await open_broker(server.socket_url)
    try:
        posted = await post_all(broker, range(3))
        assert [p.seq for p in posted if isinstance(p, Posted)] == [1, 2, 3]
        assert broker._post_pipe.commands >= 3  # not redis-py's pool
        stored_once(admin, 3)
    finally:
        await broker.close()
        await client.aclose()
