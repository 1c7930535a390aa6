"""Fault injection against real processes: Redis SIGKILLed mid-flow, a gateway SIGKILLed or
SIGTERMed with clients on it, pub/sub connections killed under the gateways, a consumer that
stops reading, and a graceful shutdown in embedded mode.

Every test counts every message: each receiver must end with seqs 1..N of its (fresh) room,
exactly once and in order, carrying the ids the senders were acknowledged with. Senders retry
the same cid until acknowledged, the way a real client does; receivers that lose their socket
reconnect and resume with ``join {since}``. Nothing waits on a bare sleep: waits are bounded by
deadlines (a sleep only paces a sender or a reconnect loop, or is the length of an outage).

These tests own their processes: a dedicated redis-server and PostgreSQL for the module and
their own deployments, because they kill things.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import redis as redis_sync
import websockets

from support.client import JSON, MSGPACK, Client
from support.cluster import Deployment, Member
from support.procs import TIMEOUT_SCALE, Gateway, Postgres, RedisServer, wait_for

pytestmark = pytest.mark.slow

CLOSE_RESTART = 1012
CLOSE_SLOW = 1013
SHUTDOWN_GRACE_S = 3.0  # KINDRED_SHUTDOWN_GRACE_S in support.cluster.TEST_ENV
ACK_TIMEOUT_S = 3.0  # then the sender retries the same cid
RECONNECT_PACE_S = 0.1
RETRY_PACE_S = 0.05
REPLAY_WINDOW_SLOW = 5000

Frame = dict[str, Any]


def _deadline(seconds: float) -> float:
    return time.monotonic() + seconds * TIMEOUT_SCALE


def _left(deadline: float) -> float:
    """Seconds left before ``deadline``, unscaled (Client.wait_until scales again)."""
    return max(0.0, (deadline - time.monotonic()) / TIMEOUT_SCALE)


# --------------------------------------------------------------------------- processes


@pytest.fixture(scope="module")
def fault_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    # Our own PostgreSQL: the shared session one is reset by other modules' fixtures.
    with Postgres(tmp_path_factory.mktemp("faults-pg")) as pg:
        yield pg


@pytest.fixture(scope="module")
def fault_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("faults-redis"), appendonly=True) as server:
        yield server


def _redis_env(redis_server: RedisServer, pg: Postgres) -> dict[str, str]:
    return {"KINDRED_REDIS_URL": redis_server.url, "KINDRED_DATABASE_URL": pg.url}


@pytest.fixture(scope="module")
def _three_gateways(
    tmp_path_factory: pytest.TempPathFactory, fault_redis: RedisServer, fault_pg: Postgres
) -> Iterator[Deployment]:
    dep = Deployment.start(
        tmp_path_factory.mktemp("faults-cluster"), count=3, extra_env=_redis_env(fault_redis, fault_pg)
    )
    yield dep
    dep.stop()


@pytest.fixture
def cluster(_three_gateways: Deployment, fault_redis: RedisServer) -> Deployment:
    """Three gateways sharing redis and PostgreSQL, every one of them up: a test that killed
    something earlier does not leave the next one short."""
    if not fault_redis.running:
        fault_redis.restart()
    for gw in _three_gateways.gateways:
        if not gw.running:
            gw.start()
    return _three_gateways


# --------------------------------------------------------------------------- peers


class Peer:
    """One member's presence in some rooms across reconnects.

    Every connection's frames are kept; ``messages(room)`` is what the member was shown, in
    order, over all of them. ``reconnect`` resumes each room with ``join {since}`` = the last
    seq seen, trying ``urls`` in order (a dead or draining gateway refuses: the next is tried).
    """

    def __init__(
        self,
        name: str,
        member: Member,
        urls: list[str],
        rooms: list[str],
        protocol: str = MSGPACK,
        resume: bool = True,
    ) -> None:
        self.name = name
        self.member = member
        self.urls = urls
        self.rooms = rooms
        self.protocol = protocol
        self.resume = resume
        self.clients: list[Client] = []
        self.urls_used: list[str] = []
        self.close_codes: list[int] = []
        self.first_joined: dict[str, Frame] = {}
        self.joins: list[tuple[str, int | None, Frame]] = []  # (room, since, joined)
        self._changed = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None

    @property
    def client(self) -> Client:
        return self.clients[-1]

    def messages(self, room: str) -> list[Frame]:
        return [m for c in self.clients for m in c.messages(room)]

    def frames(self, type_: str) -> list[Frame]:
        return [f for c in self.clients for f in c.frames if f.get("type") == type_]

    def position(self, room: str) -> int:
        got = self.messages(room)
        return int(got[-1]["seq"]) if got else int(self.first_joined[room]["seq"])

    async def open(self, timeout_s: float = 30.0) -> None:
        """Connect (retrying) and join every room; on a reconnect, resume from position."""
        deadline = _deadline(timeout_s)
        while True:
            client = await self._connect(deadline)
            try:
                for room in self.rooms:
                    since = self.position(room) if (self.resume and room in self.first_joined) else None
                    joined = await _join(client, room, since, deadline)
                    self.first_joined.setdefault(room, joined)
                    self.joins.append((room, since, joined))
                self._changed.set()
                return
            except (ConnectionError, websockets.ConnectionClosed):
                # Closed under us while joining (a fault still going on): start over.
                await client.close()
                self.close_codes.append(client.close_code or 1006)
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name}: could not rejoin {self.rooms}") from None
                await asyncio.sleep(RECONNECT_PACE_S)

    async def _connect(self, deadline: float) -> Client:
        errors: list[str] = []
        i = 0
        while True:
            url = self.urls[i % len(self.urls)]
            try:
                client = await Client.connect(url, self.member.token, self.protocol)
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                errors.append(f"{url}: {exc!r}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name} could not connect: {errors[-3:]}") from None
                i += 1
                await asyncio.sleep(RECONNECT_PACE_S)
                continue
            self.clients.append(client)
            self.urls_used.append(url)
            self._changed = asyncio.Event()
            return client

    async def reconnect(self, timeout_s: float = 30.0) -> None:
        old = self.client
        if old.close_code is None:
            await old.close()
        self.close_codes.append(old.close_code or 1006)
        await self.open(timeout_s)

    def keep_connected(self) -> None:
        """Reconnect and resume by itself whenever the socket is closed (until ``stop``)."""

        async def keep() -> None:
            while True:
                await self.client.wait_closed(timeout_s=3600)
                await self.reconnect()

        self._keeper = asyncio.create_task(keep(), name=f"keep-{self.name}")

    async def wait_messages(self, room: str, count: int, timeout_s: float) -> None:
        """Wait until this member was shown at least ``count`` messages of ``room``."""
        deadline = _deadline(timeout_s)
        what = f"{self.name}: {count} messages in {room}"
        while len(self.messages(room)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; got {len(self.messages(room))}")
            client, changed = self.client, self._changed
            try:
                await client.wait_until(lambda f: len(self.messages(room)) >= count, _left(deadline), what)
            except ConnectionError:
                if self._keeper is None:
                    raise
                if self._keeper.done():
                    await self._keeper  # it failed to reconnect: raise why
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), _left(deadline) * TIMEOUT_SCALE)

    async def stop(self) -> None:
        """Close every connection; then raise what made the reconnecting task fail, if it did."""
        keeper = self._keeper
        if keeper is not None and not keeper.done():
            keeper.cancel()
        for c in self.clients:
            await c.close()
        if keeper is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await keeper


async def _join(client: Client, room: str, since: int | None, deadline: float) -> Frame:
    """join, retrying while the server answers ``unavailable``; any other refusal fails."""
    while True:
        start = len(client.frames)
        frame: Frame = {"type": "join", "room": room}
        if since is not None:
            frame["since"] = since
        await client.send(frame)

        def answer(frames: list[Frame], start: int = start) -> Frame | None:
            for f in frames[start:]:
                if f.get("type") == "joined" and f.get("room") == room:
                    return f
                if f.get("type") == "error" and "cid" not in f:
                    return f
            return None

        got: Frame = await client.wait_until(answer, _left(deadline), f"joined {room}")
        if got["type"] == "joined":
            return got
        if got.get("code") != "unavailable" or time.monotonic() > deadline:
            raise AssertionError(f"join {room} refused: {got}")
        await asyncio.sleep(RETRY_PACE_S)


class Sender(Peer):
    """A member posting with unique cids, retrying the SAME cid until it is acknowledged: after
    an ``unavailable`` error, an ack timeout or a closed socket (then on a new connection)."""

    def __init__(self, name: str, member: Member, urls: list[str], room: str, protocol: str = MSGPACK) -> None:
        super().__init__(name, member, urls, [room], protocol)
        self.room = room
        self.acked: dict[str, Frame] = {}  # cid -> the ack that ended its retries
        self.loud: set[str] = set()  # cids refused at least once with ``unavailable``
        self.timeouts: set[str] = set()
        self.retried_after_close: set[str] = set()
        self.sent_cids: list[str] = []

    async def post(self, body: str, cid: str, timeout_s: float = 60.0) -> Frame:
        deadline = _deadline(timeout_s)
        self.sent_cids.append(cid)
        while True:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {cid} never acknowledged")
            client = self.client
            if client.close_code is not None:
                self.retried_after_close.add(cid)
                await self.reconnect()
                continue
            start = len(client.frames)

            def answer(frames: list[Frame], start: int = start) -> Frame | None:
                for f in frames[start:]:
                    if f.get("cid") == cid and f.get("type") in ("ack", "error"):
                        return f
                return None

            try:
                await client.send({"type": "send", "room": self.room, "body": body, "cid": cid})
                result: Frame = await client.wait_until(answer, min(ACK_TIMEOUT_S, _left(deadline)), f"ack {cid}")
            except (ConnectionError, websockets.ConnectionClosed):
                await client.wait_closed(5)  # lets the reader record the close
                continue  # reconnect above, then the same cid again
            except AssertionError:  # no answer in time: the same cid again
                self.timeouts.add(cid)
                continue
            if result["type"] == "ack":
                self.acked[cid] = result
                return result
            if result.get("code") != "unavailable":
                raise AssertionError(f"{self.name}: {cid} refused: {result}")
            self.loud.add(cid)
            await asyncio.sleep(RETRY_PACE_S)

    def all_acks(self) -> list[Frame]:
        """Every ack frame received on any connection, late and duplicate ones included."""
        return self.frames("ack")


def _check_acks(senders: list[Sender]) -> dict[str, dict[int, str]]:
    """Each cid acked with one id and one seq (duplicate acks allowed), seqs gap-free per room
    from 1. Returns room -> {seq: message id}."""
    by_room: dict[str, dict[int, str]] = {}
    for s in senders:
        assert set(s.acked) == set(s.sent_cids), f"{s.name}: some sends were never acked"
        assert len(s.sent_cids) == len(set(s.sent_cids))
        ids: dict[str, set[tuple[str, int]]] = {}
        for ack in s.all_acks():
            ids.setdefault(ack["cid"], set()).add((ack["id"], ack["seq"]))
        torn = {cid: v for cid, v in ids.items() if len(v) != 1}
        assert not torn, f"{s.name}: one cid acked with different ids/seqs: {torn}"
        assert s.loud <= set(s.acked), f"{s.name}: refused sends never acked: {s.loud - set(s.acked)}"
        in_room = by_room.setdefault(s.room, {})
        for cid in s.sent_cids:
            ((message_id, seq),) = ids[cid]
            assert seq not in in_room, f"seq {seq} of {s.room} acked for two different sends"
            in_room[seq] = message_id
    for room, seqs in by_room.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), f"{room}: acked seqs not 1..N"
    return by_room


def _describe(seqs: list[int], expected: list[int]) -> str:
    dup = sorted(s for s, n in Counter(seqs).items() if n > 1)
    missing = sorted(set(expected) - set(seqs))
    disorder = next((i for i in range(1, len(seqs)) if seqs[i] <= seqs[i - 1]), None)
    return (
        f"got {len(seqs)} of {len(expected)}; duplicates {dup[:10]} ({len(dup)}), "
        f"missing {missing[:10]} ({len(missing)}), first out of order at index {disorder}"
    )


def _check_received(peer: Peer, room: str, acked: dict[int, str]) -> None:
    """Exactly the acked messages, each once, in seq order (1..N), with the acked ids."""
    got = peer.messages(room)
    seqs = [int(m["seq"]) for m in got]
    expected = list(range(1, len(acked) + 1))
    assert seqs == expected, f"{peer.name} in {room}: {_describe(seqs, expected)}"
    assert [m["id"] for m in got] == [acked[s] for s in expected], f"{peer.name}: ids differ from acks"
    assert not [g for g in peer.frames("gap") if g.get("room") == room], f"{peer.name}: gap frames"


async def _stop_all(peers: list[Peer], tasks: list[asyncio.Task[Any]] | None = None) -> None:
    """Cancel the test's background tasks and close every peer, even if some fail; then raise
    the first failure (a peer that could not reconnect)."""
    for t in tasks or []:
        t.cancel()
    for t in tasks or []:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t
    errors: list[BaseException] = []
    for p in peers:
        try:
            await p.stop()
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]


def _registered(dep: Deployment, org: tuple[str, str], n: int) -> list[Member]:
    return [dep.register(org=org) for _ in range(n)]


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

    def pubsub_clients() -> int:
        return len(admin.client_list(_type="pubsub"))

    flow: list[asyncio.Task[None]] = []
    try:
        await asyncio.to_thread(wait_for, lambda: pubsub_clients() == 3, 10, "3 gateways subscribed")
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
            await asyncio.to_thread(wait_for, lambda: pubsub_clients() == 3, 10, "3 gateways resubscribed")
            killed.append(await asyncio.to_thread(admin.client_kill_filter, _type="pubsub"))
        await asyncio.wait_for(asyncio.gather(*flow), 60 * TIMEOUT_SCALE)
        assert killed == [3] * rounds, f"CLIENT KILL TYPE pubsub killed {killed}"
        acked = _check_acks(senders)
        for p in peers:
            await p.wait_messages(p.rooms[0], per_room, 20)
        for p in peers:
            _check_received(p, p.rooms[0], acked[p.rooms[0]])
        assert not [p.name for p in peers if p.close_codes], "members were disconnected"
    finally:
        admin.close()
        await _stop_all(peers, flow)


# --------------------------------------------------------------------------- 4. slow consumer


@pytest.fixture
def small_outbox(
    tmp_path: Path, _three_gateways: Deployment, fault_redis: RedisServer
) -> Iterator[Deployment]:
    """Two more gateways on the same redis and database (already migrated and seeded), with
    64-frame outboxes; stopped after the test, so other tests see only the three. The replay
    window is raised because the kernel alone buffers ~930 of these 3 KB frames (the server's
    send buffer autotunes to 4 MiB on loopback) before the outbox even starts to fill, and the
    resumed client must find everything it missed still in the stream."""
    if not fault_redis.running:
        fault_redis.restart()
    env = {
        **_three_gateways.env,
        "KINDRED_OUTBOX_MAX_FRAMES": "64",
        "KINDRED_REPLAY_WINDOW": str(REPLAY_WINDOW_SLOW),
    }
    dep = Deployment(_three_gateways.workdir, env)
    try:
        for i in range(2):
            gw = Gateway(env, tmp_path, name=f"outbox64-gw{i}")
            dep.gateways.append(gw)
            gw.start()
        yield dep
    finally:
        dep.stop()


async def _stalled_client(gw: Gateway, token: str) -> websockets.ClientConnection:
    """A raw client with a 4 KiB receive buffer and a one-frame queue: once it stops reading,
    the server's writes back up as soon as the kernel's buffers are full."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", gw.port))
    return await websockets.connect(
        gw.ws_url,
        sock=sock,
        additional_headers={"Authorization": f"Bearer {token}"},
        subprotocols=[MSGPACK],  # type: ignore[list-item]
        compression=None,
        max_queue=1,
        max_size=2**22,
        open_timeout=10 * TIMEOUT_SCALE,
    )


