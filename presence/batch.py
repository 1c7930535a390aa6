"""Presence changes coalesced per room: one frame for everyone who came and went meanwhile.

Announcing every arrival to everyone in the room makes filling a room quadratic: the k-th of
n members to join is announced to k-1 others, so a 1,000-member webinar that fills (or a
room whose members all reconnect at once after a network blip) costs half a million frames.
Here the first change in a quiet room goes out at once (a small room feels as live as
before), and the changes that follow within ``window_s`` of the last frame wait and travel
together in the next one. Per member only the latest change is kept, in the order members
changed; applied as set operations (docs/protocol.md, section 5.4) that gives the same end
state as the changes one by one.

Pure: the caller owns the clock and the timers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

JOINED = "joined"
LEFT = "left"


@dataclass(slots=True)
class _Room:
    changes: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    scheduled: bool = False


@dataclass(frozen=True, slots=True)
class Batch:
    joined: list[dict[str, str]]
    left: list[dict[str, str]]


class PresenceBatcher:
    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._rooms: dict[str, _Room] = {}
        self._last_sent: dict[str, float] = {}

    def add(self, room: str, change: str, user: dict[str, str], now: float) -> float | None:
        """Record that ``user`` joined or left ``room``. Returns when the room's next frame
        should go out if the caller must now schedule it (``now`` for a quiet room), or None
        when a frame is already scheduled."""
        if change not in (JOINED, LEFT):
            raise ValueError(change)
        pending = self._rooms.setdefault(room, _Room())
        pending.changes.pop(user["id"], None)  # re-insert: order by the latest change
        pending.changes[user["id"]] = (change, user)
        if pending.scheduled:
            return None
        pending.scheduled = True
        return max(now, self._last_sent.get(room, now - self._window_s) + self._window_s)

    def take(self, room: str, now: float) -> Batch | None:
        """The room's frame, due now; None if nothing is pending."""
        pending = self._rooms.pop(room, None)
        if pending is None or not pending.changes:
            return None
        self._last_sent[room] = now
        self._forget_quiet(now)
        joined = [user for change, user in pending.changes.values() if change == JOINED]
        left = [user for change, user in pending.changes.values() if change == LEFT]
        return Batch(joined, left)

    def pending_rooms(self) -> list[str]:
        return list(self._rooms)

    def _forget_quiet(self, now: float) -> None:
        # Rooms quiet for a whole window need no memory: their next change goes out at once.
        if len(self._last_sent) > 256:
            cutoff = now - self._window_s
            for room in [r for r, t in self._last_sent.items() if t < cutoff]:
                del self._last_sent[room]
