"""The gateways' pub/sub reader (chat_server/broker/subscriber.py) against a real redis-server:
delivery, batching of SUBSCRIBE, unsubscribing, a killed and restarted server, credentials,
and the broker on top of it (rooms subscribed together, re-subscription reported).

Each test module gets a redis-server of its own: the batching checks read the server's
command counts, and one test kills it.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis as redis_sync
from redis.asyncio import Redis

from chat_server.aio import stop_task
from chat_server.broker.redis_broker import RedisBroker
from chat_server.broker.subscriber import Address, Subscriber
from chat_server.keys import Channels
from support.procs import TIMEOUT_SCALE, RedisServer

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("subscriber-redis"), appendonly=False) as srv:
        yield srv


@pytest.fixture
def admin(server: RedisServer) -> Iterator[redis_sync.Redis]:
    client = redis_sync.Redis.from_url(server.url)
    client.config_resetstat()
    yield client
    client.close()


async def eventually(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s * TIMEOUT_SCALE
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not true within {timeout_s * TIMEOUT_SCALE}s")
        await asyncio.sleep(0.02)


def subscribe_calls(admin: redis_sync.Redis) -> int:
    stats = admin.info("commandstats").get("cmdstat_subscribe")
    return int(stats["calls"]) if stats else 0


@dataclass
class Seen:
    messages: list[tuple[bytes, bytes]] = field(default_factory=list)
    confirmed: list[bytes] = field(default_factory=list)
    connecting: int = 0

    def on_message(self, channel: bytes, data: bytes) -> None:
        self.messages.append((channel, data))

    def on_connecting(self) -> None:
        self.connecting += 1

    def on(self, channel: bytes) -> list[bytes]:
        return [d for c, d in self.messages if c == channel]


@pytest.fixture
async def running(server: RedisServer) -> AsyncIterator[tuple[Subscriber, Seen]]:
    seen = Seen()
    sub = Subscriber(Address(port=server.port), seen.on_message, seen.confirmed.append, seen.on_connecting)
    task = asyncio.create_task(sub.run())
    yield sub, seen
    await stop_task(task)


async def test_messages_arrive_in_order_with_binary_payloads_intact(
    running: tuple[Subscriber, Seen], admin: redis_sync.Redis
) -> None:
    sub, seen = running
    sub.subscribe(b"t:order")
    await eventually(lambda: seen.confirmed == [b"t:order"], 5, "subscription confirmed")
    # Every byte value, CR LF inside the payload, an empty one, and one bigger than a read.
    payloads = [bytes([i % 256]) * (i % 7) + b"\r\n$3\r\n" + bytes(range(256)) + str(i).encode() for i in range(500)]
    payloads += [b"", b"\x00" * 300_000]
    pipe = admin.pipeline(transaction=False)
    for p in payloads:
        pipe.publish(b"t:order", p)
    pipe.execute()
    await eventually(lambda: len(seen.messages) >= len(payloads), 10, "every message received")
    assert seen.on(b"t:order") == payloads


async def test_channels_asked_for_in_one_turn_go_out_as_one_subscribe(
    running: tuple[Subscriber, Seen], admin: redis_sync.Redis
) -> None:
    sub, seen = running
    sub.subscribe(b"t:first")
    await eventually(lambda: seen.confirmed == [b"t:first"], 5, "connected and subscribed")
    before = subscribe_calls(admin)
    channels = [b"t:many:%d" % i for i in range(200)]
    for channel in channels:
        sub.subscribe(channel)
    sub.subscribe(channels[0])  # asked again in the same turn: still one channel, one command
    await eventually(lambda: len(seen.confirmed) == 201, 5, "200 confirmations")
    assert sorted(seen.confirmed[1:]) == sorted(channels)
    assert subscribe_calls(admin) - before == 1
    assert admin.pubsub_numsub(*channels[:3]) == [(c, 1) for c in channels[:3]]


async def test_unsubscribe_stops_delivery(running: tuple[Subscriber, Seen], admin: redis_sync.Redis) -> None:
    sub, seen = running
    sub.subscribe(b"t:stays")
    sub.subscribe(b"t:goes")
    await eventually(lambda: len(seen.confirmed) == 2, 5, "both subscribed")
    sub.unsubscribe(b"t:goes")
    await eventually(lambda: admin.pubsub_numsub(b"t:goes") == [(b"t:goes", 0)], 5, "unsubscribed at Redis")
    admin.publish(b"t:goes", b"lost")
    admin.publish(b"t:stays", b"kept")
    await eventually(lambda: seen.on(b"t:stays") == [b"kept"], 5, "the other channel still delivered")
    assert seen.on(b"t:goes") == []
    assert sub.channels == {b"t:stays"}


async def test_a_handler_error_costs_only_its_own_message(
    server: RedisServer, admin: redis_sync.Redis
) -> None:
    got: list[bytes] = []
    confirmed: list[bytes] = []

    def handler(channel: bytes, data: bytes) -> None:
        if data == b"bad":
            raise ValueError("cannot handle this one")
        got.append(data)

    sub = Subscriber(Address(port=server.port), handler, confirmed.append, lambda: None)
    task = asyncio.create_task(sub.run())
    try:
        sub.subscribe(b"t:errors")
        await eventually(lambda: confirmed == [b"t:errors"], 5, "subscribed")
        for data in (b"one", b"bad", b"two"):
            admin.publish(b"t:errors", data)
        await eventually(lambda: got == [b"one", b"two"], 5, "the messages around the bad one")
        assert confirmed == [b"t:errors"]  # the connection stayed: no re-subscription
    finally:
        await stop_task(task)


async def test_credentials_and_database_of_the_url_are_used(
    server: RedisServer, admin: redis_sync.Redis
) -> None:
    admin.config_set("requirepass", "s3cret")
    try:
        client = Redis.from_url(f"redis://:s3cret@127.0.0.1:{server.port}/3")
        address = Address.of(client)
        await client.aclose()
        assert (address.password, address.db, address.port) == ("s3cret", 3, server.port)
        seen = Seen()
        sub = Subscriber(address, seen.on_message, seen.confirmed.append, seen.on_connecting)
        task = asyncio.create_task(sub.run())
        wrong = Seen()
        refused = Subscriber(
            Address(port=server.port, password="wrong"), wrong.on_message, wrong.confirmed.append,
            wrong.on_connecting,
        )
        refused_task = asyncio.create_task(refused.run())
        try:
            sub.subscribe(b"t:auth")
            refused.subscribe(b"t:auth")
            await eventually(lambda: seen.confirmed == [b"t:auth"], 5, "subscribed after AUTH and SELECT")
            authed = redis_sync.Redis.from_url(f"redis://:s3cret@127.0.0.1:{server.port}/0")
            authed.publish(b"t:auth", b"hello")
            await eventually(lambda: seen.on(b"t:auth") == [b"hello"], 5, "delivered")
            # A refused AUTH is retried with backoff, and never subscribes.
            await eventually(lambda: wrong.connecting >= 3, 5, "the refused one trying again")
            assert wrong.confirmed == [] and wrong.messages == []
            authed.close()
        finally:
            await stop_task(refused_task)
            await stop_task(task)
    finally:
        redis_sync.Redis.from_url(f"redis://:s3cret@127.0.0.1:{server.port}/0").config_set("requirepass", "")


async def test_a_killed_server_is_reconnected_and_everything_resubscribed(
    tmp_path: Path,
) -> None:
    with RedisServer(tmp_path, appendonly=False) as srv:
        seen = Seen()
        sub = Subscriber(Address(port=srv.port), seen.on_message, seen.confirmed.append, seen.on_connecting)
        task = asyncio.create_task(sub.run())
        try:
            for channel in (b"t:a", b"t:b"):
                sub.subscribe(channel)
            await eventually(lambda: sorted(seen.confirmed) == [b"t:a", b"t:b"], 5, "subscribed")
            assert seen.connecting == 1
            srv.kill()
            sub.subscribe(b"t:while-down")  # asked for while there is no connection
            sub.unsubscribe(b"t:b")
            await eventually(lambda: seen.connecting >= 3, 5, "trying again while it is down")
            srv.start()
            await eventually(lambda: len(seen.confirmed) == 4, 10, "re-subscribed")
            assert sorted(seen.confirmed[2:]) == [b"t:a", b"t:while-down"]
            client = redis_sync.Redis.from_url(srv.url)
            for channel in (b"t:a", b"t:b", b"t:while-down"):
                client.publish(channel, b"after " + channel)
            await eventually(lambda: len(seen.messages) == 2, 5, "delivered after the restart")
            assert seen.messages == [(b"t:a", b"after t:a"), (b"t:while-down", b"after t:while-down")]
            # A connection killed by Redis (not the server gone) is rebuilt the same way.
            assert client.client_kill_filter(_type="pubsub") == 1
            await eventually(lambda: len(seen.confirmed) == 6, 10, "re-subscribed after CLIENT KILL")
            client.close()
        finally:
            await stop_task(task)


# -- the broker on top of it -------------------------------------------------------------


@dataclass
class Hub:
    frames: list[tuple[str, int | None, bytes]] = field(default_factory=list)
    resyncs: list[str] = field(default_factory=list)

    def on_frame(self, room: str, seq: int | None, frame: bytes) -> None:
        self.frames.append((room, seq, frame))

    def on_control(self, payload: bytes) -> None:
        pass


@pytest.fixture
async def broker(server: RedisServer) -> AsyncIterator[tuple[RedisBroker, Hub]]:
    client = Redis.from_url(server.url)
    broker = RedisBroker(client, "gw-test", window=100, check_interval_s=1.0)
    hub = Hub()
    await broker.start(hub.on_frame, hub.resyncs.append, hub.on_control)
    yield broker, hub
    await broker.close()
    await client.aclose()


async def test_rooms_joined_together_are_one_subscribe_and_deliver(
    broker: tuple[RedisBroker, Hub], admin: redis_sync.Redis
) -> None:
    rb, hub = broker
    await rb.subscribe("warmup")  # the listener is connected (hb, control, this room)
    before = subscribe_calls(admin)
    rooms = [f"room-{i}" for i in range(50)]
    heads = await asyncio.gather(*(rb.subscribe(r) for r in rooms))
    assert heads == [0] * 50
    assert subscribe_calls(admin) - before == 1
    channels = Channels(0)
    admin.publish(channels.room("room-7"), b"m3:\x93\x01\x02")
    admin.publish(channels.room("room-8"), b"e:typing")
    await eventually(lambda: len(hub.frames) == 2, 5, "frames delivered")
    assert hub.frames == [("room-7", 3, b"\x93\x01\x02"), ("room-8", None, b"typing")]
    await rb.unsubscribe("room-7")
    await eventually(lambda: admin.pubsub_numsub(channels.room("room-7"))[0][1] == 0, 5, "room-7 dropped")


async def test_a_lost_subscription_is_reported_for_every_room_and_the_control_channel(
    broker: tuple[RedisBroker, Hub], admin: redis_sync.Redis
) -> None:
    rb, hub = broker
    for room in ("r1", "r2"):
        await rb.subscribe(room)
    assert hub.resyncs == ["*"]  # the first subscription: only control events were missed
    assert admin.client_kill_filter(_type="pubsub") == 1
    await eventually(lambda: len(hub.resyncs) == 4, 10, "every room reported after re-subscribing")
    assert sorted(hub.resyncs) == ["*", "*", "r1", "r2"]
    admin.publish(Channels(0).room("r2"), b"m1:x")
    await eventually(lambda: hub.frames == [("r2", 1, b"x")], 5, "delivered again")


@pytest.fixture
def unix_socket() -> Iterator[Path]:
    """A redis-server listening only on a unix socket (in a short directory: a socket's path
    has a length limit of 108 bytes)."""
    sock = Path(tempfile.mkdtemp(prefix="kr-", dir="/tmp")) / "r.sock"
    proc = subprocess.Popen(
        ["/usr/bin/redis-server", "--port", "0", "--unixsocket", str(sock), "--save", "",
         "--appendonly", "no", "--dir", str(sock.parent)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield sock
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(sock.parent, ignore_errors=True)


async def test_a_unix_socket_url_is_followed(unix_socket: Path) -> None:
    sock = unix_socket
    await eventually(sock.exists, 10, "redis-server listening on its socket")
    client = Redis.from_url(f"unix://{sock}?db=2")
    address = Address.of(client)
    await client.aclose()
    assert (address.path, address.db) == (str(sock), 2)
    seen = Seen()
    sub = Subscriber(address, seen.on_message, seen.confirmed.append, seen.on_connecting)
    task = asyncio.create_task(sub.run())
    try:
        sub.subscribe(b"t:unix")
        await eventually(lambda: seen.confirmed == [b"t:unix"], 5, "subscribed over the socket")
        publisher = redis_sync.Redis(unix_socket_path=str(sock))
        publisher.publish(b"t:unix", b"hi")
        publisher.close()
        await eventually(lambda: seen.on(b"t:unix") == [b"hi"], 5, "delivered")
    finally:
        await stop_task(task)
