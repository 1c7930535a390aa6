"""The in-process broker of the embedded mode: one process, nothing to install.

Each room keeps its recent frames in a bounded deque, the same window the Redis Stream keeps.
Posting is synchronous inside the event loop, so seq order and delivery order are one.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from chat_server.broker.base import Draft, OnControl, OnFrame, OnResync, Posted, Replay
from chat_server.wire import finish_message
from rooms.errors import BadFrame


@dataclass(slots=True)
class _RoomLog:
    head: int = 0
    frames: deque[tuple[int, bytes]] = field(default_factory=deque)


class MemoryBroker:
    def __init__(self, window: int, cid_memory: int = 100_000) -> None:
        self._window = window
        self._rooms: dict[str, _RoomLog] = {}
        self._subscribed: set[str] = set()
        # (author, cid) -> (message id, seq, room): a retried send is posted once.
        self._cids: OrderedDict[tuple[str, str], tuple[str, int, str]] = OrderedDict()
        self._cid_memory = cid_memory
        self._on_frame: OnFrame | None = None
        self._on_control: OnControl | None = None

    async def start(self, on_frame: OnFrame, on_resync: OnResync, on_control: OnControl) -> None:
        self._on_frame, self._on_control = on_frame, on_control

    async def close(self) -> None:
        self._subscribed.clear()

    async def subscribe(self, room: str) -> int:
        self._subscribed.add(room)
        return self._log(room).head

    async def unsubscribe(self, room: str) -> None:
        self._subscribed.discard(room)

    def _log(self, room: str) -> _RoomLog:
        log = self._rooms.get(room)
        if log is None:
            log = self._rooms[room] = _RoomLog(frames=deque(maxlen=self._window))
        return log

    async def post(self, draft: Draft, now_ms: int) -> Posted:
        key = (draft.author_id, draft.cid)
        earlier = self._cids.get(key)
        if earlier is not None:
            if earlier[2] != draft.room:
                raise BadFrame("this cid was already used for a message in another room")
            return Posted(earlier[0], earlier[1], duplicate=True)
        log = self._log(draft.room)
        log.head += 1
        frame = finish_message(draft.frame_prefix, log.head)
        log.frames.append((log.head, frame))
        self._cids[key] = (draft.message_id, log.head, draft.room)
        if len(self._cids) > self._cid_memory:
            self._cids.popitem(last=False)
        if draft.room in self._subscribed and self._on_frame is not None:
            self._on_frame(draft.room, log.head, frame)
        return Posted(draft.message_id, log.head, duplicate=False)

    async def publish_event(self, room: str, frame: bytes) -> None:
        if room in self._subscribed and self._on_frame is not None:
            self._on_frame(room, None, frame)

    async def publish_control(self, payload: bytes) -> None:
        if self._on_control is not None:
            self._on_control(payload)

    async def replay(self, room: str, after_seq: int, limit: int) -> Replay:
        log = self._log(room)
        first = log.frames[0][0] if log.frames else log.head + 1
        start = max(after_seq + 1, first)
        # Frames are contiguous by seq, so the position is arithmetic, not a search.
        offset = start - first
        frames = [log.frames[i] for i in range(offset, min(offset + limit, len(log.frames)))]
        return Replay(frames, first, log.head)

    async def heads(self, rooms: list[str]) -> dict[str, int]:
        return {room: self._log(room).head for room in rooms}

    async def ready(self) -> None:
        return None
