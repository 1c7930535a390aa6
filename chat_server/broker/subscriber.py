"""The gateway's pub/sub reader: one Redis connection of its own, parsed by hiredis in place.

redis-py's ``PubSub.get_message`` spent about 12 us of CPU per received message here (a
task wake-up per read, its timeout machinery, a dict per message, response callbacks); every
room message reaches every gateway through it. This reader is an ``asyncio.Protocol``:
``data_received`` feeds the bytes to a hiredis ``Reader`` and calls ``on_message(channel,
data)`` for each message right there, with no queue and no task per message.

Subscriptions are batched: ``subscribe``/``unsubscribe`` only note the channel, and at most
one ``SUBSCRIBE`` and one ``UNSUBSCRIBE`` go out per event-loop turn, carrying every channel
asked for in that turn (a storm of joins to many rooms is one command, not one per room).
Redis confirms each channel of a ``SUBSCRIBE`` separately; every confirmation is passed to
``on_subscribed(channel)``, which is how the broker learns that a room is live again.

``run`` owns the connection: it connects (TCP, TLS or a unix socket, with AUTH and SELECT as
the configured URL says, as redis-py would), subscribes every wanted channel in one command,
and when the connection drops it waits (50 ms doubling to 2 s, back to 50 ms once Redis has
answered) and does it again, calling ``on_connecting`` before each attempt. What the broker
makes of a re-subscription (filling from the stream) is the broker's business. Cancelling
``run`` closes the connection. The broker uses no patterns, so neither does this reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import hiredis
from redis.exceptions import RedisError

from presence.redis_address import Address

log = logging.getLogger(__name__)

OnMessage = Callable[[bytes, bytes], None]  # (channel, data)
OnSubscribed = Callable[[bytes], None]  # a channel whose subscription Redis confirmed


class Subscriber:
    def __init__(
        self, address: Address, on_message: OnMessage, on_subscribed: OnSubscribed,
        on_connecting: Callable[[], None],
    ) -> None:
        self._address = address
        self._on_message = on_message
        self._on_subscribed = on_subscribed
        self._on_connecting = on_connecting
        self._wanted: set[bytes] = set()
        # Asked for in this loop turn and not yet sent (only while connected).
        self._to_subscribe: set[bytes] = set()
        self._to_unsubscribe: set[bytes] = set()
        self._flush_pending = False
        self._proto: _Protocol | None = None
        self._heard = time.monotonic()  # the owner's heartbeat, last seen (``keep_alive``)

    @property
    def channels(self) -> frozenset[bytes]:
        return frozenset(self._wanted)

    def subscribe(self, channel: bytes) -> None:
        """Subscribe (now, or when connected); a channel already wanted is left as it is,
        so a second caller does not cause a second confirmation."""
        if channel in self._wanted:
            return
        self._wanted.add(channel)
        self._to_unsubscribe.discard(channel)
        self._to_subscribe.add(channel)
        self._schedule()

    def unsubscribe(self, channel: bytes) -> None:
        if channel not in self._wanted:
            return
        self._wanted.discard(channel)
        self._to_subscribe.discard(channel)
        self._to_unsubscribe.add(channel)
        self._schedule()

    def heard(self) -> None:
        """The owner's heartbeat channel delivered (a message or its confirmation)."""
        self._heard = time.monotonic()

    async def keep_alive(
        self, channel: bytes, publish: Callable[[bytes, bytes], Awaitable[object]], check_s: float,
    ) -> None:
        """Until cancelled: every ``check_s`` publish a heartbeat on ``channel`` (which the
        owner subscribes, reporting what it receives there with ``heard``); a connection silent
        for three beats, and at least 3 s, is aborted, and ``run`` opens a new one and
        subscribes everything wanted again. Such a connection is silent, not closed: its peer
        went without a reset (a failover, a NAT's timeout), and only the heartbeat tells."""
        while True:
            await asyncio.sleep(check_s)
            with contextlib.suppress(RedisError, OSError):
                await publish(channel, b"hb")
            quiet = time.monotonic() - self._heard
            if quiet > max(3 * check_s, 3.0):
                log.warning("redis pub/sub silent for %.1fs; reconnecting", quiet)
                self._heard = time.monotonic()
                if self._proto is not None:
                    self._proto.abort()

    def _schedule(self) -> None:
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        proto = self._proto
        subscribe, unsubscribe = self._to_subscribe, self._to_unsubscribe
        self._to_subscribe, self._to_unsubscribe = set(), set()
        # Not connected: the next connection subscribes everything wanted at once.
        if proto is None or proto.transport is None or proto.transport.is_closing():
            return
        if unsubscribe:
            proto.transport.write(_pack("UNSUBSCRIBE", unsubscribe))
        if subscribe:
            proto.transport.write(_pack("SUBSCRIBE", subscribe))

    def _connected(self, proto: _Protocol) -> bytes:
        """The opening bytes of a new connection: hello, then every wanted channel at once.
        Written in ``connection_made``, so nothing asked for meanwhile is sent twice."""
        self._proto = proto
        self._to_subscribe.clear()
        self._to_unsubscribe.clear()  # a new connection is subscribed to nothing
        out = b"".join(hiredis.pack_command(c) for c in self._address.hello())
        if self._wanted:
            out += _pack("SUBSCRIBE", self._wanted)
        return out

    async def run(self) -> None:
        """Stay subscribed until cancelled (see the module's docstring)."""
        backoff = 0.05
        while True:
            self._on_connecting()
            try:
                opened = await self._open()
                await opened.closed
                log.warning("redis pub/sub connection lost (%s); reconnecting", opened.why)
            except (OSError, TimeoutError) as exc:
                log.warning("redis pub/sub connection failed (%s); reconnecting", exc or type(exc).__name__)
            finally:
                # self._proto, not ``opened``: a cancellation can land after connection_made
                # and before _open returns, and that connection must not stay subscribed.
                proto, self._proto = self._proto, None
                if proto is not None:
                    proto.abort()
            if proto is not None and proto.answered:
                backoff = 0.05
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        address = self._address

        def factory() -> _Protocol:
            return _Protocol(self, len(address.hello()))

        async with asyncio.timeout(address.connect_timeout_s):
            if address.path is not None:
                _, proto = await loop.create_unix_connection(factory, address.path)
            else:
                _, proto = await loop.create_connection(
                    factory, address.host, address.port, ssl=address.ssl,
                )
        return proto


