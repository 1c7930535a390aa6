"""Redis commands from many callers on one connection of their own: one write per loop turn.

A reconnect storm or a crowd joining at once issues four or five Redis commands per
connection (the connection count's script, the presence script, the head or the replay, and
on the way out the leave and the count's removal). Through redis-py each of those takes a
pooled connection, its lock and checkout, a timeout context and a write of its own; hundreds
of them in one loop turn were a third of the gateway's CPU. Here a command is packed
(hiredis, in C) and queued, and at the end of the loop turn (``loop.call_soon``) everything
queued goes out in one ``write``. Redis answers a connection's commands in order, so each
caller's reply is the next one in line: ``data_received`` hands each to its caller's future.
A caller may queue a group of commands (a MULTI/EXEC, a heartbeat's hundreds of scripts) and
be woken once, with all of their replies.

What a caller can count on:
- its replies are its own, in the order it queued the commands; a command that Redis
  refused (``-ERR``, ``WRONGTYPE``, a script's error) fails that caller alone, with
  ``ReplyFailed`` (a redis-py ``ResponseError``, so ``except RedisError`` still holds);
- when the connection is lost, or Redis does not answer within ``timeout_s``, every call
  written and not yet answered fails with ``ConnectionError`` or ``TimeoutError`` (both
  ``OSError``s) and the connection is closed: the replies still owed can no longer be
  paired. A command that failed this way may still have run, as with redis-py; the
  callers' writes are idempotent or retried by their own rules;
- commands queued while the connection is being (re)opened go out in one write once it is
  open, or all fail if it cannot be opened; the next call tries again. There is no retry
  here: a call either has its reply or an error, never a second execution;
- after a failed attempt to connect, the next one waits (50 ms, doubling to ``retry_max_s``)
  and the calls made meanwhile wait with it: an outage costs a few attempts a second, not
  one per loop turn, and the first call once Redis is back connects within ``retry_max_s``.
  A connection is open once Redis has answered its first command (a PING, or AUTH and
  SELECT): one accepted and then refused or dropped (``maxclients``, protected mode, a
  proxy in front of a Redis that is down) is a failed attempt, and the calls that waited
  for it fail with ``ConnectionError`` (``redis_conn.py``). A connection that opened and
  was lost later is reopened at once;
- a caller cancelled before its command was written has it dropped, not sent; once written,
  the command runs and its reply is read and discarded (it holds its place in line);
- ``NOSCRIPT`` (Redis restarted and forgot its scripts) is answered by sending the script
  itself, once, for the calls that met it.

The broker's post script (the acknowledged path) runs on a pipe of its own, ``at_once``:
each call written as it is made while the connection is open (redis-py's per-command
machinery was a third of a message's CPU in small rooms; a turn's wait was latency). Where
to connect is an ``Address`` (``redis_address.py``), taken from a redis-py client.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from presence.redis_address import Address
from presence.redis_conn import Connection, Waiter, fail, open_connection

Command = tuple[Any, ...]


class ReplyFailed(ResponseError):
    """Redis answered this caller's command with an error."""