class Backlogged:
    """A member whose client joined a room and then stopped reading: what the server sends it
    piles up in the kernel's socket buffers, then in the server's outbox for the connection."""

    def __init__(self, ws: websockets.ClientConnection, room: str, joined: Frame) -> None:
        self.ws = ws
        self.room = room
        self.joined = joined

    @classmethod
    async def join(cls, gw: Gateway, member: Member, room: str) -> Backlogged:
        ws = await _stalled_client(gw, member.token)
        await ws.send(msgpack.packb({"type": "join", "room": room}))
        joined = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5 * TIMEOUT_SCALE), raw=False)
        assert joined["type"] == "joined", joined
        return cls(ws, room, joined)

    async def read_to_close(self, timeout_s: float = 15) -> tuple[list[Frame], int, str]:
        """Read on, up to the close: (its message frames, the close code, the reason)."""
        got: list[Frame] = []
        async with asyncio.timeout(timeout_s * TIMEOUT_SCALE):
            with contextlib.suppress(websockets.ConnectionClosed):
                async for data in self.ws:
                    frame = msgpack.unpackb(data, raw=False)
                    if frame.get("type") == "message" and frame.get("room") == self.room:
                        got.append(frame)
        rcvd = self.ws.protocol.close_rcvd
        return got, (rcvd.code if rcvd is not None else 1006), (rcvd.reason if rcvd is not None else "")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()


