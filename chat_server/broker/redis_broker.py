"""Fan-out through Redis: each room's recent log is a Redis Stream, live delivery is pub/sub.

Posting runs one Lua script, so for a room the seq increment, the stream append, the cid
record, the entry for the transcript writers and the publish happen atomically and in seq
order for every gateway at once. The
stream is the durable part: a message is acknowledged once the script has returned, which is
once Redis has applied (and, with appendonly, logged) it.

Pub/sub is fast but drops silently around a restart or a stalled connection, so this module
never trusts it alone: every (re)subscription is reported with ``on_resync`` so the hub can
fill from the stream, and a heartbeat sent through pub/sub to ourselves tells a subscription
that looks alive but no longer delivers; then the listener is rebuilt. The listener is
``subscriber.py``'s reader on a connection of its own (redis-py's ``PubSub`` cost ten times
its CPU per message).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgpack
from redis.asyncio import Redis
from redis.exceptions import RedisError

from chat_server import keys
from chat_server.aio import stop_task
from chat_server.broker.base import Draft, OnControl, OnFrame, OnResync, Posted, Replay
from chat_server.broker.subscriber import Subscriber
from chat_server.keys import COMMITS_STREAM, WRITERS_GROUP
from presence.redis_address import Address
from presence.redis_pipe import RedisPipe, Script
from rooms.errors import BadFrame, Unavailable

log = logging.getLogger(__name__)

CID_TTL_S = 7 * 24 * 3600

_POST = """
local earlier = redis.call('GET', KEYS[3])
if earlier then return {0, earlier} end
local seq = redis.call('INCR', KEYS[1])
local frame = ARGV[1] .. cmsgpack.pack(seq)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-0', 'f', frame)
redis.call('SET', KEYS[3], ARGV[4] .. ':' .. seq .. ':' .. ARGV[5], 'EX', ARGV[3])
redis.call('SET', KEYS[6], ARGV[5] .. '|' .. ARGV[8], 'EX', ARGV[3])
redis.call('XADD', KEYS[5], '*', 'r', ARGV[5], 's', seq, 'a', ARGV[6], 'c', ARGV[7], 'f', frame)
redis.call('PUBLISH', KEYS[4], 'm' .. seq .. ':' .. frame)
return {1, seq}
"""


_RAISE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if current < floor then
  redis.call('SET', KEYS[1], floor)
  return floor
end
return current
"""


