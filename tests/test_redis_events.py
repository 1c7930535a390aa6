"""Room events (presence, typing, reactions) published by the Redis broker, against a real
redis-server: another gateway's broker hears each once, in the order they were made; the
events of one loop turn go out on the broker's events pipe in one write; an event Redis holds
(writes paused, as in a failover) holds no room read; an unreachable Redis is
``Unavailable`` to the caller (the announcer and typing say so).

The module has a redis-server of its own: a test pauses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import redis as redis_sync
from redis.asyncio import Redis

from chat_server.broker.redis_broker import RedisBroker
from rooms.errors import Unavailable
from support.inproc import eventually
from support.procs import TIMEOUT_SCALE, RedisServer

pytestmark = pytest.mark.redis

ROOMS = ("room-a", "room-b")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("events-redis"), appendonly=False) as srv:
        yield srv


@pytest.fixture
def admin(server: RedisServer) -> Iterator[redis_sync.Redis]:
    client = redis_sync.Redis.from_url(server.url)
    client.flushall()
    yield client
    client.execute_command("CLIENT", "UNPAUSE")
    client.close()


class Gateway:
    """A broker with what it heard: (room, seq, frame) in arrival order."""

    def __init__(self, url: str, name: str, **options: float) -> None:
        self.client = Redis.from_url(url, **options)
        self.broker = RedisBroker(self.client, name, window=100, check_interval_s=5)
        self.heard: list[tuple[str, int | None, bytes]] = []

    async def start(self) -> None:
        await self.broker.start(
            lambda room, seq, data: self.heard.append((room, seq, data)), lambda _room: None,
            lambda _payload: None,
        )

    async def close(self) -> None:
        await self.broker.close()
        await self.client.aclose()


@pytest.fixture
async def gateways(server: RedisServer, admin: redis_sync.Redis) -> AsyncIterator[tuple[Gateway, Gateway]]:
    sender, listener = Gateway(server.url, "gw-a"), Gateway(server.url, "gw-b")
    await sender.start()
    await listener.start()
    for room in ROOMS:
        await listener.broker.subscribe(room)
    yield sender, listener
    await sender.close()
    await listener.close()


async def test_events_of_one_turn_reach_the_other_gateway_in_order_in_one_write(
    gateways: tuple[Gateway, Gateway],
) -> None:
    sender, listener = gateways
    await sender.broker.publish_event(ROOMS[0], b"connect")  # what follows is counted
    await eventually(lambda: len(listener.heard) == 1)
    listener.heard.clear()
    pipe = sender.broker._events
    writes, commands = pipe.writes, pipe.commands
    made = [(ROOMS[n % 2], f"event {n}".encode()) for n in range(20)]
    await asyncio.gather(*(sender.broker.publish_event(room, frame) for room, frame in made))
    assert (pipe.writes - writes, pipe.commands - commands) == (1, 20)
    await eventually(lambda: len(listener.heard) >= 20)
    await asyncio.sleep(0.05)  # nothing more arrives: each event once
    assert listener.heard == [(room, None, frame) for room, frame in made]


async def test_an_unreachable_redis_is_unavailable_to_the_publisher(
    server: RedisServer, admin: redis_sync.Redis,
) -> None:
    sender = Gateway(server.url, "gw-a", socket_timeout=0.2)
    try:
        await sender.broker.publish_event(ROOMS[0], b"first")
        admin.execute_command("CLIENT", "PAUSE", int(1000 * TIMEOUT_SCALE), "WRITE")
        with pytest.raises(Unavailable):
            await sender.broker.publish_event(ROOMS[0], b"late")
        admin.execute_command("CLIENT", "UNPAUSE")
        await sender.broker.publish_event(ROOMS[0], b"again")  # and back once it answers
    finally:
        await sender.close()


async def test_an_event_held_by_redis_holds_no_room_read(
    server: RedisServer, admin: redis_sync.Redis,
) -> None:
    """Writes paused (CLIENT PAUSE WRITE, as a failover does): a typing event waits, but a
    join's reads (the heads, a replay) are answered at once. With the events on the joins'
    connection the reads waited behind the held PUBLISH until its deadline failed them."""
    sender = Gateway(server.url, "gw-a", socket_timeout=1.0)
    try:
        await sender.broker.publish_event(ROOMS[0], b"first")
        await sender.broker.heads(list(ROOMS))
        admin.execute_command("CLIENT", "PAUSE", int(3000 * TIMEOUT_SCALE), "WRITE")
        held = asyncio.ensure_future(sender.broker.publish_event(ROOMS[0], b"typing"))
        await asyncio.sleep(0.05)  # the PUBLISH is written and held
        assert not held.done()
        async with asyncio.timeout(0.5):  # answered at once, well inside the pipe's deadline
            assert await sender.broker.heads(list(ROOMS)) == {room: 0 for room in ROOMS}
            await sender.broker.replay(ROOMS[0], 0, 10)
        admin.execute_command("CLIENT", "UNPAUSE")
        await held  # and the event goes out once writes resume
    finally:
        await sender.close()
