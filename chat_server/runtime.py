"""Everything a running server holds, built by the app's lifespan and closed with it.

Nothing here is created at import time: ``Runtime.open(resources)`` builds, on the engine and
the Redis client of ``open_resources`` (resources.py), the broker, presence and the hub, and
``close()`` takes them down in reverse order (the resources themselves close with their
``async with``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.accounts.handshakes import HandshakeReads
from chat_server.accounts.wiring import Accounts, open_accounts
from chat_server.aio import finish
from chat_server.broker.base import Broker
from chat_server.broker.memory import MemoryBroker
from chat_server.broker.redis_broker import RedisBroker
from chat_server.callers import Callers, MemberContexts
from chat_server.config import Settings
from chat_server.conversations.gates import is_conversation_room
from chat_server.conversations.wiring import ConversationsWiring, open_conversations
from chat_server.directory import Directory
from chat_server.events.wiring import Sessions, open_sessions
from chat_server.follow_up import FollowUp
from chat_server.gateway.connection import CLOSE_RESTART
from chat_server.gateway.hub import Hub
from chat_server.gateway.limits import HubLimits
from chat_server.gateway.rooms import RoomService
from chat_server.history import RoomHistory
from chat_server.moderation.desk import StaffDesk
from chat_server.moderation.duty import DutyRoster
from chat_server.moderation.enforce import Enforcer
from chat_server.moderation.facts import FactsCache
from chat_server.moderation.safety import SafetyDesk, org_rooms
from chat_server.moderation.service import Moderation
from chat_server.moderation.stores import (
    DutyStore,
    MemoryDuty,
    MemorySlots,
    RedisDuty,
    RedisSlots,
    SlowModeSlots,
)
from chat_server.private_talk.wiring import TalksWiring, open_talks
from chat_server.questions.wiring import QuestionsWiring, open_questions
from chat_server.readers import StoredReads, utcnow
from chat_server.readiness import Readiness
from chat_server.resources import Resources
from chat_server.security import token_digest
from chat_server.social.inbox import Inbox
from chat_server.social.wiring import SocialWiring, open_social
from chat_server.transcripts.embedded import EmbeddedWriter
from chat_server.transcripts.redis_writer import RedisWriter
from persistence import transcripts
from persistence.handshake import Handshake, handshakes
from persistence.hot_reads import HotReads
from presence.memory import MemoryPresence
from presence.redis_store import RedisPresence
from presence.store import PresenceStore
from rooms.model import Member
from rooms.safety import CrisisMatcher

log = logging.getLogger(__name__)


async def lean_handshakes(hot: HotReads, digests: list[str]) -> dict[str, Handshake]:
    """Live sessions' members and moderation contexts, by token digest, in one read on the
    join path's pool (persistence/hot_reads.py, the lean path of persistence.handshake); the
    gateway batches concurrent handshakes through it (chat_server/accounts/handshakes.py)."""
    now = utcnow()
    return await hot.run(lambda conn: handshakes(conn, digests, now))


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    redis: Redis | None
    broker: Broker
    presence: PresenceStore
    hub: Hub
    secret: str
    accounts: Accounts  # registering, signing in and out, passwords (chat_server/accounts)
    directory: Directory  # the communities a member may see
    readiness: Readiness  # what /readyz reports
    callers: Callers  # who an HTTP request comes from
    contexts: MemberContexts  # a member's staff assignments, per request
    history: RoomHistory  # transcripts as a member may read them
    inbox: Inbox  # notifications and unread counts
    staff_desk: StaffDesk  # staff's reads and resolutions, members' blocks
    facts: FactsCache
    roster: DutyRoster
    enforcer: Enforcer
    moderation: Moderation
    rooms: RoomService
    safety: SafetyDesk
    writer: RedisWriter | None = None
    embedded_writer: EmbeddedWriter | None = None
    sessions: Sessions | None = None  # scheduled sessions (chat_server/events)
    questions: QuestionsWiring | None = None  # questions to experts (chat_server/questions)
    social: SocialWiring | None = None  # notifications (chat_server/social)
    conversations: ConversationsWiring | None = None  # private messages (chat_server/conversations)
    talks: TalksWiring | None = None  # private talks with a navigator (chat_server/private_talk)
    # The checks after each post (crisis alerts, notifications) still running: they outlive
    # the sender's connection, and shutdown waits a little for them.
    after_posts: set[asyncio.Task[None]] = field(default_factory=set)
    # The handshakes' session lookups, read together when they arrive together.
    handshake_reads: HandshakeReads | None = None
    # The join path's reads (handshakes, room facts, stored heads) on their own unpinged pool.
    hot: HotReads | None = None

    @classmethod
    async def open(cls, resources: Resources) -> Runtime:
        settings, engine, db = resources.settings, resources.engine, resources.db
        secret, redis = resources.secret, resources.redis
        broker: Broker
        presence: PresenceStore
        slots: SlowModeSlots
        duty_store: DutyStore
        embedded_writer: EmbeddedWriter | None = None
        if redis is not None:
            broker = RedisBroker(redis, settings.gateway_id, settings.replay_window, settings.subscription_check_s)
            presence = RedisPresence(redis, settings.gateway_id, settings.presence_ttl_s)
            slots, duty_store = RedisSlots(redis), RedisDuty(redis)
        else:
            embedded_writer = EmbeddedWriter(db, settings.writer_batch, settings.writer_queue_max)
            embedded_writer.start()
            memory = MemoryBroker(settings.replay_window, embedded_writer)
            async with db() as session:
                memory.restore(await transcripts.heads(session), await transcripts.recent_cids(session, 20_000))
            broker = memory
            presence = MemoryPresence(settings.gateway_id, settings.presence_ttl_s)
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
            presence_list_max=settings.presence_list_max,
            fan_out_turn=settings.fan_out_turn,
        )
        roster = DutyRoster(duty_store, settings.gateway_id, settings.presence_ttl_s)
        moderation = Moderation(db, broker)
        hot = HotReads(engine, plain_local=settings.postgres_plain_local)
        reads = StoredReads(db, moderation.pinned_view, hot)
        facts = FactsCache(reads.room_facts, ttl_s=settings.moderation_cache_s)
        enforcer = Enforcer(facts, slots)

        async def on_duty_for(room: str, author_id: str, org_id: int | None = None) -> bool:
            if is_conversation_room(room):
                # Nobody moderates a private conversation: its crisis matches and reports go
                # to the staff of one organization (the author's, the reporter's).
                return roster.covers(org_rooms(org_id), excluding=author_id)
            found = await facts.facts(room)
            return found is not None and roster.covers(found.community, excluding=author_id)

        safety = SafetyDesk(db, broker, CrisisMatcher.load(), on_duty_for)
        social = open_social(settings, db, broker, redis)

        after_posts: set[asyncio.Task[None]] = set()

        after_post = FollowUp(
            safety, social.notifier,
            # Late: the conversations are built on the hub, which is built on this.
            lambda author, room, message_id, seq, fresh: conversations.service.after_post(
                author, room, message_id, seq, fresh),
            after_posts)

        hub = Hub(broker, presence, limits, reads.live_sessions, reads.history, reads.thread_of,
                  reads.head, facts, roster, enforcer, after_post)
        await hub.start()
        sessions = open_sessions(settings, db, broker, hub)
        conversations = open_conversations(db, broker, hub, social)
        rooms = RoomService(hub, facts, enforcer, moderation, sessions.gates, conversations.gates)
        writer: RedisWriter | None = None
        if redis is not None and settings.run_writer:
            writer = RedisWriter(redis, db, settings.writer_batch, settings.writer_claim_idle_s,
                                 gather_s=settings.writer_gather_s)
            writer.start()
        questions = open_questions(settings, engine, db, broker, hub, redis, safety)
        # Taking a request opens the navigator's conversation with the member (conversations').
        talks = open_talks(settings, db, broker, hub, redis, facts, enforcer, social.delivery,
                           conversations.service.open_staff_talk)

        async def read_handshakes(digests: list[str]) -> dict[str, Handshake]:
            return await lean_handshakes(hot, digests)

        handshake_reads = HandshakeReads(read_handshakes)

        async def member_for_token(token: str) -> Member | None:
            found = await handshake_reads.lookup(token_digest(token))
            return None if found is None else found.member

        accounts = open_accounts(settings, db, secret, redis, broker, hub.close_session, member_for_token)
        readiness = Readiness(engine, redis, broker, lambda: hub.draining)
        inbox = Inbox(db, social.notifier, conversations.service.readable,
                      conversations.service.readable_rooms, broker.heads)
        contexts = MemberContexts(db)
        staff_desk = StaffDesk(db, contexts.assigned, facts, roster, moderation,
                               conversations.service.blocks_changed, social.notifier.tell_read)
        callers = Callers(member_for_token, frozenset(settings.allowed_origins))
        return cls(settings, engine, db, redis, broker, presence, hub, secret, accounts,
                   Directory(db), readiness, callers, contexts,
                   RoomHistory(db, conversations.service, settings.history_gap_wait_s if redis is not None else 0.0), inbox, staff_desk, facts, roster, enforcer, moderation,
                   rooms, safety, writer, embedded_writer, sessions, questions, social, conversations,
                   talks, after_posts, handshake_reads, hot)

    async def close(self) -> None:
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        # First, while everything they use is still open.
        steps.append(("checks after posts", lambda: finish(self.after_posts, 5.0)))
        if self.talks is not None:
            steps.append(("private talks", self.talks.close))
        if self.conversations is not None:  # before social: it tells members through it
            steps.append(("conversations", self.conversations.close))
        if self.social is not None:
            steps.append(("social", self.social.close))
        if self.questions is not None:
            steps.append(("questions", self.questions.aclose))
        if self.sessions is not None:
            steps.append(("sessions", self.sessions.close))
        if self.writer is not None:
            steps.append(("writer", self.writer.stop))
        steps += [("moderation", self.moderation.stop), ("hub", self.hub.stop)]
        if self.handshake_reads is not None:
            steps.append(("handshake reads", self.handshake_reads.close))
        if self.hot is not None:
            steps.append(("join path's reads", self.hot.close))
        if self.embedded_writer is not None:
            steps.append(("embedded writer", self.embedded_writer.stop))  # after the hub: nothing is posted any more
        for name, step in steps:
            # Timed so that a shutdown that overruns its grace says which part held it.
            started = time.monotonic()
            await step()
            took = time.monotonic() - started
            if took > 1.0:
                log.warning("shutdown: %s took %.1f s", name, took)

    async def handshake(self, digest: str) -> Handshake | None:
        """A WebSocket's member and moderation context, by its session token's digest, on the
        lean path (persistence.handshake), read together with the other handshakes under way."""
        if self.handshake_reads is None:
            if self.hot is None:
                self.hot = HotReads(self.engine, plain_local=self.settings.postgres_plain_local)
            return (await lean_handshakes(self.hot, [digest])).get(digest)
        return await self.handshake_reads.lookup(digest)

    async def member_for_token(self, token: str) -> Member | None:
        """The member of a live session (HTTP requests): the handshake's lean lookup."""
        found = await self.handshake(token_digest(token))
        return None if found is None else found.member

    async def drain(self) -> None:
        """Graceful shutdown: every client gets what it is owed, then close code 1012."""
        self.hub.draining = True
        self.hub.settle_all()  # frames still going out in turns, before the last flush
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
