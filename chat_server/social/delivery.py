"""Frames for one member on every gateway where the member has a connection.

Embedded (``MemoryDelivery``): the process holds every connection; a frame is pushed to the
member's connections at once. Redis (``RedisDelivery``): one pub/sub channel per member
(``keys.Channels.user``); a gateway subscribes to it with the member's first connection on it
and drops it with their last, so a frame published once reaches each of the member's
connections exactly once, wherever they are. Frames are encoded once per wire format.

Pub/sub may drop a frame while a gateway reconnects to Redis; what it carried is also in the
database (the notification, the unread counts), which a client reads on (re)connecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import msgpack
from redis.asyncio import Redis
from redis.exceptions import RedisError

from chat_server import keys
from chat_server.aio import stop_task
from chat_server.gateway.connection import Connection
from chat_server.protocol.base import ServerFrame, Wire, encode_for, pack

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
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._channels = keys.Channels.of(redis)
        self._local = _Local()
        self._pubsub: Any = None
        self._listener = asyncio.create_task(self._listen(), name="user-channel-listener")

    async def connected(self, conn: Connection) -> None:
        if self._local.add(conn):
            await self._call("subscribe", self._channels.user(conn.member.id))

    async def disconnected(self, conn: Connection) -> None:
        if self._local.remove(conn):
            await self._call("unsubscribe", self._channels.user(conn.member.id))

    async def _call(self, verb: str, channel: bytes) -> None:
        # If the listener is (re)connecting, it subscribes every local member once it is back:
        # a connection never waits for Redis here.
        pubsub = self._pubsub
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await getattr(pubsub, verb)(channel)

    async def send(self, user_id: str, frame: ServerFrame | Wire) -> None:
        await self._redis.publish(self._channels.user(user_id), pack(frame))

    async def close(self) -> None:
        await stop_task(self._listener)

    async def _listen(self) -> None:
        backoff = 0.05
        while True:
            pubsub = self._redis.pubsub()
            try:
                # A channel of our own, so that the connection is subscribed (and reading)
                # even while no member is connected here.
                first = set(self._local.by_user)
                await pubsub.subscribe(
                    self._channels.user_prefix + b"-", *(self._channels.user(u) for u in first)
                )
                self._pubsub = pubsub
                # Members who connected while that subscription was on its way.
                late = set(self._local.by_user) - first
                if late:
                    await pubsub.subscribe(*(self._channels.user(u) for u in late))
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] in (b"message", "message"):
                        self._dispatch(message["channel"], message["data"])
                        backoff = 0.05
            except (RedisError, OSError) as exc:
                log.warning("user channels: redis connection lost (%s); reconnecting", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                self._pubsub = None
                close: Callable[[], Awaitable[None]] = pubsub.aclose
                with contextlib.suppress(Exception):
                    await close()

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        user_id = channel[len(self._channels.user_prefix):].decode()
        try:
            frame = msgpack.unpackb(data)
        except Exception:
            log.warning("user channels: undecodable frame dropped")
            return
        if isinstance(frame, dict):
            self._local.push(user_id, frame)
