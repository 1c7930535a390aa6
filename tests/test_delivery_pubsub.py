"""The members' own channels (chat_server/social/delivery.py) on the gateway's pub/sub reader
(chat_server/broker/subscriber.py), Redis mode, two gateways: a notification reaches each
connection of the member once, on both gateways; after Redis is killed and restarted every
member's channel is subscribed again, including a member who connected while the gateway was
still reconnecting, and notifications reach them all again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_sync
from websockets.exceptions import InvalidStatus

from support.client import Client
from support.cluster import ORG_A, Deployment, Member
from support.moderation import close_all, connect, default_org, new_cid
from support.procs import TIMEOUT_SCALE, Postgres, RedisServer, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

LIVE_BOUND_S = 2.0 * TIMEOUT_SCALE


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of this module's own: the test kills it."""
    with RedisServer(tmp_path_factory.mktemp("delivery-redis")) as server:
        yield server


@pytest.fixture(scope="module")
def two_gateways(
    tmp_path_factory: pytest.TempPathFactory, own_redis: RedisServer, postgres: Postgres,
) -> Iterator[Deployment]:
    postgres.reset_database()
    env = {"KINDRED_REDIS_URL": own_redis.url, "KINDRED_DATABASE_URL": postgres.url}
    dep = Deployment.start(Path(tmp_path_factory.mktemp("delivery")), count=2, extra_env=env)
    yield dep
    dep.stop()


def subscribers(url: str, member: Member) -> int:
    """How many connections (gateways) are subscribed to the member's channel."""
    admin = redis_sync.Redis.from_url(url)
    try:
        channel = f"kindred:user:{member.id}"
        return int(dict(admin.pubsub_numsub(channel))[channel.encode()])
    finally:
        admin.close()


async def mention(writer: Client, room: str, *targets: Member) -> None:
    """Post a message mentioning ``targets``, again with the same cid while the broker says
    it is unavailable (just after Redis came back), until it is acknowledged."""
    cid = new_cid()
    body = " ".join(f"@{t.handle}" for t in targets) + " thinking of you"
    for _ in range(50):
        answer = await writer.post(room, body, cid)
        if answer["type"] == "ack":
            return
        assert answer.get("code") == "unavailable", answer
        await asyncio.sleep(0.1)
    raise AssertionError("the mention was never acknowledged")


async def connect_when_ready(dep: Deployment, member: Member, gateway: int) -> Client:
    """Connect, again while the gateway refuses (503: Redis not reachable yet)."""
    for _ in range(100):
        try:
            return await connect(dep, member, gateway)
        except InvalidStatus:
            await asyncio.sleep(0.05)
    raise AssertionError("the gateway never took the connection")


async def told(c: Client, count: int) -> None:
    """``c`` got ``count`` mention notifications, and (after a ping's answer) no more."""
    await c.wait_until(
        lambda frames: len([f for f in frames if f.get("type") == "notification"]) >= count or None,
        LIVE_BOUND_S, f"{count} notifications",
    )
    start = len(c.frames)
    await c.send({"type": "ping"})
    await c.wait_frame("pong", LIVE_BOUND_S, start=start)
    assert len([f for f in c.frames if f.get("type") == "notification" and f["kind"] == "mention"]) == count


async def test_notifications_across_gateways_and_a_redis_restart(
    two_gateways: Deployment, own_redis: RedisServer,
) -> None:
    dep = two_gateways
    room = default_org(ORG_A).lounge
    author, target, late = dep.register(), dep.register(), dep.register()
    writer = await connect(dep, author, 0, room)
    phone = await connect(dep, target, 1)  # two devices, on the two gateways, in no room
    laptop = await connect(dep, target, 0)
    newcomer: Client | None = None
    try:
        await asyncio.to_thread(wait_for, lambda: subscribers(own_redis.url, target) == 2, 10,
                                "both gateways subscribed to the member's channel")
        await mention(writer, room, target)
        await asyncio.gather(told(phone, 1), told(laptop, 1))

        await asyncio.to_thread(own_redis.kill)
        await asyncio.to_thread(own_redis.restart)
        # A member connecting as soon as the gateway takes connections again, most likely
        # while its pub/sub reader is still waiting to reconnect: subscribed once it is back.
        newcomer = await connect_when_ready(dep, late, 1)
        await asyncio.to_thread(
            wait_for, lambda: subscribers(own_redis.url, target) == 2 and subscribers(own_redis.url, late) == 1,
            15, "every member's channel subscribed again",
        )
        await mention(writer, room, target, late)
        await asyncio.gather(told(phone, 2), told(laptop, 2), told(newcomer, 1))
    finally:
        await close_all(writer, phone, laptop, newcomer)
