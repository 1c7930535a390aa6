"""One connection of a ``RedisPipe`` (``redis_pipe.py``): the replies read off it handed to
the waiting callers in order, the deadlines of what was written, and the connection's
opening, which counts only once Redis has answered.

Why the opening waits for an answer: a TCP connection that was accepted says nothing about
Redis. A proxy in front of a Redis that is down, a Redis at ``maxclients`` (``-ERR max number
of clients reached``, then closed) or in protected mode (``-DENIED``, then closed) all accept
and then drop the connection. Counted as open, each such connection reset the pipe's backoff
and the next call connected again at once (a storm of connects, each post a new one), and
the refusal came back as the first caller's reply. So the opening sends PING, or AUTH and
SELECT when the address has them, and the connection is open only once every reply is in
and none is an error; anything else is a failed attempt to connect (``ConnectionError``).
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, cast

import hiredis

from presence.redis_address import Address


class Waiter:
    """A caller's place in line: ``n`` consecutive replies, then its future is resolved
    (with the reply itself when ``n`` is 1, with the list of them otherwise)."""

    __slots__ = ("fut", "n", "replies")

    def __init__(self, fut: asyncio.Future[Any], n: int) -> None:
        self.fut = fut
        self.n = n
        self.replies: list[Any] | None = [] if n > 1 else None


class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: collections.deque[Waiter] = collections.deque()
        # (replies expected by then, the loop time by which they must be in), oldest first;
        # one timer, for the oldest deadline not yet met (``expect``).
        self.deadlines: collections.deque[tuple[int, float]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self.sent = 0  # commands written
        self.received = 0  # replies read
        self.transport: asyncio.Transport | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; same interface.
        self.transport = cast(asyncio.Transport, transport)
        # Kept for the writes: asyncio.get_running_loop() makes a system call (getpid) on
        # every use in CPython 3.11, and a post asked for it twice.
        self.loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        waiting = self.waiting
        try:
            while (reply := reader.gets()) is not False:
                if not waiting:
                    self.fail(ConnectionError(f"redis sent a reply nobody asked for ({reply!r:.80})"))
                    return
                self.received += 1
                waiter = waiting[0]
                replies = waiter.replies
                if replies is None:
                    waiting.popleft()
                    if not waiter.fut.done():  # a caller that was cancelled still had its place
                        waiter.fut.set_result(reply)
                    continue
                replies.append(reply)
                if len(replies) == waiter.n:
                    waiting.popleft()
                    if not waiter.fut.done():
                        waiter.fut.set_result(replies)
        except hiredis.ProtocolError as exc:
            self.fail(ConnectionError(f"unreadable reply from redis: {exc}"))
            return
        deadlines = self.deadlines
        while deadlines and deadlines[0][0] <= self.received:
            deadlines.popleft()

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(ConnectionError(f"redis connection lost ({exc or 'closed'})"))

    def expect(self, upto: int, timeout_s: float) -> None:
        """The first ``upto`` replies must be in within ``timeout_s``, or the connection fails
        with ``TimeoutError``. Deadlines are met in the order they are set, so one timer, for
        the oldest unmet one, watches them all: a write costs an append, not a timer of its
        own to start and cancel (one per post)."""
        loop = self.loop
        assert loop is not None
        at = loop.time() + timeout_s
        self.deadlines.append((upto, at))
        if self._timer is None:
            self._timer = loop.call_at(at, self._check)

    def _check(self) -> None:
        self._timer = None
        deadlines = self.deadlines
        while deadlines and deadlines[0][0] <= self.received:
            deadlines.popleft()
        if not deadlines or self.lost:
            return
        assert self.loop is not None
        at = deadlines[0][1]
        # Within a millisecond counts as due: uvloop's timers have millisecond steps, and a
        # timer for ``at`` may run a float step before it; waiting for the clock's next tick
        # would spin through call_soon until then.
        if at - 1e-3 <= self.loop.time():
            self.fail(TimeoutError("redis did not answer in time"))
        else:  # the oldest unmet deadline is a later write's: watch that one
            self._timer = self.loop.call_at(at, self._check)

    def fail(self, exc: Exception) -> None:
        self.lost = True
        waiting, self.waiting = self.waiting, collections.deque()
        for waiter in waiting:
            fail(waiter, exc)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.deadlines.clear()
        if self.transport is not None:
            self.transport.close()


def fail(waiter: Waiter, exc: Exception) -> None:
    if not waiter.fut.done():
        waiter.fut.set_exception(exc)
        waiter.fut.exception()  # retrieved here: a cancelled caller must not warn


async def open_connection(address: Address) -> Connection:
    """A connection to ``address`` that Redis has answered: its AUTH and SELECT, or a PING.
    Raises ``ConnectionError`` (lost or refused before the answer), ``TimeoutError``, ``OSError``."""
    _, conn = await address.connect(Connection)
    conn = cast(Connection, conn)
    try:
        hello = address.hello() or [("PING",)]
        # Redis may have written its refusal and closed before we got here; then nothing
        # written now would ever be answered.
        if conn.lost or conn.transport is None:
            raise ConnectionError("redis connection lost before it answered")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        conn.waiting.append(Waiter(fut, len(hello)))
        conn.transport.write(b"".join(hiredis.pack_command(c) for c in hello))
        async with asyncio.timeout(address.timeout_s):
            replies = await fut  # ConnectionError if the connection is lost first
        for command, reply in zip(hello, replies if len(hello) > 1 else [replies], strict=True):
            if type(reply) is hiredis.ReplyError:
                raise ConnectionError(f"redis refused {command[0]}: {reply}")
        # The hello's replies were counted as received: count them as sent too, or every
        # later write's deadline would be met that many replies early and its last callers
        # would wait for ever on a Redis that stopped answering.
        conn.sent += len(hello)
    except BaseException:
        conn.fail(ConnectionError("redis connection set-up failed"))
        raise
    return conn