BIG = "x" * 2990  # with the counter in front: 3,000-character bodies


async def _post_backlog(sender: Sender, n: int) -> None:
    """n 3,000-character messages, each acked before the next: ~3 MB, more than the kernel
    buffers of a stalled connection hold (~930 of them), so the rest waits in its outbox."""
    for i in range(n):
        await sender.post(f"{i:05d} {BIG}", cid=f"{sender.name}-big-{i}")


async def _slow_consumer(dep: Deployment, stall_after_drop_s: float) -> int:
    """A member on gateway 1 stops reading while a member on gateway 0 posts 3,000-character
    messages as fast as they are acked, until the members on both gateways (one beside the
    slow one) see the slow member leave, i.e. the server dropped its connection. The slow
    client then stays stalled ``stall_after_drop_s`` more, reads what its socket holds up to
    the close, reconnects and resumes with join {since}. Everything is counted; returns the
    close code the slow client read."""
    name, phrase, (room, _, _) = dep.new_org()
    m = _registered(dep, (name, phrase), 3)
    urls = [gw.ws_url for gw in dep.gateways]
    sender = Sender("sender-gw0", m[0], [urls[0]], room)
    beside = Peer("fast-gw1", m[1], [urls[1]], [room], JSON)
    peers: list[Peer] = [sender, beside]
    slow_id = m[2].id
    max_messages, after = 4000, 20
    stalled = await Backlogged.join(dep.gateways[1], m[2], room)
    try:
        assert stalled.joined["seq"] == 0, stalled.joined
        for p in peers:
            await p.open()
        for p in peers:
            await p.client.wait_until(lambda f, p=p: slow_id in p.client.present_ids(room), 10, "slow present")

        def dropped(p: Peer) -> bool:
            return any(m["id"] == slow_id for f in p.frames("presence") for m in f["left"])

        # From here on the slow client reads nothing.
        t0 = time.monotonic()
        posted = 0
        while not (dropped(beside) or dropped(sender)):  # read again as soon as one sees it
            assert posted < max_messages, f"slow client still connected after {posted} messages"
            assert time.monotonic() - t0 < 30 * TIMEOUT_SCALE, "slow client not dropped in 30 s"
            await sender.post(f"{posted:05d} {BIG}", cid=f"big-{posted}")
            posted += 1
        t_dropped = time.monotonic() - t0
        if stall_after_drop_s:
            await asyncio.sleep(stall_after_drop_s)  # the client stays stalled: the fault itself

        # Read what the stalled socket holds, up to the server's close frame.
        slow_seen, close_code, _ = await stalled.read_to_close()
        t_closed = time.monotonic() - t0
        for p in peers:  # both saw the slow member leave (once)
            await p.client.wait_until(lambda f, p=p: dropped(p), 5, "slow member left")
            assert sum(m["id"] == slow_id for f in p.frames("presence") for m in f["left"]) == 1
        for i in range(after):
            await sender.post(f"after {i}", cid=f"after-{i}")
        total = posted + after
        assert total < REPLAY_WINDOW_SLOW, "stay inside the replay window"

        acked = _check_acks([sender])[room]
        k = len(slow_seen)
        assert [f["seq"] for f in slow_seen] == list(range(1, k + 1))
        assert k < posted, "the slow client cannot have been shown everything"
        slow = Peer("slow-resumed", m[2], [urls[1]], [room])
        slow.first_joined[room] = {"seq": k}
        peers.append(slow)
        await slow.open()
        ((_, since, resumed),) = slow.joins
        assert since == k and resumed["seq"] == total, resumed
        await slow.wait_messages(room, total - k, 20)
        got = slow.messages(room)
        assert [f["seq"] for f in got] == list(range(k + 1, total + 1)), _describe(
            [f["seq"] for f in got], list(range(k + 1, total + 1))
        )
        assert [f["id"] for f in got] == [acked[s] for s in range(k + 1, total + 1)]
        for p in (sender, beside):
            await p.wait_messages(room, total, 20)
            _check_received(p, room, acked)
            assert not p.close_codes and p.client.close_code is None, f"{p.name} was disconnected"
        print(
            f"\nslow consumer (stalled {stall_after_drop_s}s more): dropped after {posted} "
            f"messages / {t_dropped:.1f}s, close {close_code} read at {t_closed:.1f}s, "
            f"it had been shown {k}"
        )
        return close_code
    finally:
        await stalled.close()
        await _stop_all(peers)


