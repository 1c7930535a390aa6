"""A room's fan-out, in turns of the event loop when the room is big.

One message to a room hands the same framed bytes to each local member's socket: a ``send()``
each, 5-10 µs on a quiet machine and up to ~35 µs on a busy one. In a webinar of 1,000
members on one gateway that is 5-35 ms of the loop thread for every message, during which
nothing else on the gateway runs: not the small rooms' messages, not a sender's ack, not a
ping. So a fan-out to more than ``turn`` connections goes
out ``turn`` at a time, each slice in its own turn of the loop, and whatever arrived meanwhile
(another room's message, a socket's frame) runs in between. The CPU is the same; the longest
hold of the loop is one slice.

Order is kept per room: while a room's earlier frames are still going out, its later ones
(messages, presence, gap fills) wait behind them, and ``settle`` sends what is left at once
for callers that write to the room's connections directly (moderation, questions), so a
removal never overtakes the message it removes. Who receives a frame is decided when it is
queued (the room's connections then); a connection that joins after that reads the frame in
its join's replay (its head is read after it is registered, and the frame's seq was taken
before it was queued), one that leaves is skipped by ``Connection.deliver``, and a frame that
reaches a connection twice is dropped there by its seq.

The turns are a courtesy to the rest of the loop, not a buffer: a room with ``MAX_QUEUED``
frames still going out (the gateway cannot keep up with it) has them sent at once, and the
new one with them, as before the turns. So what waits is bounded, and an overloaded gateway
stops reading while it writes, which is its back-pressure (Redis then cuts the reader off
and the gap fill takes over; the outboxes' limits and slow-consumer closes apply as ever).
"""

from __future__ import annotations

import asyncio
from collections import deque

from chat_server.gateway.connection import Connection
from chat_server.gateway.filling import LocalRoom
from chat_server.wire import Outgoing

# Connections written to in one turn of the loop. A socket write costs 5-10 µs on a quiet
# machine and up to ~35 µs with the readers on the same cores (the loopback's receive runs
# in the sender's system call): 64 holds the loop ~0.3-2.3 ms. Measured, 1,000 members at
# 60 msg/s: loop lag p99 ~9 ms with 256, ~2-3 ms with 64 (bench/notes.md); each slice costs a
# loop turn, ~2-3 µs, 16 of them a message in a room of 1,000.
DEFAULT_TURN = 64
# Frames of one room in its queue at most (the one going out included); past it the room is
# settled (above).
MAX_QUEUED = 8


class _Queued:
    """One frame of a room still going out: to whom, and how far it has got."""

    __slots__ = ("done", "out", "seq", "targets")

    def __init__(self, targets: list[Connection], done: int, seq: int | None,
                 out: Outgoing) -> None:
        self.targets = targets
        self.done = done
        self.seq = seq
        self.out = out


class FanOut:
    def __init__(self, turn: int = DEFAULT_TURN) -> None:
        self._turn = max(1, turn)
        # Rooms with frames still going out, oldest first; served in turn, the rest wait.
        self._queued: dict[str, deque[_Queued]] = {}
        self._scheduled = False

    def send(self, local: LocalRoom, seq: int | None, out: Outgoing) -> None:
        """Hand ``out`` to each of the room's connections: now, or in turns."""
        room, conns = local.slug, local.conns
        queue = self._queued.get(room)
        if queue is not None:  # earlier frames of this room are still going out
            if len(queue) < MAX_QUEUED:
                queue.append(_Queued(list(conns), 0, seq, out))
                return
            self.settle(room)  # falling behind: everything now, this frame after it
            for conn in list(conns):
                conn.deliver(room, seq, out)
            return
        if len(conns) <= self._turn:  # nearly every frame: no list kept, no turn waited
            for conn in list(conns):
                conn.deliver(room, seq, out)
            return
        targets = list(conns)
        turn = self._turn
        for conn in targets[:turn]:
            conn.deliver(room, seq, out)
        self._queued[room] = deque((_Queued(targets, turn, seq, out),))
        self._schedule()

    def settle(self, room: str) -> None:
        """Send whatever of ``room`` is still queued, now: the caller writes to the room's
        connections next, and must not overtake it."""
        queue = self._queued.pop(room, None)
        while queue:
            item = queue.popleft()
            targets, item.done = item.targets[item.done:], len(item.targets)
            for conn in targets:
                conn.deliver(room, item.seq, item.out)

    def settle_all(self) -> None:
        """``settle`` every room (a graceful shutdown, before each socket's last flush)."""
        for room in list(self._queued):
            self.settle(room)

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._run)

    def _run(self) -> None:
        """One turn: up to ``turn`` connections, the rooms served in order of waiting (a room
        not finished goes to the back)."""
        self._scheduled = False
        budget = self._turn
        slices: list[tuple[str, _Queued, int, int]] = []
        # What this turn sends is settled before anything is sent, so the queue is whole
        # whatever a delivery does.
        for room in list(self._queued):
            if budget <= 0:
                break
            queue = self._queued.pop(room)
            while queue and budget > 0:
                item = queue[0]
                start = item.done
                item.done = end = min(len(item.targets), start + budget)
                budget -= end - start
                slices.append((room, item, start, end))
                if end == len(item.targets):
                    queue.popleft()
            if queue:
                self._queued[room] = queue
        if self._queued:
            self._schedule()
        for room, item, start, end in slices:
            seq, out = item.seq, item.out
            for conn in item.targets[start:end]:
                conn.deliver(room, seq, out)
