"""One Lua script called on one pipelined Redis connection of its own: the send path's post.

redis-py spends about 165 us of CPU per script call here (argument encoding one by one, the
pool's lock and checkout, a timeout context, retry wrappers, response callbacks); at small
rooms' ten deliveries a message that was a third of the gateway's CPU. This keeps one
connection whose replies come back in the order the calls were written (Redis answers a
connection's commands in order), so a call is: pack the command (hiredis, in C), write it,
await a future that ``data_received`` completes. Calls from many members go out back to
back without waiting for each other: several rooms' scripts share a round trip.

What it keeps of the pool's behaviour: a call fails with ``ConnectionError`` (an ``OSError``)
when the connection is lost or Redis does not answer within ``timeout_s``, and every call in
flight then fails too (their replies can no longer be paired); the next call connects again.
A script that failed may still have run: the caller's retry is deduplicated by its cid, as
with redis-py. ``NOSCRIPT`` (Redis restarted and forgot its scripts) is answered by sending
the script itself once. Only TCP without TLS is done here; ``for_client`` returns None for
anything else and the caller keeps using redis-py.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
from typing import Any, cast

import hiredis
from redis.asyncio import Redis
from redis.exceptions import ResponseError


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; same interface.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            if not self.waiting:
                self.fail(ConnectionError("redis sent a reply nobody asked for"))
                return
            fut = self.waiting.popleft()
            if not fut.done():  # a caller that was cancelled still had its reply in line
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(ConnectionError(f"redis connection lost ({exc or 'closed'})"))

    def fail(self, exc: Exception) -> None:
        self.lost = True
        waiting, self.waiting = self.waiting, collections.deque()
        for fut in waiting:
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # retrieved here: a cancelled caller must not warn
        if self.transport is not None:
            self.transport.close()


class ScriptPipe:
    def __init__(
        self, script: str, host: str, port: int, username: str | None, password: str | None,
        db: int, timeout_s: float = 5.0, connect_timeout_s: float = 2.0,
    ) -> None:
        self._script = script.encode()
        self._sha = hashlib.sha1(self._script).hexdigest().encode()
        self._host, self._port = host, port
        self._hello: list[tuple[Any, ...]] = []
        if password is not None:
            self._hello.append(("AUTH", username, password) if username else ("AUTH", password))
        if db:
            self._hello.append(("SELECT", db))
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    @classmethod
    def for_client(cls, redis: Redis, script: str) -> ScriptPipe | None:
        """A pipe to the server ``redis`` talks to, with its credentials; None when that is
        not plain TCP (a unix socket, TLS), where redis-py stays in charge."""
        pool = redis.connection_pool
        kwargs: dict[str, Any] = dict(pool.connection_kwargs)
        if "path" in kwargs or pool.connection_class.__name__ != "Connection":
            return None
        return cls(
            script, str(kwargs.get("host", "localhost")), int(kwargs.get("port", 6379)),
            kwargs.get("username"), kwargs.get("password"), int(kwargs.get("db") or 0),
            float(kwargs.get("socket_timeout") or 5.0),
            float(kwargs.get("socket_connect_timeout") or 2.0),
        )

    async def __call__(self, keys: list[str | bytes], args: list[bytes | str | int]) -> Any:
        reply = await self._call(("EVALSHA", self._sha, len(keys), *keys, *args))
        if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
            reply = await self._call(("EVAL", self._script, len(keys), *keys, *args))
        if isinstance(reply, hiredis.ReplyError):
            raise ResponseFailed(str(reply))
        return reply

    async def _call(self, command: tuple[Any, ...]) -> Any:
        proto = self._proto
        if proto is None or proto.lost:
            proto = await self._connect()
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        assert proto.transport is not None
        proto.transport.write(hiredis.pack_command(command))
        proto.waiting.append(fut)
        # One timer per call rather than asyncio.timeout (a context, a task lookup, and a
        # reschedule): on expiry the whole connection goes, as its replies are in one line.
        timer = fut.get_loop().call_later(self._timeout_s, _expire, proto, fut)
        try:
            return await fut
        finally:
            timer.cancel()

    async def _connect(self) -> _Protocol:
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if self._connecting is connecting and connecting.done():
                self._connecting = None

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self._connect_timeout_s):
            _, proto = await loop.create_connection(_Protocol, self._host, self._port)
        try:
            for command in self._hello:
                fut: asyncio.Future[Any] = loop.create_future()
                proto.waiting.append(fut)
                assert proto.transport is not None
                proto.transport.write(hiredis.pack_command(command))
                async with asyncio.timeout(self._timeout_s):
                    reply = await fut
                if isinstance(reply, hiredis.ReplyError):
                    raise ConnectionError(f"redis refused {command[0]}: {reply}")
        except BaseException:
            proto.fail(ConnectionError("redis connection set-up failed"))
            raise
        self._proto = proto
        return proto

    def close(self) -> None:
        if self._proto is not None:
            self._proto.fail(ConnectionError("closed"))
            self._proto = None


class ResponseFailed(ResponseError):
    """Redis answered the script with an error (other than NOSCRIPT)."""


def _expire(proto: _Protocol, fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        proto.fail(TimeoutError("redis did not answer in time"))