@pytest.mark.redis
@pytest.mark.postgres
async def test_slow_consumer_is_closed_1013_and_resumes_without_loss(small_outbox: Deployment) -> None:
    """A member stops reading while 3,000-character messages pour in: the server closes that
    connection with 1013 once its 64-frame outbox is full, rather than buffering without
    bound or holding up the room. Members on both gateways, one beside the slow one, get every
    message; the slow member reconnects with join {since} and gets everything it missed."""
    assert await _slow_consumer(small_outbox, stall_after_drop_s=0) == CLOSE_SLOW


@pytest.mark.redis
@pytest.mark.postgres
async def test_consumer_stalled_past_the_drop_still_reads_1013(small_outbox: Deployment) -> None:
    """The same, but the slow client stays stalled 6 s after the server dropped it before it
    reads again (a phone whose app was in the background): it must still find 1013 after the
    frames its socket holds. Everything else (counts, resume) is checked before that."""
    assert await _slow_consumer(small_outbox, stall_after_drop_s=6.0) == CLOSE_SLOW


# --------------------------------------------------------------------------- 5. gateway SIGTERM

BACKLOG = 1200  # big messages before the SIGTERM, so that a stalled member has an outbox


@pytest.mark.redis
@pytest.mark.postgres
async def test_gateway_sigterm_flushes_then_1012_and_clients_resume_elsewhere(cluster: Deployment) -> None:
    """SIGTERM to a gateway with members and a sender on it, mid-flow (senders on it and on
    another gateway keep posting): each of its clients is shown every message acked before the
    signal, then closed with 1012 -- including one that had stopped reading and has a backlog
    queued for it, which reads again once the signal is sent; the process exits 0 within the
    shutdown grace plus a few seconds; its members resume on another gateway with join
    {since}, the sender retries its unacknowledged cid there, and in the end everyone has every
    message once, in order."""
    name, phrase, (room, _, _) = cluster.new_org()
    urls = [gw.ws_url for gw in cluster.gateways]
    m = _registered(cluster, (name, phrase), 7)
    survivor = Sender("sender-gw0", m[0], [urls[0]], room)
    doomed = Sender("sender-gw2", m[1], [urls[2], urls[1]], room, JSON)
    senders = [survivor, doomed]
    members_gw2: list[Peer] = [
        Peer("member-gw2-a", m[2], [urls[2], urls[0]], [room]),
        Peer("member-gw2-b", m[3], [urls[2], urls[1]], [room], JSON),
    ]
    on_victim: list[Peer] = [*members_gw2, doomed]
    elsewhere = [Peer("member-gw0", m[4], [urls[0]], [room]), Peer("member-gw1", m[5], [urls[1]], [room], JSON)]
    peers: list[Peer] = [survivor, doomed, *members_gw2, *elsewhere]
    stop = asyncio.Event()
    progress = asyncio.Condition()
    flows: list[asyncio.Task[None]] = []
    tasks: list[asyncio.Task[Any]] = []

    async def flow(s: Sender) -> None:
        i = 0
        while not stop.is_set():
            await s.post(f"{s.name} {i}", cid=f"{s.name}-{i}")
            i += 1
            async with progress:
                progress.notify_all()
            await asyncio.sleep(0.005)  # pace

    async def acked_at_least(n: Callable[[Sender], int]) -> None:
        async with progress:
            await asyncio.wait_for(
                progress.wait_for(lambda: all(len(s.acked) >= n(s) for s in senders)), 30 * TIMEOUT_SCALE
            )

    stalled = await Backlogged.join(cluster.gateways[2], m[6], room)
    try:
        for p in peers:
            await p.open()
        for p in [*members_gw2, *elsewhere]:
            p.keep_connected()
        await _post_backlog(survivor, BACKLOG)
        marks = {s.name: len(s.acked) for s in senders}
        flows += [asyncio.create_task(flow(s)) for s in senders]
        tasks += flows
        await acked_at_least(lambda s: marks[s.name] + 20)
        before = max(int(a["seq"]) for s in senders for a in s.all_acks())
        t0 = time.monotonic()
        terminating = asyncio.create_task(asyncio.to_thread(cluster.gateways[2].terminate))
        tasks.append(terminating)
        backlog, backlog_close, reason = await stalled.read_to_close()
        exit_code = await terminating
        t_exit = time.monotonic() - t0
        assert backlog_close == CLOSE_RESTART, f"stalled member: {backlog_close} {reason}"
        k = len(backlog)
        assert [f["seq"] for f in backlog] == list(range(1, k + 1))
        assert k >= before, f"stalled member closed at seq {k}; {before} was acked before SIGTERM"
        for p in on_victim:
            first = p.clients[0]
            code = await first.wait_closed(5)
            assert code == CLOSE_RESTART, f"{p.name}: {code} {first.close_reason}"
            seqs = [int(f["seq"]) for f in first.messages(room)]
            assert seqs == list(range(1, len(seqs) + 1)), f"{p.name}: {_describe(seqs, list(range(1, before + 1)))}"
            assert len(seqs) >= before, f"{p.name} closed at seq {len(seqs)}; {before} was acked before SIGTERM"
        assert exit_code == 0, f"gateway exited with {exit_code}:\n{cluster.gateways[2].log_tail()}"
        assert t_exit <= SHUTDOWN_GRACE_S + 5, f"exit took {t_exit:.1f}s"

        # The stalled member resumes elsewhere; the senders go on a little after the clients
        # came back; then everything is counted.
        resumed = Peer("stalled-resumed", m[6], [urls[0]], [room])
        resumed.first_joined[room] = {"seq": k}
        peers.append(resumed)
        await resumed.open()
        marks = {s.name: len(s.acked) for s in senders}
        await acked_at_least(lambda s: marks[s.name] + 20)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*flows), 20 * TIMEOUT_SCALE)
        acked = _check_acks(senders)[room]
        for p in peers[:-1]:
            await p.wait_messages(room, len(acked), 20)
            _check_received(p, room, acked)
        await resumed.wait_messages(room, len(acked) - k, 20)
        assert [int(f["seq"]) for f in resumed.messages(room)] == list(range(k + 1, len(acked) + 1))
        assert resumed.joins[0][1] == k
        for p in on_victim:
            assert p.urls_used[0] == urls[2] and urls[2] not in p.urls_used[1:], p.urls_used
            last = int(p.clients[0].messages(room)[-1]["seq"])
            assert [since for _, since, _ in p.joins[1:]] == [last], f"{p.name} resumed with {p.joins[1:]}"
        print(
            f"\nSIGTERM: exit 0 after {t_exit:.2f}s; {before} acked before it, {len(acked)} in all; "
            f"the stalled member read {k} then 1012; the sender on the gateway retried after the "
            f"close: {sorted(doomed.retried_after_close)}"
        )
    finally:
        await stalled.close()
        await _stop_all(peers, tasks)


