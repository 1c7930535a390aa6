"""Where and how to reach Redis, taken from a redis-py client: TCP, TLS or a unix socket, with
AUTH and SELECT. Shared by the connections we run ourselves: the pipes (``redis_pipe.py``) and
the pub/sub readers (``chat_server/broker/subscriber.py``).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import SSLConnection


@dataclass(frozen=True, slots=True)
class Address:
    """Where and how to connect: the same server, credentials and database as a client."""

    host: str = "localhost"
    port: int = 6379
    path: str | None = None  # a unix socket instead of host and port
    ssl: ssl.SSLContext | None = None
    username: str | None = None
    password: str | None = None
    db: int = 0
    connect_timeout_s: float = 2.0
    timeout_s: float = 5.0  # for a reply (redis-py's socket_timeout)

    @classmethod
    def of(cls, redis: Redis) -> Address:
        """The address ``redis`` (a ``redis.asyncio.Redis``) connects to, from its pool."""
        pool = redis.connection_pool
        kwargs: dict[str, Any] = dict(pool.connection_kwargs)
        context = None
        if issubclass(pool.connection_class, SSLConnection):
            # Built by redis-py from the URL's ssl_* options, so TLS is verified the same way.
            context = pool.connection_class(**kwargs).ssl_context.get()
        return cls(
            str(kwargs.get("host", "localhost")), int(kwargs.get("port", 6379)), kwargs.get("path"),
            context, kwargs.get("username"), kwargs.get("password"), int(kwargs.get("db") or 0),
            float(kwargs.get("socket_connect_timeout") or 2.0),
            float(kwargs.get("socket_timeout") or 5.0),
        )

    def hello(self) -> list[tuple[Any, ...]]:
        """The commands that open a connection (their replies must all be OK)."""
        commands: list[tuple[Any, ...]] = []
        if self.password is not None:
            commands.append(("AUTH", self.username, self.password) if self.username else ("AUTH", self.password))
        if self.db:
            commands.append(("SELECT", self.db))
        return commands

    async def connect(self, factory: Any) -> Any:
        """``(transport, protocol)`` of a new connection, within ``connect_timeout_s``."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout_s):
            if self.path is not None:
                return await loop.create_unix_connection(factory, self.path)
            return await loop.create_connection(factory, self.host, self.port, ssl=self.ssl)