class RedisBroker:
    counters_can_lag = True  # Redis may lose its data (broker/base.py)

    def __init__(self, redis: Redis, gateway_id: str, window: int, check_interval_s: float) -> None:
        self._redis = redis
        self._window = window
        self._check_s = check_interval_s
        self._channels = keys.Channels.of(redis)
        self._hb_channel = self._channels.heartbeat(gateway_id)
        # Kept on the broker itself: _dispatch runs for every message every gateway receives,
        # and a local attribute is one look-up less than Channels' own.
        self._control = self._channels.control
        self._room_prefix = self._channels.room_prefix
        self._room_cut = len(self._room_prefix)
        # The post script on a pipelined connection of its own (presence/redis_pipe.py): a
        # third of the CPU of a message in small rooms went to redis-py's per-command
        # machinery. Its own, not the joins' pipe: a post's reply never waits in line behind
        # a replay's hundreds of entries; and written at once, not at the end of the turn.
        # A lost connection or a late reply fails every post in flight; the client sends
        # again with its cid and the script answers a cid it has seen with the first seq.
        self._post = Script(_POST)
        self._post_pipe = RedisPipe(Address.of(redis), at_once=True)
        self._raise = redis.register_script(_RAISE)
        # A join's reads (the head, the replay) on a connection of their own: what one loop
        # turn asks goes to Redis in one write (presence/redis_pipe.py).
        self._pipe = RedisPipe.of(redis)
        # The rooms' events (presence, typing, reactions) on another: a PUBLISH is a write,
        # which Redis holds while writes are paused (CLIENT PAUSE WRITE, as a failover does),
        # and a connection's replies come in order, so on the joins' pipe one held event
        # would hold every read behind it until the pipe's deadline failed them all.
        self._events = RedisPipe.of(redis)
        self._rooms: set[str] = set()
        self._confirmed: set[bytes] = set()
        self._waiters: dict[bytes, asyncio.Future[None]] = {}
        self._subscriber = Subscriber(
            Address.of(redis), self._dispatch, self._confirm, on_connecting=self._confirmed.clear,
        )
        self._listener: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._on_frame: OnFrame | None = None
        self._on_resync: OnResync | None = None
        self._on_control: OnControl | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, on_frame: OnFrame, on_resync: OnResync, on_control: OnControl) -> None:
        self._on_frame, self._on_resync, self._on_control = on_frame, on_resync, on_control
        self._subscriber.subscribe(self._hb_channel)
        self._subscriber.subscribe(self._channels.control)
        self._listener = asyncio.create_task(self._subscriber.run(), name="redis-pubsub-listener")
        self._watchdog = asyncio.create_task(
            self._subscriber.keep_alive(self._hb_channel, self._redis.publish, self._check_s),
            name="redis-pubsub-watchdog",
        )

    async def close(self) -> None:
        for task in (self._watchdog, self._listener):
            await stop_task(task)
        await self._post_pipe.close()
        await self._pipe.close()
        await self._events.close()

    # -- subscriptions -----------------------------------------------------------------

    async def subscribe(self, room: str) -> int:
        channel = self._channels.room(room)
        self._rooms.add(room)
        waiter = self._waiters.get(channel)
        if channel not in self._confirmed:
            if waiter is None:
                waiter = self._waiters[channel] = asyncio.get_running_loop().create_future()
            # Sent with every other room asked for in this loop turn; while the listener is
            # reconnecting, it subscribes every room once it is back.
            self._subscriber.subscribe(channel)
            try:
                await asyncio.wait_for(asyncio.shield(waiter), timeout=10)
            except TimeoutError:
                raise Unavailable("could not subscribe to the room; try again") from None
        heads = await self.heads([room])
        return heads[room]

    async def unsubscribe(self, room: str) -> None:
        channel = self._channels.room(room)
        self._rooms.discard(room)
        self._confirmed.discard(channel)
        self._waiters.pop(channel, None)
        self._subscriber.unsubscribe(channel)

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        """One pub/sub message, called by the subscriber inside its ``data_received``."""
        # Rooms first, the common case; no heartbeat or control name starts with the room
        # prefix, so the order changes no answer.
        if channel.startswith(self._room_prefix):
            room = channel[self._room_cut:].decode()
            assert self._on_frame is not None
            if data[:1] == b"m":
                colon = data.index(b":")
                self._on_frame(room, int(data[1:colon]), data[colon + 1:])
            elif data[:2] == b"e:":
                self._on_frame(room, None, data[2:])
        elif channel == self._hb_channel:
            self._subscriber.heard()
        elif channel == self._control:
            assert self._on_control is not None
            self._on_control(data)

    def _confirm(self, channel: bytes) -> None:
        if channel == self._control and self._on_resync is not None:
            # (Re)subscribed to the control channel: control events published meanwhile
            # (moderation) are lost; "*" tells the hub to re-read what it derived from them.
            self._on_resync("*")
            return
        if not channel.startswith(self._room_prefix):
            if channel == self._hb_channel:
                self._subscriber.heard()
            return
        room = channel[self._room_cut:].decode()
        if room not in self._rooms:
            return
        first = channel not in self._confirmed
        self._confirmed.add(channel)
        waiter = self._waiters.pop(channel, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        elif not first or waiter is None:
            # A re-subscription after a fault: whatever was published meanwhile is lost
            # to pub/sub, so the hub must catch up from the stream.
            assert self._on_resync is not None
            self._on_resync(room)

    # -- the log -----------------------------------------------------------------------

    async def post(self, draft: Draft, now_ms: int) -> Posted:
        script_keys: list[str | bytes] = [
            keys.seq(draft.room),
            keys.log(draft.room),
            keys.cid(draft.author_id, draft.cid),
            self._channels.room(draft.room),
            COMMITS_STREAM,
            keys.thread(draft.message_id),
        ]
        args: list[bytes | str | int] = [
            draft.frame_prefix, self._window, CID_TTL_S, draft.message_id, draft.room,
            draft.author_key, draft.cid, draft.thread_root or draft.message_id,
        ]
        try:
            fresh, value = await self._post_pipe.run(self._post, script_keys, args)
        except (RedisError, OSError) as exc:
            raise Unavailable("the message could not be stored; send it again") from exc
        if fresh:
            return Posted(draft.message_id, int(value), duplicate=False)
        message_id, seq, room = bytes(value).decode().split(":", 2)
        if room != draft.room:
            raise BadFrame("this cid was already used for a message in another room")
        return Posted(message_id, int(seq), duplicate=True)

    async def raise_head(self, room: str, seq: int) -> int:
        try:
            return int(await self._raise(keys=[keys.seq(room)], args=[seq]))
        except (RedisError, OSError) as exc:
            raise Unavailable("redis unreachable") from exc

    async def thread_of(self, room: str, message_id: str) -> str | None:
        try:
            value: Any = await self._redis.get(keys.thread(message_id))
        except (RedisError, OSError) as exc:
            raise Unavailable("redis unreachable") from exc
        if value is None:
            return None
        found_room, _, root = bytes(value).decode().partition("|")
        return root if found_room == room else None

    async def publish_event(self, room: str, frame: bytes) -> None:
        # On a pipe, not redis-py: a join's presence announcement (and typing, reactions) was
        # a pooled connection's check-out, a command packed by redis-py and a write of its
        # own; here the events of a loop turn go in one. One connection, so a room's events
        # also reach Redis in the order they were made.
        try:
            await self._events.execute("PUBLISH", self._channels.room(room), b"e:" + frame)
        except (RedisError, OSError) as exc:
            raise Unavailable("could not reach the other gateways") from exc

    async def publish_control(self, payload: bytes) -> None:
        try:
            await self._redis.publish(self._channels.control, payload)
        except (RedisError, OSError) as exc:
            raise Unavailable("could not reach the other gateways") from exc

    async def replay(self, room: str, after_seq: int, limit: int) -> Replay:
        log_key = keys.log(room)
        # Stream ids are 64-bit: a ``since`` beyond that simply finds nothing.
        start = min(after_seq + 1, 2**64 - 1)
        try:
            head_raw, oldest, entries, tombs_raw = await self._pipe.transaction([
                ("GET", keys.seq(room)),
                ("XRANGE", log_key, "-", "+", "COUNT", 1),
                ("XRANGE", log_key, f"{start}-0", "+", "COUNT", limit),
                ("HGETALL", keys.tomb(room)),
            ])
        except (RedisError, OSError) as exc:
            raise Unavailable("the room's history could not be read") from exc
        head = int(head_raw or 0)
        first = _seq_of(oldest[0][0]) if oldest else head + 1
        frames = [(_seq_of(entry_id), _frame_field(fields)) for entry_id, fields in entries]
        if tombs_raw:
            upto = frames[-1][0] if len(frames) >= limit else head
            tombs = zip(tombs_raw[::2], tombs_raw[1::2], strict=True)
            frames.extend((int(s), f) for s, f in tombs if after_seq < int(s) <= upto)
            frames.sort(key=lambda entry: entry[0])
        return Replay(frames, first, head)

    async def find_recent(self, room: str, message_id: str) -> bytes | None:
        needle = message_id.encode()
        try:
            end = "+"
            while True:
                entries: Any = await self._redis.xrevrange(keys.log(room), end, "-", count=500)
                for _, fields in entries:
                    # The id also stands in replies (reply_to, thread_root): check the frame's own.
                    if needle in fields[b"f"] and _frame_id(fields[b"f"]) == message_id:
                        return bytes(fields[b"f"])
                if len(entries) < 500:
                    return None
                end = f"({entries[-1][0].decode()}"
        except (RedisError, OSError) as exc:
            raise Unavailable("the room's recent log could not be read") from exc

    async def redact(self, room: str, seq: int, tombstone: bytes) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.xdel(keys.log(room), f"{seq}-0")
                pipe.hset(keys.tomb(room), str(seq), tombstone)
                pipe.xrange(keys.log(room), "-", "+", count=1)
                pipe.hkeys(keys.tomb(room))
                _, _, oldest, tomb_seqs = await pipe.execute()
            # Tombstones older than the log are the database's business (it has them).
            if oldest:
                stale = [s for s in tomb_seqs if int(s) < _seq_of(oldest[0][0]) and int(s) != seq]
                if stale:
                    await self._redis.hdel(keys.tomb(room), *stale)
            await self._drop_pending(room, seq)
        except (RedisError, OSError) as exc:
            raise Unavailable("the room's recent log could not be changed") from exc

    async def _drop_pending(self, room: str, seq: int) -> None:
        """Delete the message's entry from the commits stream if a writer has not finished
        with it. Deleting (and acknowledging) an entry a writer is holding is safe: its
        insert then meets the tombstone row already written and does nothing."""
        want_room, want_seq = room.encode(), str(seq).encode()
        start = "-"
        while True:
            entries: Any = await self._redis.xrange(COMMITS_STREAM, start, "+", count=1000)
            hits = [eid for eid, f in entries if f.get(b"r") == want_room and f.get(b"s") == want_seq]
            if hits:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.xack(COMMITS_STREAM, WRITERS_GROUP, *hits)
                    pipe.xdel(COMMITS_STREAM, *hits)
                    await pipe.execute()
                return
            if len(entries) < 1000:
                return
            start = f"({entries[-1][0].decode()}"

    async def heads(self, rooms: list[str]) -> dict[str, int]:
        if not rooms:
            return {}
        try:
            values = await self._pipe.execute("MGET", *[keys.seq(r) for r in rooms])
        except (RedisError, OSError) as exc:
            raise Unavailable("redis unreachable") from exc
        return {room: int(v or 0) for room, v in zip(rooms, values, strict=True)}

    async def ready(self) -> None:
        await self._redis.ping()


def _frame_id(frame: bytes) -> str | None:
    value = msgpack.unpackb(frame, raw=False)
    return value.get("id") if isinstance(value, dict) else None


def _frame_field(fields: list[bytes]) -> bytes:
    """The ``f`` field of a stream entry's flat ``[field, value, ...]`` list."""
    if fields[0] == b"f":  # the only field this log writes
        return fields[1]
    return dict(zip(fields[::2], fields[1::2], strict=True))[b"f"]


def _seq_of(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[0])
