"""The in-process broker of the embedded mode: one process, nothing to install.

Posting gives the message its seq at once (inside the event loop, so seq order is posting
order), then waits for the committer (the embedded writer, which the composition root starts
and stops: the broker does not own it) to commit it: only then is it added to the room's
recent log, fanned out, and acknowledged. Each room keeps its recent frames in a bounded
deque, the same window the Redis Stream keeps; older ones are read from the database.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import msgpack

from chat_server.broker.base import Draft, OnControl, OnFrame, OnResync, Posted, Replay
from chat_server.protocol.message import finish_message
from chat_server.transcripts.committer import Committer, RowRefused
from persistence.transcripts import NewMessage
from rooms.errors import BadFrame, Unavailable

ACK_TIMEOUT_S = 10.0


@dataclass(slots=True)
class _RoomLog:
    head: int = 0  # the last seq given
    committed: int = 0  # the last seq committed and published (what readers may rely on)
    frames: deque[tuple[int, bytes]] = field(default_factory=deque)


@dataclass(slots=True)
class _Posting:
    """A posting whose commit is awaited (a retry waits for the same commit)."""

    message_id: str
    seq: int
    room: str
    committed: asyncio.Future[None]


# A committed posting, as remembered for retries: (message id, seq, room). A plain tuple of
# str and int, which the garbage collector stops tracking, where a _Posting and its future
# are two tracked objects. Up to ``cid_memory`` (100,000) are kept, and a long-lived server
# fills them: as _Postings each full collection scanned them (3 ms at 28,000, 39 ms at
# 100,000, the loop stopped meanwhile; bench/notes.md, "Still to do").
_Stored = tuple[str, int, str]


class MemoryBroker:
    # The counters are this process's own: ``restore`` starts them from the stored heads,
    # and every seq stored since was given here (tombstones reuse a given seq), so no
    # counter is ever behind the transcript.
    counters_can_lag = False

    def __init__(self, window: int, committer: Committer, cid_memory: int = 100_000) -> None:
        self._window = window
        self._committer = committer
        self._rooms: dict[str, _RoomLog] = {}
        self._subscribed: set[str] = set()
        # (author, cid) -> the posting: a retried send is posted once, and acknowledged only
        # once the first posting is committed.
        self._cids: OrderedDict[tuple[str, str], _Posting | _Stored] = OrderedDict()
        self._cid_memory = cid_memory
        # message id -> (room, thread root) of recent messages, for replies.
        self._threads: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._on_frame: OnFrame | None = None
        self._on_control: OnControl | None = None

    def restore(self, heads: dict[str, int], cids: list[tuple[str, str, str, int, str]]) -> None:
        """Continue from the database after a restart: each room's seq, and recent cids
        (``author public id, cid, message id, seq, room``) so retried sends stay single."""
        for room, head in heads.items():
            log = self._log(room)
            log.head = log.committed = max(log.head, head)
        for author, cid, message_id, seq, room in reversed(cids):
            self._remember((author, cid), (message_id, seq, room))

    async def start(self, on_frame: OnFrame, on_resync: OnResync, on_control: OnControl) -> None:
        self._on_frame, self._on_control = on_frame, on_control

    async def close(self) -> None:
        self._subscribed.clear()

    async def subscribe(self, room: str) -> int:
        self._subscribed.add(room)
        return self._log(room).committed

    async def unsubscribe(self, room: str) -> None:
        self._subscribed.discard(room)

    def _log(self, room: str) -> _RoomLog:
        log = self._rooms.get(room)
        if log is None:
            log = self._rooms[room] = _RoomLog(frames=deque(maxlen=self._window))
        return log

    def _remember(self, key: tuple[str, str], posting: _Posting | _Stored) -> None:
        self._cids[key] = posting
        if len(self._cids) > self._cid_memory:
            self._cids.popitem(last=False)

    async def post(self, draft: Draft, now_ms: int) -> Posted:
        key = (draft.author_id, draft.cid)
        earlier = self._cids.get(key)
        if earlier is not None:
            if isinstance(earlier, _Posting):  # not committed yet: answered once it is
                pending: _Posting | None = earlier
                message_id, seq, room = earlier.message_id, earlier.seq, earlier.room
            else:
                pending, (message_id, seq, room) = None, earlier
            if room != draft.room:
                raise BadFrame("this cid was already used for a message in another room")
            if pending is not None:
                await self._wait(pending.committed, key)
            return Posted(message_id, seq, duplicate=True)
        log = self._log(draft.room)
        seq = log.head + 1
        frame = finish_message(draft.frame_prefix, seq)
        row = NewMessage(
            draft.message_id, draft.room, seq, draft.author_key, draft.cid, draft.body,
            draft.reply_to, draft.ts_ms, draft.thread_root,
        )

        def after_commit() -> None:
            # Remembered from now on without its future (if it is still remembered).
            current = self._cids.get(key)
            if isinstance(current, _Posting) and current.message_id == draft.message_id:
                self._cids[key] = (draft.message_id, seq, draft.room)
            log.committed = seq
            log.frames.append((seq, frame))
            if draft.room in self._subscribed and self._on_frame is not None:
                self._on_frame(draft.room, seq, frame)

        # Raises Unavailable when the writer's queue is full: then no seq was used up.
        committed = self._committer.submit(row, after_commit)
        log.head = seq
        self._threads[draft.message_id] = (draft.room, draft.thread_root or draft.message_id)
        if len(self._threads) > self._cid_memory:
            self._threads.popitem(last=False)
        self._remember(key, _Posting(draft.message_id, seq, draft.room, committed))
        await self._wait(committed, key)
        return Posted(draft.message_id, seq, duplicate=False)

    async def _wait(self, committed: asyncio.Future[None], key: tuple[str, str]) -> None:
        if not committed.done():
            # What ``wait_for(shield(committed), ACK_TIMEOUT_S)`` did, for a third of its CPU
            # (every post waits here): a waiter of our own, woken by the commit or the timer,
            # so a cancelled sender (its socket closed) never cancels the shared ``committed``.
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()

            def wake(_: object = None) -> None:
                if not waiter.done():
                    waiter.set_result(None)

            committed.add_done_callback(wake)
            timer = loop.call_later(ACK_TIMEOUT_S, wake)
            try:
                await waiter
            finally:
                timer.cancel()
                committed.remove_done_callback(wake)
            if not committed.done():
                # Still queued (the database is slow or away): the client retries with the
                # same cid and is acknowledged once the row is committed.
                raise Unavailable("the message is not stored yet; send it again")
        error = committed.exception()
        if isinstance(error, RowRefused):
            self._cids.pop(key, None)  # it was never stored: a retry is a new posting
            raise Unavailable("the message could not be stored") from None
        if error is not None:
            raise error

    async def raise_head(self, room: str, seq: int) -> int:
        log = self._log(room)
        if log.head == log.committed and seq > log.head:
            log.head = log.committed = seq
        return log.committed

    async def thread_of(self, room: str, message_id: str) -> str | None:
        found = self._threads.get(message_id)
        return found[1] if found is not None and found[0] == room else None

    async def publish_event(self, room: str, frame: bytes) -> None:
        if room in self._subscribed and self._on_frame is not None:
            self._on_frame(room, None, frame)

    async def publish_control(self, payload: bytes) -> None:
        if self._on_control is not None:
            self._on_control(payload)

    async def find_recent(self, room: str, message_id: str) -> bytes | None:
        needle = message_id.encode()
        for _, frame in reversed(self._log(room).frames):
            # The id also stands in replies (reply_to, thread_root): check the frame's own.
            if needle in frame and msgpack.unpackb(frame, raw=False).get("id") == message_id:
                return frame
        return None

    async def redact(self, room: str, seq: int, tombstone: bytes) -> None:
        # Posted messages are committed before anyone sees them, so only the log needs it.
        frames = self._log(room).frames
        at = bisect.bisect_left(frames, seq, key=lambda entry: entry[0])
        if at < len(frames) and frames[at][0] == seq:
            frames[at] = (seq, tombstone)

    async def replay(self, room: str, after_seq: int, limit: int) -> Replay:
        log = self._log(room)
        first = log.frames[0][0] if log.frames else log.committed + 1
        # Seqs are increasing but may have holes (a row the database refused), so search.
        start = bisect.bisect_right(log.frames, after_seq, key=lambda entry: entry[0])
        frames = [log.frames[i] for i in range(start, min(start + limit, len(log.frames)))]
        return Replay(frames, first, log.committed)

    async def heads(self, rooms: list[str]) -> dict[str, int]:
        return {room: self._log(room).committed for room in rooms}

    async def ready(self) -> None:
        return None
