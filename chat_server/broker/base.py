"""What a gateway needs from a broker, whichever one is configured."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Draft:
    """A message ready to be given its place in a room: everything but ``seq``."""

    room: str
    message_id: str
    author_id: str  # public id
    author_key: int  # storage key of the author, for the transcript row
    cid: str
    frame_prefix: bytes  # wire.message_prefix(...): the frame's bytes up to the seq value
    body: str
    reply_to: str | None
    thread_root: str | None  # the root of the thread a reply belongs to; None for a root
    ts_ms: int


@dataclass(frozen=True, slots=True)
class Posted:
    """The place a message was given. ``duplicate`` when this cid was posted before: then
    ``message_id`` and ``seq`` are those of the earlier post and nothing was published."""

    message_id: str
    seq: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Replay:
    """Messages after a seq, as ``(seq, frame bytes)``; ``first`` is the oldest seq the log
    still holds (``head + 1`` when empty) and ``head`` the newest seq given in the room."""

    frames: list[tuple[int, bytes]]
    first: int
    head: int


# Called for every frame that arrives for a subscribed room: (room, seq or None, frame bytes).
# ``seq`` is None for ephemeral events (presence, typing) that are not logged.
OnFrame = Callable[[str, int | None, bytes], None]
# Called when the broker may have missed frames for a room (re-subscribed after a fault).
OnResync = Callable[[str], None]
# Called for control messages addressed to every gateway (e.g. "close this session").
OnControl = Callable[[bytes], None]


class Broker(Protocol):
    # Whether a room's counter can be behind the stored transcript: a Redis that lost its
    # data (no appendonly, a new Redis) restarts its counters from 0. When it can, a room's
    # first subscription on a gateway reads the stored head and raises the counter past it
    # (gateway/upkeep.floor_head); when it cannot, that read is skipped.
    counters_can_lag: bool

    async def start(self, on_frame: OnFrame, on_resync: OnResync, on_control: OnControl) -> None: ...

    async def close(self) -> None: ...

    async def subscribe(self, room: str) -> int:
        """Start receiving the room's frames; return the room's head seq once subscribed."""
        ...

    async def unsubscribe(self, room: str) -> None: ...

    async def post(self, draft: Draft, now_ms: int) -> Posted:
        """Append durably and publish, atomically and in seq order. Raises
        ``rooms.errors.Unavailable`` when the log cannot be reached: nothing was posted then,
        or it was and a retry with the same cid returns it as a duplicate. Raises
        ``rooms.errors.BadFrame`` when the cid was used by this author in another room."""
        ...

    async def raise_head(self, room: str, seq: int) -> int:
        """Make the room's counter at least ``seq``; return the head after."""
        ...

    async def thread_of(self, room: str, message_id: str) -> str | None:
        """The thread root of a recent message of ``room`` (its own id for a root), or None
        when the recent log does not know it (too old, or not in this room)."""
        ...

    async def publish_event(self, room: str, frame: bytes) -> None:
        """Send an ephemeral frame (presence, typing) to the room on every gateway."""
        ...

    async def publish_control(self, payload: bytes) -> None: ...

    async def find_recent(self, room: str, message_id: str) -> bytes | None:
        """The frame of a message of ``room`` still in the recent log, or None."""
        ...

    async def redact(self, room: str, seq: int, tombstone: bytes) -> None:
        """Replace the logged frame at ``seq`` with ``tombstone`` (a removed message: no body),
        and drop the message's body from anything still waiting to be written to the
        database. The transcript row itself is the caller's business (written before)."""
        ...

    async def replay(self, room: str, after_seq: int, limit: int) -> Replay:
        """At most ``limit`` logged frames with seq > ``after_seq``, oldest first."""
        ...

    async def heads(self, rooms: list[str]) -> dict[str, int]:
        """The newest seq given in each room (0 for a room that never had a message)."""
        ...

    async def ready(self) -> None:
        """Raise if the broker's backing service is unreachable."""
        ...
