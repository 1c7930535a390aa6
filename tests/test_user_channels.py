"""The members' own channels (chat_server/social/delivery.py, Redis mode) on a real
redis-server: the members who connect in one loop turn are subscribed with one command, a
frame published for a member reaches that member's connections only, and the members who
leave together are unsubscribed with one command; a reader whose connection goes silent
(its peer gone without a reset) is replaced, and frames reach the members again.

A redis-server of its own: the checks read its command counts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis as redis_sync
from redis.asyncio import Redis

from chat_server.keys import Channels
from chat_server.social.delivery import RedisDelivery
from chat_server.wire import JSON, MSGPACK
from support.procs import TIMEOUT_SCALE, RedisServer

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("user-channels-redis"), appendonly=False) as srv:
        yield srv


@dataclass(frozen=True)
class _Member:
    id: str


@dataclass(eq=False)
class _Conn:
    """What delivery uses of a connection: the member, the wire format, and push."""

    member: _Member
    protocol: str = JSON
    got: list[Any] = field(default_factory=list)

    def push(self, data: Any) -> None:
        self.got.append(data)


def _calls(admin: redis_sync.Redis, command: str) -> int:
    stats = admin.info("commandstats").get(f"cmdstat_{command}")
    return int(stats["calls"]) if stats else 0


async def eventually(predicate: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s * TIMEOUT_SCALE
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not true within {timeout_s * TIMEOUT_SCALE}s")
        await asyncio.sleep(0.02)


async def test_members_connecting_together_are_subscribed_with_one_command(server: RedisServer) -> None:
    admin = redis_sync.Redis.from_url(server.url)
    client = Redis.from_url(server.url)
    channels = Channels.of(client)
    delivery = RedisDelivery(client)
    try:
        own = delivery.own_channel
        await eventually(lambda: admin.pubsub_numsub(own)[0][1] == 1, "the listener subscribed")
        admin.config_resetstat()
        conns = [_Conn(_Member(f"m{i}")) for i in range(30)]
        conns.append(_Conn(_Member("m7"), protocol=MSGPACK))  # a second connection of m7
        for conn in conns:
            await delivery.connected(conn)  # type: ignore[arg-type]
        wanted = [channels.user(f"m{i}") for i in range(30)]
        await eventually(lambda: all(n == 1 for _, n in admin.pubsub_numsub(*wanted)), "members subscribed")
        assert _calls(admin, "subscribe") == 1

        await delivery.send("m7", {"type": "hello", "n": 1})
        await eventually(lambda: bool(conns[7].got and conns[-1].got), "m7's frame delivered")
        assert [c.member.id for c in conns if c.got] == ["m7", "m7"]
        assert conns[7].got == ['{"type":"hello","n":1}'] and isinstance(conns[-1].got[0], bytes)

        await delivery.disconnected(conns[-1])  # type: ignore[arg-type]  # m7 still has one here
        for conn in conns[:-1]:
            await delivery.disconnected(conn)  # type: ignore[arg-type]
        await eventually(lambda: all(n == 0 for _, n in admin.pubsub_numsub(*wanted)), "members unsubscribed")
        assert _calls(admin, "unsubscribe") == 1
    finally:
        await delivery.close()
        await client.aclose()
        admin.close()


async def test_a_silent_connection_is_replaced_and_frames_arrive_again(server: RedisServer) -> None:
    client = Redis.from_url(server.url)
    channels = Channels.of(client)
    delivery = RedisDelivery(client, check_s=0.2)
    admin = redis_sync.Redis.from_url(server.url)
    try:
        conn = _Conn(_Member("m1"))
        await delivery.connected(conn)  # type: ignore[arg-type]
        await eventually(lambda: admin.pubsub_numsub(channels.user("m1"))[0][1] == 1, "m1 subscribed")
        await delivery.send("m1", {"type": "hello", "n": 0})
        await eventually(lambda: bool(conn.got), "the first frame delivered")
        # The reader hears nothing more, as when the peer vanished without a reset (the
        # connection stays open on both sides; only the heartbeat can tell).
        proto = delivery._subscriber._proto
        assert proto is not None and proto.transport is not None
        proto.transport.pause_reading()
        conn.got.clear()
        # Replaced within three heartbeats, at least 3 s (the watchdog's rule), plus margin.
        deadline = time.monotonic() + 3.0 + 3.0 * TIMEOUT_SCALE
        n = 0
        while not conn.got:
            assert time.monotonic() < deadline, "frames never reached m1 again"
            n += 1
            await delivery.send("m1", {"type": "hello", "n": n})
            await asyncio.sleep(0.1)
        assert delivery._subscriber._proto is not proto
    finally:
        await delivery.close()
        await client.aclose()
        admin.close()
