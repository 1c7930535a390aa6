"""Everything a running server holds, built by the app's lifespan and closed with it.

Nothing here is created at import time: ``Runtime.open(settings)`` builds the engine, the Redis
client, the broker, presence and the hub, and ``close()`` takes them down in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.broker.base import Broker
from chat_server.broker.memory import MemoryBroker
from chat_server.broker.redis_broker import RedisBroker
from chat_server.config import Settings
from chat_server.events.wiring import Sessions, open_sessions
from chat_server.gateway.connection import CLOSE_RESTART
from chat_server.gateway.hub import Hub, HubLimits
from chat_server.limits import FailureCounter, MemoryFailures, RedisFailures
from chat_server.moderation.duty import DutyRoster
from chat_server.moderation.guard import Guard, RoomFacts
from chat_server.moderation.safety import SafetyDesk
from chat_server.moderation.service import Moderation
from chat_server.moderation.stores import (
    DutyStore,
    MemoryDuty,
    MemorySlots,
    RedisDuty,
    RedisSlots,
    SlowModeSlots,
)
from chat_server.questions.wiring import QuestionsWiring, open_questions
from chat_server.security import Passwords, new_secret, token_digest
from chat_server.transcripts.embedded import EmbeddedWriter
from chat_server.transcripts.redis_writer import RedisWriter
from chat_server.wire import message_frame
from persistence import accounts, communities, transcripts
from persistence import moderation as moderation_store
from persistence.db import make_engine, session_factory
from persistence.handshake import Handshake, handshake
from presence.memory import MemoryPresence
from presence.redis_store import RedisPresence
from presence.store import PresenceStore
from rooms.model import Member
from rooms.roles import Role
from rooms.safety import CrisisMatcher

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    redis: Redis | None
    broker: Broker
    presence: PresenceStore
    hub: Hub
    passwords: Passwords
    secret: str
    key_failures: FailureCounter
    login_failures: FailureCounter
    registrations: FailureCounter
    guard: Guard
    moderation: Moderation
    safety: SafetyDesk
    writer: RedisWriter | None = None
    sessions: Sessions | None = None  # scheduled sessions (chat_server/events)
    questions: QuestionsWiring | None = None  # questions to experts (chat_server/questions)

    @classmethod
    async def open(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.effective_database_url)
        db = session_factory(engine)
        async with db() as session:
            secret = settings.secret_key or await accounts.server_secret(session, new_secret())
        redis: Redis | None = None
        broker: Broker
        presence: PresenceStore
        key_failures: FailureCounter
        login_failures: FailureCounter
        registrations: FailureCounter
        slots: SlowModeSlots
        duty_store: DutyStore
        if settings.redis_url:
            # A blocking pool: when every connection is busy (a reconnect storm: hundreds of
            # joins at once), a command waits for one instead of failing "too many
            # connections", which a join would report as "unavailable".
            pool = BlockingConnectionPool.from_url(
                settings.redis_url, max_connections=settings.redis_max_connections, timeout=5,
                socket_connect_timeout=2, socket_timeout=5, health_check_interval=10,
            )
            redis = Redis(connection_pool=pool)
            broker = RedisBroker(redis, settings.gateway_id, settings.replay_window, settings.subscription_check_s)
            presence = RedisPresence(redis, settings.gateway_id, settings.presence_ttl_s)
            key_failures = RedisFailures(redis, "kindred:fail:key", settings.key_phrase_window_s)
            login_failures = RedisFailures(redis, "kindred:fail:login", settings.key_phrase_window_s)
            registrations = RedisFailures(redis, "kindred:register", settings.register_window_s)
            slots, duty_store = RedisSlots(redis), RedisDuty(redis)
        else:
            memory = MemoryBroker(settings.replay_window, EmbeddedWriter(db, settings.writer_batch))
            async with db() as session:
                memory.restore(await transcripts.heads(session), await transcripts.recent_cids(session, 20_000))
            broker = memory
            presence = MemoryPresence(settings.gateway_id, settings.presence_ttl_s)
            key_failures = MemoryFailures(settings.key_phrase_window_s)
            login_failures = MemoryFailures(settings.key_phrase_window_s)
            registrations = MemoryFailures(settings.register_window_s)
            slots, duty_store = MemorySlots(), MemoryDuty()
        limits = HubLimits(
            send_rate_per_s=settings.send_rate_per_s,
            send_burst=settings.send_burst,
            max_body_chars=settings.max_body_chars,
            max_rooms_per_connection=settings.max_rooms_per_connection,
            replay_window=settings.replay_window,
            max_resume=settings.max_resume,
            typing_interval_s=settings.typing_interval_s,
            heartbeat_interval_s=settings.heartbeat_interval_s,
            check_interval_s=settings.subscription_check_s,
            presence_batch_s=settings.presence_batch_s,
            presence_linger_s=settings.presence_linger_s,
        )
        db_sessions = db

        async def live_sessions(digests: list[str]) -> set[str]:
            async with db_sessions() as session:
                return await accounts.live_sessions(session, digests, utcnow())

        async def history(room: str, after: int, upto: int) -> list[tuple[int, bytes]]:
            async with db_sessions() as session:
                rows = await transcripts.seq_range(session, room, after, upto)
            return [
                (m.seq, message_frame(m.room, m.id, m.seq, m.author, m.body, m.reply_to,
                                      m.created_ms, m.thread_root))
                for m in rows
            ]

        async def stored_thread_of(room: str, message_id: str) -> str | None:
            async with db_sessions() as session:
                return await transcripts.thread_of(session, room, message_id)

        async def stored_head(room: str) -> int:
            async with db_sessions() as session:
                return await transcripts.room_head(session, room)

        async def room_facts(room: str) -> RoomFacts | None:
            async with db_sessions() as session:
                community = await communities.by_slug(session, room)
                if community is None:
                    return None
                state = await moderation_store.room_state(session, room)
                found = await moderation_store.active_restrictions(session, [room], int(time.time() * 1000))
                pinned = None
                if state.pinned_id is not None:
                    pinned = await moderation.pinned_view(session, room, state.pinned_id)
            return RoomFacts(community, state.slow_mode_s, state.locked, pinned,
                             {user: found[(r, user)] for r, user in found})

        roster = DutyRoster(duty_store, settings.gateway_id, settings.presence_ttl_s)
        guard = Guard(room_facts, slots, roster, ttl_s=settings.moderation_cache_s)
        moderation = Moderation(db, broker, guard)
        async def on_duty_for(room: str, author_id: str) -> bool:
            facts = await guard.facts(room)
            return facts is not None and roster.covers(facts.community, excluding=author_id)

        safety = SafetyDesk(db, broker, CrisisMatcher.load(), on_duty_for)
        hub = Hub(broker, presence, limits, live_sessions, history, stored_thread_of, stored_head,
                  guard, safety.after_post)
        await hub.start()
        guard.start(settings.heartbeat_interval_s)
        writer: RedisWriter | None = None
        if redis is not None and settings.run_writer:
            writer = RedisWriter(redis, db, settings.writer_batch, settings.writer_claim_idle_s)
            writer.start()
        passwords = Passwords(settings.argon2_time_cost, settings.argon2_memory_kib)
        sessions = open_sessions(settings, db, broker, hub)
        questions = open_questions(settings, db, broker, hub, redis, safety)
        return cls(settings, engine, db, redis, broker, presence, hub, passwords, secret,
                   key_failures, login_failures, registrations, guard, moderation, safety, writer, sessions,
                   questions)

    async def close(self) -> None:
        if self.questions is not None:
            self.questions.close()
        if self.sessions is not None:
            await self.sessions.close()
        if self.writer is not None:
            await self.writer.stop()
        await self.moderation.stop()
        await self.guard.stop()
        await self.hub.stop()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()

    async def member_context(self, member: Member) -> tuple[frozenset[str], frozenset[str]]:
        """(national rooms the member is assigned to as staff, public ids they blocked)."""
        async with self.db() as session:
            assigned = frozenset[str]()
            if member.role.rank >= Role.NAVIGATOR.rank:
                assigned = await moderation_store.assignments(session, member.db_id)
            hidden = frozenset(m.id for m in await moderation_store.blocked_by(session, member.db_id))
        return assigned, hidden

    async def handshake(self, token: str) -> Handshake | None:
        """A WebSocket's member and moderation context, on the lean path (persistence.handshake)."""
        async with self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                # Reads only: no BEGIN and ROLLBACK around them (two round trips). On SQLite
                # switching the isolation level costs more hops to its thread than it saves.
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            return await handshake(conn, token_digest(token), utcnow())

    async def member_for_token(self, token: str) -> Member | None:
        """The member of a live session (HTTP requests): the handshake's lean lookup."""
        found = await self.handshake(token)
        return None if found is None else found.member

    async def drain(self) -> None:
        """Graceful shutdown: every client gets what it is owed, then close code 1012."""
        self.hub.draining = True
        conns = self.hub.connections()
        for conn in conns:
            conn.close_after_flush(
                CLOSE_RESTART, "server restarting: reconnect and resume", self.settings.shutdown_grace_s
            )
        if conns:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(c.closed.wait() for c in conns)), self.settings.shutdown_grace_s
                )
        log.info("drained %d connections", len(conns))

    async def check_ready(self) -> dict[str, str]:
        status: dict[str, str] = {}
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            status["database"] = "ok"
        except Exception as exc:  # readiness reports any failure, whatever its type
            status["database"] = f"unreachable: {type(exc).__name__}"
        if self.redis is not None:
            try:
                await self.broker.ready()
                status["redis"] = "ok"
            except Exception as exc:
                status["redis"] = f"unreachable: {type(exc).__name__}"
        return status
