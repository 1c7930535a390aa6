"""The in-process tier: a real Hub on the in-memory broker and presence, the embedded writer
on a real (migrated) SQLite file, a fake clock, and socketless connections whose frames are
read straight from their outbox. No subprocess, no socket: seconds, not minutes. Given a
Redis URL, the hub's broker is the Redis mode's (``RedisBroker``) on that server instead (the
messages are then in Redis only: no writer stores them); given a socket's direct writer, a
connection writes to it (``support/uvicorn_app.py``).

Frames go through the room service the endpoint dispatches to (``RoomService``), so a join
takes the same steps as on a socket: facts, the join refusal, ``room_state``, ``Hub.join``,
the re-check for a kick that raced the join.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgpack
from redis.asyncio import Redis

from chat_server import wire
from chat_server.broker.base import Broker
from chat_server.broker.memory import MemoryBroker
from chat_server.broker.redis_broker import RedisBroker
from chat_server.gateway.connection import Connection
from chat_server.gateway.direct import DirectWebSocketProtocol
from chat_server.gateway.fanout import DEFAULT_TURN
from chat_server.gateway.hub import Hub
from chat_server.gateway.limits import HubLimits
from chat_server.gateway.rooms import RoomService
from chat_server.moderation.duty import DutyRoster
from chat_server.moderation.enforce import Enforcer
from chat_server.moderation.facts import FactsCache, RoomFacts
from chat_server.moderation.service import Moderation
from chat_server.moderation.stores import MemoryDuty, MemorySlots
from chat_server.readers import StoredReads
from chat_server.transcripts.embedded import EmbeddedWriter
from persistence import accounts
from persistence.db import make_engine, session_factory
from persistence.hot_reads import HotReads
from presence.memory import MemoryPresence
from rooms.model import Community, Member
from rooms.moderation import Restriction
from support.sqlite_db import migrated_sqlite

ROOM = "t-lounge"
WAIT_S = 5.0  # the bound on every wait for a frame: frames arrive in milliseconds


class Clock:
    """Wall-clock seconds that move only when told."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _no_pin(session: Any, room: str, message_id: str) -> dict[str, Any] | None:
    return None


