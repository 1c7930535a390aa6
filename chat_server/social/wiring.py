"""Putting the social parts together for one gateway process (Runtime.open): notifications,
reactions, friends, following, the feed and profiles."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server import keys
from chat_server.broker.base import Broker
from chat_server.config import Settings
from chat_server.limits import FailureCounter, MemoryFailures, RedisFailures, RequestLimit
from chat_server.social.delivery import Delivery, MemoryDelivery, RedisDelivery
from chat_server.social.digest import DigestSender
from chat_server.social.feed import Feed
from chat_server.social.following import Following
from chat_server.social.friends import Friends
from chat_server.social.notifier import Notifier
from chat_server.social.people import People
from chat_server.social.reactions import Reactions


@dataclass
class SocialWiring:
    delivery: Delivery
    notifier: Notifier
    digest: DigestSender
    reactions: Reactions
    friends: Friends
    following: Following
    feed: Feed
    people: People
    dm_requests: RequestLimit


    async def close(self) -> None:
        await self.digest.stop()
        await self.delivery.close()


def open_social(
    settings: Settings, db: async_sessionmaker[AsyncSession], broker: Broker, redis: Redis | None,
) -> SocialWiring:
    delivery: Delivery = MemoryDelivery() if redis is None else RedisDelivery(redis, settings.subscription_check_s)
    digest = DigestSender(settings, db)
    digest.start()
    notifier = Notifier(db, delivery, broker)
    # New friend requests per member, counted across every gateway (as key-phrase failures are).
    requests: FailureCounter = (
        MemoryFailures(settings.friend_request_window_s) if redis is None
        else RedisFailures(redis, keys.FRIEND_REQUESTS, settings.friend_request_window_s)
    )
    friends = Friends(db, notifier, requests, settings.friend_request_rate, settings.friend_request_window_s)
    # New private-message requests per member, the same way (conversations take it from here).
    window = settings.conversation_request_window_s
    dm_requests = RequestLimit(
        MemoryFailures(window) if redis is None else RedisFailures(redis, keys.DM_REQUESTS, window),
        settings.conversation_request_rate, window,
        "you have asked many people to talk privately just now; please wait a while before asking more")
    return SocialWiring(delivery, notifier, digest, Reactions(db, broker, notifier), friends,
                        Following(db), Feed(db), People(db), dm_requests)