class Script:
    """A Lua script, run by its SHA1 (the source is sent only when Redis lacks it)."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source.encode()
        self.sha = hashlib.sha1(self.source).hexdigest().encode()


class RedisPipe:
    """One connection to ``address``, shared by every caller of one store (module docstring).

    ``writes`` and ``commands`` count what went out, ``connects`` the attempts to connect
    (for tests and the bench)."""

    def __init__(
        self, address: Address, retry_min_s: float = 0.05, retry_max_s: float = 0.5,
        at_once: bool = False,
    ) -> None:
        self._address = address
        # Write each call as it is made while the connection is open, rather than with the
        # rest of the loop turn's: for a caller whose latency counts more than a write per
        # call (the post). The next turn can be a long way off on a busy gateway: its I/O
        # (every frame read, every fan-out) runs first.
        self._at_once = at_once
        self._retry_min_s = retry_min_s
        self._retry_max_s = retry_max_s
        self._retry_s = 0.0  # the wait after the last failed attempt; 0 once one succeeded
        self._retry_at = 0.0  # loop time before which no attempt is made
        self._out: list[bytes] = []
        self._queued: list[Waiter] = []
        self._scheduled = False
        self._proto: Connection | None = None
        # Batches queued while no connection is open, and the task opening one.
        self._held: list[tuple[list[bytes], list[Waiter]]] = []
        self._connecting: asyncio.Task[None] | None = None
        self._closed = False
        self.writes = 0
        self.commands = 0
        self.connects = 0

    @classmethod
    def of(cls, redis: Redis) -> RedisPipe:
        return cls(Address.of(redis))

    # -- what callers use --------------------------------------------------------------

    async def execute(self, *command: Any) -> Any:
        """One command's reply. Raises ``ReplyFailed``, ``OSError``."""
        reply = await self._queue(hiredis.pack_command(command), 1)
        if type(reply) is hiredis.ReplyError:
            raise ReplyFailed(str(reply))
        return reply

    async def execute_many(self, commands: Sequence[Command]) -> list[Any]:
        """The replies of ``commands``, sent back to back. Raises ``ReplyFailed`` for the
        first refused (the others have run: it is a pipeline, not a transaction)."""
        if not commands:
            return []
        replies = await self._group(commands)
        _raise_first(replies)
        return replies

    async def transaction(self, commands: Sequence[Command]) -> list[Any]:
        """``commands`` in MULTI/EXEC: their replies, all applied or none."""
        replies = await self._group([("MULTI",), *commands, ("EXEC",)])
        _raise_first(replies)  # a refused MULTI or queueing error, or EXECABORT
        result = replies[-1]
        if not isinstance(result, list):
            raise ReplyFailed("transaction aborted")
        _raise_first(result)
        return result

    async def run(self, script: Script, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """The script's reply. Raises ``ReplyFailed``, ``OSError``."""
        reply = await self._queue(hiredis.pack_command(("EVALSHA", script.sha, len(keys), *keys, *args)), 1)
        if type(reply) is hiredis.ReplyError and str(reply).startswith("NOSCRIPT"):
            reply = await self._queue(hiredis.pack_command(("EVAL", script.source, len(keys), *keys, *args)), 1)
        if type(reply) is hiredis.ReplyError:
            raise ReplyFailed(str(reply))
        return reply

    async def run_many(self, script: Script, calls: Sequence[tuple[Sequence[Any], Sequence[Any]]]) -> list[Any]:
        """The script run once per ``(keys, args)``, back to back: the replies in order."""
        if not calls:
            return []
        replies = await self._group([("EVALSHA", script.sha, len(k), *k, *a) for k, a in calls])
        again = [i for i, r in enumerate(replies) if type(r) is hiredis.ReplyError and str(r).startswith("NOSCRIPT")]
        if again:
            resent = await self._group([("EVAL", script.source, len(calls[i][0]), *calls[i][0], *calls[i][1]) for i in again])
            for i, reply in zip(again, resent, strict=True):
                replies[i] = reply
        _raise_first(replies)
        return replies

    async def close(self) -> None:
        """Fail what is queued or in flight, close the connection; later calls fail."""
        self._closed = True
        closed = ConnectionError("redis pipe closed")
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.wait([self._connecting])  # it fails what it held, if it had begun
        # A connect task cancelled before its first step never reaches its own clean-up, so
        # what it held is failed here too.
        held, self._held = self._held, []
        for _, queued in held:
            for waiter in queued:
                fail(waiter, closed)
        for waiter in self._queued:
            fail(waiter, closed)
        self._out, self._queued = [], []
        if self._proto is not None:
            self._proto.fail(closed)
            self._proto = None

    # -- the line ----------------------------------------------------------------------

    async def _group(self, commands: Sequence[Command]) -> list[Any]:
        packed = b"".join([hiredis.pack_command(c) for c in commands])
        replies: list[Any] = await self._queue(packed, len(commands))
        if len(commands) == 1:
            return [replies]
        return replies

    def _queue(self, packed: bytes, n: int) -> asyncio.Future[Any]:
        proto = self._proto
        if self._at_once and proto is not None and not proto.lost and not self._closed:
            # The post's way: written now, on the open connection (its loop is the one
            # running: a connection is opened by the loop that uses it).
            assert proto.loop is not None
            fut: asyncio.Future[Any] = proto.loop.create_future()
            proto.waiting.append(Waiter(fut, n))
            self._send(proto, packed, n)
            return fut
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        if self._closed:
            fut.set_exception(ConnectionError("redis pipe closed"))
            return fut
        self._out.append(packed)
        self._queued.append(Waiter(fut, n))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._scheduled = False
        out, queued = self._out, self._queued
        if not queued:
            return
        self._out, self._queued = [], []
        if self._closed:  # queued in the turn close() ran: nothing will carry them
            for waiter in queued:
                fail(waiter, ConnectionError("redis pipe closed"))
            return
        proto = self._proto
        if proto is not None and not proto.lost:
            self._write(proto, out, queued)
            return
        self._held.append((out, queued))
        if self._connecting is None:
            self._connecting = asyncio.create_task(self._reconnect(), name="redis-pipe-connect")

    def _write(self, proto: Connection, out: list[bytes], queued: list[Waiter]) -> None:
        # A caller cancelled (a closing connection, a timeout of its own) before its command
        # went out: nobody is owed that command, so it is not sent. ``out[i]`` is
        # ``queued[i]``'s. Once written, a command keeps its place in ``waiting`` whatever
        # happens to its caller: its reply must still be read, in order.
        if len(queued) == 1:  # the common case, one caller in the turn: no generators
            waiter = queued[0]
            if waiter.fut.done():
                return
            proto.waiting.append(waiter)
            self._send(proto, out[0], waiter.n)
            return
        if any(w.fut.done() for w in queued):
            kept = [i for i, w in enumerate(queued) if not w.fut.done()]
            if not kept:
                return
            out, queued = [out[i] for i in kept], [queued[i] for i in kept]
        n = sum(w.n for w in queued)
        proto.waiting.extend(queued)
        self._send(proto, b"".join(out), n)

    def _send(self, proto: Connection, data: bytes, n: int) -> None:
        """Write ``data`` (``n`` commands, their waiters already in line) and set its deadline."""
        assert proto.transport is not None
        proto.transport.write(data)
        proto.sent += n
        proto.expect(proto.sent, self._address.timeout_s)
        self.writes += 1
        self.commands += n

    async def _reconnect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            wait_s = self._retry_at - loop.time()
            if wait_s > 0:  # the last attempt failed: calls made meanwhile wait for this one
                await asyncio.sleep(wait_s)
            self.connects += 1
            proto = await open_connection(self._address)
        except BaseException as exc:
            if isinstance(exc, Exception):  # not close()'s cancellation
                self._retry_s = min(max(self._retry_s * 2, self._retry_min_s), self._retry_max_s)
                self._retry_at = loop.time() + self._retry_s
            held, self._held = self._held, []
            why = ConnectionError(f"could not connect to redis ({exc or type(exc).__name__})")
            for _, queued in held:
                for waiter in queued:
                    fail(waiter, why)
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            self._connecting = None
        self._retry_s = self._retry_at = 0.0
        held, self._held = self._held, []
        if proto.lost or self._closed:  # gone again already, or closed while opening
            why = ConnectionError("redis pipe closed" if self._closed else "redis connection lost")
            proto.fail(why)
            for _, queued in held:
                for waiter in queued:
                    fail(waiter, why)
            return
        self._proto = proto
        if held:  # everything asked for while connecting, in order, in one write
            self._write(proto, [p for out, _ in held for p in out], [w for _, queued in held for w in queued])


def _raise_first(replies: list[Any]) -> None:
    for reply in replies:
        if type(reply) is hiredis.ReplyError:
            raise ReplyFailed(str(reply))