# --------------------------------------------------------------------------- 6. embedded SIGTERM


@pytest.fixture
def embedded_alone(tmp_path: Path) -> Iterator[Deployment]:
    dep = Deployment.start(tmp_path, count=1)
    yield dep
    dep.stop()


async def test_embedded_sigterm_flushes_then_1012(embedded_alone: Deployment) -> None:
    """Embedded mode (one process, no Redis): SIGTERM mid-flow closes every client with 1012
    after it was shown every message acked before the signal -- in fact every message whose
    ack went out at all -- including a member that had stopped reading with a backlog queued
    for it; the process exits 0 in time."""
    dep = embedded_alone
    gw = dep.gateways[0]
    name, phrase, (room, _, _) = dep.new_org()
    m = _registered(dep, (name, phrase), 4)
    sender = Sender("sender", m[0], [gw.ws_url], room)
    members = [Peer("member-a", m[1], [gw.ws_url], [room]), Peer("member-b", m[2], [gw.ws_url], [room], JSON)]
    peers: list[Peer] = [sender, *members]
    tasks: list[asyncio.Task[Any]] = []
    stalled = await Backlogged.join(gw, m[3], room)
    try:
        for p in peers:
            await p.open()
        await _post_backlog(sender, BACKLOG)
        enough = asyncio.Event()

        async def flow() -> None:
            # Unlike Sender.post, no retry: there is nowhere to go once the process is gone.
            i = 0
            with contextlib.suppress(ConnectionError, websockets.ConnectionClosed):
                while True:
                    client = sender.client
                    cid = f"emb-{i}"
                    start = len(client.frames)
                    await client.send({"type": "send", "room": room, "body": f"emb {i}", "cid": cid})
                    await client.wait_until(
                        lambda f, s=start, c=cid: any(x.get("cid") == c for x in f[s:]), ACK_TIMEOUT_S, cid
                    )
                    i += 1
                    if i == 20:
                        enough.set()
                    await asyncio.sleep(0.005)  # pace

        tasks.append(asyncio.create_task(flow()))
        await asyncio.wait_for(enough.wait(), 30 * TIMEOUT_SCALE)
        acks_before = len(sender.all_acks())
        t0 = time.monotonic()
        terminating = asyncio.create_task(asyncio.to_thread(gw.terminate))
        tasks.append(terminating)
        backlog, backlog_close, reason = await stalled.read_to_close()
        exit_code = await terminating
        t_exit = time.monotonic() - t0
        await asyncio.wait_for(tasks[0], 10 * TIMEOUT_SCALE)
        acks = sender.all_acks()
        assert [a["seq"] for a in acks] == list(range(1, len(acks) + 1))
        assert len(acks) >= acks_before >= BACKLOG + 20
        assert backlog_close == CLOSE_RESTART, f"stalled member: {backlog_close} {reason}"
        shown = {"stalled member": backlog}
        for p in [sender, *members]:
            code = await p.client.wait_closed(5)
            assert code == CLOSE_RESTART, f"{p.name}: {code} {p.client.close_reason}"
            shown[p.name] = p.messages(room)
        for who, got in shown.items():
            # Every acked message, in order, once; at most the one being posted as the drain
            # began may follow (fanned out once committed, its ack then refused by the drain).
            seqs = [int(f["seq"]) for f in got]
            expected = [int(a["seq"]) for a in acks]
            assert seqs[: len(acks)] == expected, f"{who}: {_describe(seqs, expected)}"
            assert [f["id"] for f in got[: len(acks)]] == [a["id"] for a in acks], who
            assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) <= len(acks) + 1, who
        assert exit_code == 0, f"exit code {exit_code}:\n{gw.log_tail()}"
        assert t_exit <= SHUTDOWN_GRACE_S + 5, f"exit took {t_exit:.1f}s"
        print(
            f"\nembedded SIGTERM: exit 0 after {t_exit:.2f}s; {acks_before} acked before it, "
            f"{len(acks)} in all; the stalled member read {len(backlog)} then 1012"
        )
    finally:
        await stalled.close()
        await _stop_all(peers, tasks)
