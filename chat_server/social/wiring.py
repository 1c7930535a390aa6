"""Putting the notifications' parts together for one gateway process (Runtime.open)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.broker.base import Broker
from chat_server.config import Settings
from chat_server.social.delivery import Delivery, MemoryDelivery, RedisDelivery
from chat_server.social.digest import DigestSender
from chat_server.social.notifier import Notifier
from chat_server.social.reactions import Reactions


@dataclass
class SocialWiring:
    delivery: Delivery
    notifier: Notifier
    digest: DigestSender
    reactions: Reactions

    async def close(self) -> None:
        await self.digest.stop()
        await self.delivery.close()


def open_social(
    settings: Settings, db: async_sessionmaker[AsyncSession], broker: Broker, redis: Redis | None,
) -> SocialWiring:
    delivery: Delivery = MemoryDelivery() if redis is None else RedisDelivery(redis)
    digest = DigestSender(settings, db)
    digest.start()
    notifier = Notifier(db, delivery, broker)
    return SocialWiring(delivery, notifier, digest, Reactions(db, broker, notifier))
