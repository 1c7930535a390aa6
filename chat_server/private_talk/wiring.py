"""Putting the private talks' parts together for one gateway process (Runtime.open)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server import keys
from chat_server.broker.base import Broker
from chat_server.config import Settings
from chat_server.gateway.hub import Hub
from chat_server.limits import FailureCounter, MemoryFailures, RedisFailures
from chat_server.moderation.enforce import Enforcer
from chat_server.moderation.facts import FactsCache
from chat_server.private_talk.desk import TalkDesk
from chat_server.private_talk.service import ASK_WINDOW_S, OpenTalk, PrivateTalks
from chat_server.private_talk.store import DatabaseTalks, RedisTalks, TalkStore
from chat_server.protocol.control import TalkQueueChanged
from chat_server.social.delivery import Delivery


@dataclass
class TalksWiring:
    talks: PrivateTalks
    desk: TalkDesk

    async def close(self) -> None:
        await self.desk.stop()
        await self.talks.close()


def open_talks(
    settings: Settings, db: async_sessionmaker[AsyncSession], broker: Broker, hub: Hub,
    redis: Redis | None, facts: FactsCache, enforcer: Enforcer, delivery: Delivery,
    opener: OpenTalk | None,
) -> TalksWiring:
    store: TalkStore
    asks: FailureCounter
    if redis is None:
        # In the database, not the process: a restart must not lose a member's place.
        store = DatabaseTalks(db, settings.private_talk_expire_s)
        asks = MemoryFailures(ASK_WINDOW_S)
    else:
        # Counted where every gateway sees the same number, as the queue itself is.
        store = RedisTalks(redis, settings.private_talk_expire_s)
        asks = RedisFailures(redis, keys.TALKS_ASKED, ASK_WINDOW_S)
    talks = PrivateTalks(db, store, broker, delivery, facts, enforcer, hub.moderating.roster, asks,
                         settings.private_talk_wait_s, settings.private_talk_expire_s, opener)
    desk = TalkDesk(talks, hub.connections)
    hub.control_handlers[TalkQueueChanged] = desk.on_control
    hub.control.on_resubscribed.append(desk.wake)  # a TalkQueueChanged may have been missed
    desk.start()
    return TalksWiring(talks, desk)
