"""Frames for one member on every gateway where the member has a connection.

Embedded (``MemoryDelivery``): the process holds every connection; a frame is pushed to the
member's connections at once. Redis (``RedisDelivery``): one pub/sub channel per member
(``keys.Channels.user``); a gateway subscribes to it with the member's first connection on it
and drops it with their last, so a frame published once reaches each of the member's
connections exactly once, wherever they are. Frames are encoded once per wire format.

The channels are read by the gateway's own pub/sub reader (``broker/subscriber.py``, as the
rooms' are, on a connection of their own). Pub/sub may drop a frame while a gateway
reconnects to Redis; what it carried is also in the database (the notification, the unread
counts), which a client reads on (re)connecting.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Protocol

import msgpack
from redis.asyncio import Redis

from chat_server import keys
from chat_server.aio import stop_task
from chat_server.broker.subscriber import Subscriber
from chat_server.gateway.connection import Connection
from chat_server.protocol.base import ServerFrame, Wire, encode_for, pack
from presence.redis_address import Address

log = logging.getLogger(__name__)


class Delivery(Protocol):
    async def connected(self, conn: Connection) -> None: ...

    async def disconnected(self, conn: Connection) -> None: ...

    async def send(self, user_id: str, frame: ServerFrame | Wire) -> None:
        """``frame`` to every open connection of the member ``user_id`` (public id)."""
        ...

    async def close(self) -> None: ...


class _Local:
    """The member's connections on this process."""

    def __init__(self) -> None:
        self.by_user: dict[str, set[Connection]] = {}

    def add(self, conn: Connection) -> bool:
        """True when this is the member's first connection here."""
        conns = self.by_user.setdefault(conn.member.id, set())
        conns.add(conn)
        return len(conns) == 1

    def remove(self, conn: Connection) -> bool:
        """True when that was the member's last connection here."""
        conns = self.by_user.get(conn.member.id)
        if conns is None:
            return False
        conns.discard(conn)
        if conns:
            return False
        del self.by_user[conn.member.id]
        return True

    def push(self, user_id: str, frame: ServerFrame | Wire) -> None:
        encoded: dict[str, bytes | str] = {}
        for conn in self.by_user.get(user_id, ()):
            data = encoded.get(conn.protocol)
            if data is None:
                data = encoded[conn.protocol] = encode_for(conn.protocol, frame)
            conn.push(data)


class MemoryDelivery:
    def __init__(self) -> None:
        self._local = _Local()

    async def connected(self, conn: Connection) -> None:
        self._local.add(conn)

    async def disconnected(self, conn: Connection) -> None:
        self._local.remove(conn)

    async def send(self, user_id: str, frame: ServerFrame | Wire) -> None:
        self._local.push(user_id, frame)

    async def close(self) -> None:
        return None


class RedisDelivery:
    """The members' channels on this gateway's own pub/sub reader (broker/subscriber.py):
    a subscription is noted at once and sent when connected (a member never waits for
    Redis), every wanted channel is subscribed again after a reconnection, and each frame is
    handed over from ``data_received`` with no task or queue per frame."""

    def __init__(self, redis: Redis, check_s: float = 1.0) -> None:
        self._redis = redis
        self._channels = keys.Channels.of(redis)
        self._prefix_len = len(self._channels.user_prefix)
        self._local = _Local()
        self._subscriber = Subscriber(Address.of(redis), self._dispatch, _ignore, _nothing)
        # A channel of this gateway's own ("-" begins no member's id): it keeps the connection
        # a pub/sub client (Redis's idle ``timeout`` does not close those) while no member is
        # connected here, and carries the heartbeat that tells a live connection from one
        # whose peer vanished without a reset (a failover, a NAT's timeout): such a connection
        # is silent, not closed, and every member here would miss their frames until restart.
        self.own_channel = self._channels.user_prefix + b"-" + os.urandom(6).hex().encode()
        self._subscriber.subscribe(self.own_channel)
        self._listener = asyncio.create_task(self._subscriber.run(), name="user-channel-listener")
        self._watchdog = asyncio.create_task(
            self._subscriber.keep_alive(self.own_channel, redis.publish, check_s),
            name="user-channel-watchdog",
        )

    async def connected(self, conn: Connection) -> None:
        if self._local.add(conn):
            self._subscriber.subscribe(self._channels.user(conn.member.id))

    async def disconnected(self, conn: Connection) -> None:
        if self._local.remove(conn):
            self._subscriber.unsubscribe(self._channels.user(conn.member.id))

    async def send(self, user_id: str, frame: ServerFrame | Wire) -> None:
        await self._redis.publish(self._channels.user(user_id), pack(frame))

    async def close(self) -> None:
        await stop_task(self._watchdog)
        await stop_task(self._listener)

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        if channel == self.own_channel:
            self._subscriber.heard()
            return
        user_id = channel[self._prefix_len:].decode()
        try:
            frame = msgpack.unpackb(data)
        except Exception:
            log.warning("user channels: undecodable frame dropped")
            return
        if isinstance(frame, dict):
            self._local.push(user_id, frame)


def _ignore(_channel: bytes) -> None:
    return None


def _nothing() -> None:
    return None
