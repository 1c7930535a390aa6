"""What the fault-injection modules share (test_faults_*.py): their own redis-server and
PostgreSQL, a three-gateway deployment kept whole between tests, and peers that send and
receive counting every message (a client that stops reading is in backlog.py).

Every test counts every message: each receiver must end with seqs 1..N of its (fresh) room,
exactly once and in order, carrying the ids the senders were acknowledged with. Senders retry
the same cid until acknowledged, the way a real client does; receivers that lose their socket
reconnect and resume with ``join {since}``. Nothing waits on a bare sleep: waits are bounded by
deadlines (a sleep only paces a sender or a reconnect loop, or is the length of an outage).

These tests own their processes: a dedicated redis-server and PostgreSQL per module and their
own deployments, because they kill things. The fixtures are registered in tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from chat_server.client import Refused
from support.client import MSGPACK, Client
from support.cluster import Deployment, Member
from support.gateways import start_together
from support.procs import TIMEOUT_SCALE, Postgres, RedisServer

Frame = dict[str, Any]

CLOSE_RESTART = 1012
CLOSE_SLOW = 1013
SHUTDOWN_GRACE_S = 6.0  # KINDRED_SHUTDOWN_GRACE_S in support.cluster.TEST_ENV
ACK_TIMEOUT_S = 3.0  # then the sender retries the same cid
RECONNECT_PACE_S = 0.1
RETRY_PACE_S = 0.05
REPLAY_WINDOW_SLOW = 5000



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
    start_together([gw for gw in _three_gateways.gateways if not gw.running])
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
    """join (``since``: resume) through the client's RoomSocket, retrying while the server
    answers ``unavailable``; any other refusal fails."""
    while True:
        start = len(client.frames)
        try:
            await client.socket.join(room, since, timeout_s=_left(deadline) * TIMEOUT_SCALE)
        except Refused as refused:
            if refused.code != "unavailable" or time.monotonic() > deadline:
                raise AssertionError(f"join {room} refused: {refused.frame}") from None
            await asyncio.sleep(RETRY_PACE_S)
            continue
        except TimeoutError:
            raise AssertionError(f"timed out waiting for joined {room}") from None
        # The joined frame itself, as logged (RoomSocket answers with a summary of it).
        return next(f for f in client.frames[start:] if f.get("type") == "joined" and f.get("room") == room)


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
        """RoomSocket.send retries the cid on one connection (``unavailable``, no ack in
        time); this resends it on a new connection when the socket closes, until ``timeout_s``."""
        deadline = _deadline(timeout_s)
        self.sent_cids.append(cid)

        def retried(cid: str, why: str) -> None:
            (self.loud if why == "unavailable" else self.timeouts).add(cid)

        while True:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {cid} never acknowledged")
            client = self.client
            if client.close_code is not None:
                self.retried_after_close.add(cid)
                await self.reconnect()
                continue
            try:
                # Attempts without count: the deadline bounds them (then the check above fails).
                ack = await asyncio.wait_for(client.socket.send(
                    self.room, body, cid=cid, attempts=1_000_000,
                    ack_timeout_s=ACK_TIMEOUT_S * TIMEOUT_SCALE,
                    retry_pace_s=RETRY_PACE_S, on_retry=retried,
                ), _left(deadline) * TIMEOUT_SCALE)
            except (ConnectionError, websockets.ConnectionClosed):
                await client.wait_closed(5)  # lets the reader record the close
                continue  # reconnect above, then the same cid again
            except TimeoutError:
                continue
            except Refused as refused:
                raise AssertionError(f"{self.name}: {cid} refused: {refused.frame}") from None
            self.acked[cid] = ack.frame
            return ack.frame

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