def _pack(verb: str, channels: set[bytes]) -> bytes:
    command: tuple[Any, ...] = (verb, *channels)
    packed: bytes = hiredis.pack_command(command)
    return packed


class _Protocol(asyncio.Protocol):
    def __init__(self, owner: Subscriber, hello_replies: int) -> None:
        self._owner = owner
        self._on_message = owner._on_message
        self._reader = hiredis.Reader()
        self._hello_left = hello_replies
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.answered = False  # Redis answered something: the backoff starts again from 50 ms
        self.why = "closed"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; same interface.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self._owner._connected(self))

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        on_message = self._on_message
        try:
            while (reply := reader.gets()) is not False:
                # The hot path first: a message is a list whose first item is b"message".
                if type(reply) is list and reply[0] == b"message":
                    try:
                        on_message(reply[1], reply[2])
                    except Exception:
                        # One frame the broker could not handle must not cost the others
                        # (the room's sequencer sees the hole and fills it).
                        log.exception("pub/sub message on %r not handled", reply[1])
                    continue
                self._other(reply)
        except hiredis.ProtocolError as exc:
            self._fail(f"unreadable reply: {exc}")

    def _other(self, reply: Any) -> None:
        if isinstance(reply, hiredis.ReplyError):
            # A refused AUTH or SELECT, or a refused SUBSCRIBE (an ACL): try again later,
            # backing off, as redis-py's listener did after its AuthenticationError.
            self._fail(f"redis refused: {reply}")
            return
        self.answered = True
        if self._hello_left:
            self._hello_left -= 1
        elif type(reply) is list and reply[0] == b"subscribe":
            self._owner._on_subscribed(reply[1])
        # "unsubscribe" confirmations need nothing: the channel is already forgotten.

    def _fail(self, why: str) -> None:
        self.why = why
        self.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        elif not self.closed.done():
            self.closed.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self.why = str(exc) or type(exc).__name__
        if not self.closed.done():
            self.closed.set_result(None)
