"""Processes killed under live rooms: Redis SIGKILLed mid-flow, a gateway SIGKILLed with
clients on it, the gateways' pub/sub connections killed. Nothing acknowledged is lost or
repeated (tests/support/faults.py counts every message).
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis as redis_sync

from support.client import JSON, MSGPACK
from support.cluster import Deployment
from support.faults import (
    Peer,
    Sender,
    _check_acks,
    _check_received,
    _registered,
    _stop_all,
)
from support.procs import TIMEOUT_SCALE, RedisServer, wait_for

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------- 1. redis SIGKILL


@pytest.mark.redis
@pytest.mark.postgres
async def test_redis_sigkill_mid_flow_loses_and_repeats_nothing(
    cluster: Deployment, fault_redis: RedisServer
) -> None:
    """Redis is SIGKILLed with 3 rooms x 500 messages in flight and restarted a second later
    (AOF). Senders retry refused or unanswered sends with the same cid. Every send ends up
    acked exactly once (one id per cid), seqs are 1..500 in each room, and every receiver, on
    every gateway, was shown each acked message exactly once, in order."""
    per_room, kill_after = 500, 150
    name, phrase, rooms = cluster.new_org()
    org = (name, phrase)
    urls = [gw.ws_url for gw in cluster.gateways]
    members = _registered(cluster, org, 3 + 3 * len(rooms))
    senders = [
        Sender(f"sender-{r}", members[i], [urls[i]], rooms[i], MSGPACK if i % 2 else JSON)
        for i, r in enumerate(rooms)
    ]
    receivers = [
        Peer(f"recv-gw{g}-room{r}", members[3 + 3 * g + r], [urls[g]], [rooms[r]], JSON if (g + r) % 2 else MSGPACK)
        for g in range(3)
        for r in range(len(rooms))
    ]
    peers: list[Peer] = [*senders, *receivers]
    flow: list[asyncio.Task[None]] = []
    try:
        for p in peers:
            await p.open()
        for p in receivers:
            p.keep_connected()
        enough = asyncio.Event()

        async def send_all(s: Sender) -> None:
            for i in range(per_room):
                await s.post(f"{s.room} message {i}", cid=f"{s.room[-12:]}-{i}")
                if all(len(x.acked) >= kill_after for x in senders):
                    enough.set()

        flow += [asyncio.create_task(send_all(s)) for s in senders]
        t0 = time.monotonic()
        await asyncio.wait_for(enough.wait(), 60 * TIMEOUT_SCALE)
        acked_at_kill = sum(len(s.acked) for s in senders)
        await asyncio.to_thread(fault_redis.kill)
        await asyncio.sleep(1.0)  # the outage itself
        await asyncio.to_thread(fault_redis.restart)
        await asyncio.wait_for(asyncio.gather(*flow), 90 * TIMEOUT_SCALE)
        t_flow = time.monotonic() - t0

        acked = _check_acks(senders)
        assert all(len(acked[r]) == per_room for r in rooms)
        assert acked_at_kill < 3 * per_room, "the kill must land mid-flow"
        loud = set().union(*(s.loud for s in senders))
        assert loud, "no send was refused with `unavailable`: the outage was not exercised"
        for p in peers:  # the senders too: they are members of their rooms
            await p.wait_messages(p.rooms[0], per_room, 30)
        for p in peers:
            _check_received(p, p.rooms[0], acked[p.rooms[0]])
        print(
            f"\nredis kill: flow {t_flow:.1f}s, acked at kill {acked_at_kill}, refused {len(loud)},"
            f" timed out {sum(len(s.timeouts) for s in senders)}, sender reconnects"
            f" {sum(len(s.close_codes) for s in senders)}, receiver reconnects"
            f" {sum(len(p.close_codes) for p in receivers)} {[p.close_codes for p in receivers]}"
        )
    finally:
        await _stop_all(peers, flow)


# --------------------------------------------------------------------------- 2. gateway SIGKILL


@pytest.mark.redis
@pytest.mark.postgres
async def test_gateway_sigkill_presence_expires_and_clients_resume_elsewhere(cluster: Deployment) -> None:
    """A gateway is SIGKILLed: members only it held disappear from presence on the others
    (within 30 s; the TTL is 4 s), a member also connected elsewhere stays present, and its
    clients resume on another gateway with join {since}, missing nothing and getting nothing
    twice, while a sender on a surviving gateway never stops."""
    name, phrase, (room, _, _) = cluster.new_org()
    org = (name, phrase)
    urls = [gw.ws_url for gw in cluster.gateways]
    m = _registered(cluster, org, 6)
    sender = Sender("sender", m[0], [urls[0]], room)
    obs1 = Peer("observer-gw1", m[1], [urls[1]], [room], JSON)
    victims = [
        Peer("victim-a", m[2], [urls[2], urls[0]], [room]),
        Peer("victim-b", m[3], [urls[2], urls[1]], [room], JSON),
    ]
    dual_gw2 = Peer("dual-on-gw2", m[4], [urls[2], urls[0]], [room])
    dual_gw1 = Peer("dual-on-gw1", m[4], [urls[1]], [room])
    obs0 = Peer("observer-gw0", m[5], [urls[0]], [room])
    peers: list[Peer] = [sender, obs0, obs1, *victims, dual_gw2, dual_gw1]
    everyone = {x.id for x in m}
    gone = {m[2].id, m[3].id}
    observers = [obs0, obs1, sender]
    tasks: list[asyncio.Task[None]] = []
    try:
        for p in peers:
            await p.open()
        for o in observers:
            await o.client.wait_until(lambda f, o=o: o.client.present_ids(room) == everyone, 10, "all present")

        stop = asyncio.Event()
        count = 0

        async def flow() -> None:
            nonlocal count
            while not stop.is_set():
                await sender.post(f"flow {count}", cid=f"flow-{count}")
                count += 1
                await asyncio.sleep(0.01)  # pace

        flowing = asyncio.create_task(flow())
        tasks.append(flowing)
        await sender.wait_messages(room, 30, 20)
        marks = {o.name: len(o.client.frames) for o in observers}
        t_kill = time.monotonic()
        await asyncio.to_thread(cluster.gateways[2].kill)
        for v in [*victims, dual_gw2]:
            assert await v.client.wait_closed(5) == 1006
        for o in observers:
            await o.client.wait_until(
                lambda f, o=o: o.client.present_ids(room) == everyone - gone, 30, "victims gone"
            )
        t_gone = time.monotonic() - t_kill
        for o in observers:
            left = [p["id"] for f in o.client.frames[marks[o.name]:] if f.get("type") == "presence" for p in f["left"]]
            assert sorted(left) == sorted(gone), f"{o.name}: unexpected departures {left}"
        during = count
        for v in victims:
            await v.reconnect()
            assert v.urls_used[-1] != urls[2]
            assert v.joins[-1][1] is not None, "resumed with since"
        for o in observers:
            await o.client.wait_until(lambda f, o=o: o.client.present_ids(room) == everyone, 10, "victims back")
        await sender.wait_messages(room, during + 30, 20)
        stop.set()
        await asyncio.wait_for(flowing, 20 * TIMEOUT_SCALE)
        acked = _check_acks([sender])[room]
        for p in [sender, obs0, obs1, *victims, dual_gw1]:
            await p.wait_messages(room, len(acked), 15)
            _check_received(p, room, acked)
        seen_at_kill = [len(v.clients[0].messages(room)) for v in victims]
        print(
            f"\ngateway kill: presence gone after {t_gone:.1f}s; {len(acked)} messages, "
            f"{during} acked before the victims came back; victims had {seen_at_kill} at the kill"
        )
    finally:
        await _stop_all(peers, tasks)


# --------------------------------------------------------------------------- 3. pub/sub dropped


@pytest.mark.redis
@pytest.mark.postgres
async def test_killed_pubsub_connections_are_filled_from_the_stream(
    cluster: Deployment, fault_redis: RedisServer
) -> None:
    """Redis stays up but every gateway's pub/sub connection is killed (CLIENT KILL TYPE
    pubsub), four times, while two rooms receive messages: what pub/sub dropped is filled from
    the stream, so every receiver still gets every message exactly once, in order."""
    per_room, rounds = 300, 4
    name, phrase, rooms = cluster.new_org()
    rooms = rooms[:2]
    urls = [gw.ws_url for gw in cluster.gateways]
    m = _registered(cluster, (name, phrase), 2 + 3 * len(rooms))
    senders = [Sender(f"sender-{i}", m[i], [urls[i]], r) for i, r in enumerate(rooms)]
    receivers = [
        Peer(f"recv-gw{g}-room{r}", m[2 + 3 * r + g], [urls[g]], [rooms[r]], JSON if g == 1 else MSGPACK)
        for r in range(len(rooms))
        for g in range(3)
    ]
    peers: list[Peer] = [*senders, *receivers]
    admin = redis_sync.Redis.from_url(fault_redis.url)

    # Each gateway holds two pub/sub connections: the rooms' (the broker) and the members' own
    # channels (notifications, chat_server/social/delivery.py). Both are killed each round.
    subscribed = 2 * len(cluster.gateways)

    # Ids of connections already killed: Redis may list a killed client for a moment while it
    # closes it, so "every gateway resubscribed" means this many pub/sub connections, all new.
    gone: set[str] = set()

    def pubsub_clients() -> int:
        ids = {c["id"] for c in admin.client_list(_type="pubsub")}
        return len(ids) if not ids & gone else -1

    flow: list[asyncio.Task[None]] = []
    try:
        await asyncio.to_thread(wait_for, lambda: pubsub_clients() == subscribed, 10, "every gateway subscribed")
        for p in peers:
            await p.open()
        for p in receivers:
            p.keep_connected()
        progress = asyncio.Condition()

        async def send_all(s: Sender) -> None:
            for i in range(per_room):
                await s.post(f"{s.room} message {i}", cid=f"ps-{i}")
                async with progress:
                    progress.notify_all()
                await asyncio.sleep(0.003)  # pace: the flow spans all the kills

        flow += [asyncio.create_task(send_all(s)) for s in senders]
        killed: list[int] = []
        for k in range(1, rounds + 1):
            target = k * per_room // (rounds + 1)
            async with progress:
                await asyncio.wait_for(
                    progress.wait_for(lambda t=target: all(len(s.acked) >= t for s in senders)),
                    30 * TIMEOUT_SCALE,
                )
            await asyncio.to_thread(wait_for, lambda: pubsub_clients() == subscribed, 10, "every gateway resubscribed")
            gone.update(c["id"] for c in await asyncio.to_thread(admin.client_list, _type="pubsub"))
            killed.append(await asyncio.to_thread(admin.client_kill_filter, _type="pubsub"))
        await asyncio.wait_for(asyncio.gather(*flow), 60 * TIMEOUT_SCALE)
        assert killed == [subscribed] * rounds, f"CLIENT KILL TYPE pubsub killed {killed}"
        acked = _check_acks(senders)
        for p in peers:
            await p.wait_messages(p.rooms[0], per_room, 20)
        for p in peers:
            _check_received(p, p.rooms[0], acked[p.rooms[0]])
        assert not [p.name for p in peers if p.close_codes], "members were disconnected"
    finally:
        admin.close()
        await _stop_all(peers, flow)