class InProc:
    def __init__(self, tmp_path: Path, *, window: int = 1000, log_window: int | None = None,
                 max_resume: int = 5000, outbox: int = 256, redis_url: str | None = None,
                 fan_out_turn: int = DEFAULT_TURN) -> None:
        """``log_window``: frames the broker's recent log keeps per room (``window``, the
        hub's replay read size, unless given)."""
        self.redis_url = redis_url
        self.path = tmp_path / "kindred.db"
        self.url = f"sqlite+aiosqlite:///{self.path}"
        self.window, self.max_resume, self.outbox = window, max_resume, outbox
        self.fan_out_turn = fan_out_turn
        self.log_window = window if log_window is None else log_window
        self.clock = Clock()
        self.restrictions: dict[str, list[Restriction]] = {}  # on record for ROOM
        # A reply's stored thread look-up (the database's, when the broker does not know the
        # message): a test may put its own here, to act while the sender awaits it.
        self.stored_thread_of: Callable[[str, str], Awaitable[str | None]] | None = None
        self._ids = itertools.count(1)

    async def start(self) -> None:
        await asyncio.to_thread(migrated_sqlite, self.path)
        self.engine = make_engine(self.url)
        self.db = session_factory(self.engine)
        async with self.db() as session:
            org = await accounts.add_org(session, "Tier Org", "t", "digest", [], datetime.now(UTC))
            self.org_id = org.id
        self.writer = EmbeddedWriter(self.db, max_batch=100)
        self.writer.start()
        self.broker: Broker = MemoryBroker(self.log_window, self.writer)
        if self.redis_url is not None:
            self.redis = Redis.from_url(self.redis_url)
            self.broker = RedisBroker(self.redis, "gw", self.log_window, check_interval_s=60.0)
        self.presence = MemoryPresence("gw", ttl_s=30)
        self.hot = HotReads(self.engine)  # SQLite: the engine itself
        reads = self._reads = StoredReads(self.db, _no_pin, self.hot)
        self.facts = FactsCache(self._room_facts, ttl_s=60)
        self.enforcer = Enforcer(self.facts, MemorySlots(), self.clock)
        roster = DutyRoster(MemoryDuty(), "gw", 30, self.clock)
        limits = HubLimits(
            send_rate_per_s=100.0, send_burst=1000, max_body_chars=4000,
            max_rooms_per_connection=10, replay_window=self.window, max_resume=self.max_resume,
            typing_interval_s=3.0, heartbeat_interval_s=60.0, check_interval_s=60.0,
            presence_batch_s=0.0, presence_linger_s=0.0, fan_out_turn=self.fan_out_turn,
        )
        self.hub = Hub(self.broker, self.presence, limits, reads.live_sessions, reads.history,
                       self._thread_of, reads.head, self.facts, roster, self.enforcer,
                       None, self.clock)
        await self.hub.start()
        self.rooms = RoomService(self.hub, self.facts, self.enforcer,
                                 Moderation(self.db, self.broker))

    async def __aenter__(self) -> InProc:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        await self.hub.stop()  # (closes the broker)
        if self.redis_url is not None:
            await self.redis.aclose()
        await self.writer.stop()
        await self.engine.dispose()

    async def _thread_of(self, room: str, message_id: str) -> str | None:
        if self.stored_thread_of is not None:
            return await self.stored_thread_of(room, message_id)
        return await self._reads.thread_of(room, message_id)

    async def _room_facts(self, room: str) -> RoomFacts | None:
        if room != ROOM:
            return None
        return RoomFacts(Community(ROOM, "Lounge", "local", "", self.org_id),
                         restrictions={u: list(r) for u, r in self.restrictions.items()})

    async def member(self, handle: str) -> Member:
        async with self.db() as session:
            user = await accounts.create_user(session, self.org_id, handle, handle.lower(),
                                              f"{handle.lower()}@example.org", "x",
                                              datetime.now(UTC))
        return accounts.to_member(user)

    def connect(self, member: Member, protocol: str = wire.MSGPACK, *,
                direct: DirectWebSocketProtocol | None = None,
                kind: type[Connection] = Connection) -> Connection:
        conn = kind(f"c{next(self._ids)}", member, "digest", protocol, self.outbox, direct)
        self.hub.attach(conn)
        return conn

    async def join(self, conn: Connection, since: int | None = None,
                   between: Callable[[], None] | None = None) -> None:
        """The room service's join; ``between`` runs once the join was allowed, just before
        the hub takes the connection in (where a kick can cross it)."""
        if between is None:
            await self.rooms.join(conn, ROOM, since)
            return
        hub_join = self.hub.join

        async def join_after(*args: Any, **kwargs: Any) -> None:
            between()
            await hub_join(*args, **kwargs)

        self.hub.join = join_after  # type: ignore[method-assign]
        try:
            await self.rooms.join(conn, ROOM, since)
        finally:
            del self.hub.join

    async def send(self, conn: Connection, body: str, cid: str) -> None:
        await self.rooms.send(conn, ROOM, body, cid, None, False)


def decode(data: bytes | str) -> dict[str, Any]:
    frame = msgpack.unpackb(data, raw=False) if isinstance(data, bytes) else json.loads(data)
    assert isinstance(frame, dict)
    return frame


async def frames_until(
    conn: Connection, done: Callable[[list[dict[str, Any]]], bool], timeout_s: float = WAIT_S
) -> list[dict[str, Any]]:
    """Frames written to ``conn`` (as a writer task would take them) until ``done(frames)``;
    fails after ``timeout_s``."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout_s):
        while not done(got):
            batch = await conn.next_frames()
            if batch is None:
                break
            got.extend(decode(d) for d in batch)
    return got


def of_type(frames: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [f for f in frames if f.get("type") == kind]


def count_of(kind: str, n: int) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda frames: len(of_type(frames, kind)) >= n


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout_s: float = WAIT_S) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            result = check()
            if result if isinstance(result, bool) else await result:
                return
            await asyncio.sleep(0.01)
