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
(messages, presence, gap fills) wait behind them, and so do the frames written to the room's
connections one by one (``each``: moderation's, a question's, a session's state, a staff
alert), so a removal never overtakes the message it removes, and a question's change to a
webinar goes out in turns like a message rather than flushing the room's queue and then
itself in one hold. ``settle`` sends what is left at once (a graceful shutdown), and
``settle_for`` what is left for a few connections (a kick's or a ban's, whose sockets must
close within a second).

Who receives a frame is decided when it is queued (the room's connections then); a
connection that joins after that reads the frame in its join's replay (its head is read
after it is registered, and the frame's seq was taken before it was queued), one that
leaves is skipped by ``Connection.deliver``, and a frame that reaches a connection twice is
dropped there by its seq.

The turns are a courtesy to the rest of the loop, not a buffer: a room with ``MAX_QUEUED``
frames still going out (the gateway cannot keep up with it) sends its oldest frame to
everyone left at once to make room for the new one, as every frame went before the turns. So
what waits is bounded, an overloaded gateway stops reading while it writes, which is its
back-pressure (Redis then cuts the reader off and the gap fill takes over; the outboxes'
limits and slow-consumer closes apply as ever), and no hold is longer than one frame's
fan-out. (Sending the whole queue at that point held the loop 120-150 ms at a time in a vote
storm to 1,000 members: bench/notes.md.)
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from chat_server.gateway.connection import Connection
from chat_server.gateway.filling import LocalRoom
from chat_server.wire import Outgoing

log = logging.getLogger(__name__)

# Connections written to in one turn of the loop. A socket write costs 5-10 µs on a quiet
# machine and up to ~35 µs with the readers on the same cores (the loopback's receive runs
# in the sender's system call): 64 holds the loop ~0.3-2.3 ms. Measured, 1,000 members at
# 60 msg/s: loop lag p99 ~9 ms with 256, ~2-3 ms with 64 (bench/notes.md); each slice costs a
# loop turn, ~2-3 µs, 16 of them a message in a room of 1,000.
DEFAULT_TURN = 64
# Frames of one room in its queue at most (the one going out included); past it the oldest
# goes out whole to make room (above).
MAX_QUEUED = 8


# Writes one connection's frame of a direct write (``each``): what, and whether at all, is
# the caller's (a question's private or public view, a kick's close).
Write = Callable[[Connection], None]


class _Queued:
    """One frame of a room still going out: to whom, and how far it has got. A message or
    event of the room (``out``, delivered with ``seq``), or a direct write (``write``)."""

    __slots__ = ("done", "out", "seq", "targets", "write")

    def __init__(self, targets: list[Connection], done: int, seq: int | None,
                 out: Outgoing | None, write: Write | None = None) -> None:
        self.targets = targets
        self.done = done
        self.seq = seq
        self.out = out
        self.write = write

    def send(self, room: str, conns: list[Connection]) -> None:
        write = self.write
        if write is not None:
            for conn in conns:
                try:
                    write(conn)
                except Exception:
                    # A caller's code runs here, in a turn that also carries other rooms'
                    # slices (already counted as sent): one failure must not drop them.
                    log.exception("a direct write to %s failed", room)
            return
        seq, out = self.seq, self.out
        assert out is not None
        for conn in conns:
            conn.deliver(room, seq, out)


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
        if queue is None and len(conns) <= self._turn:
            # Nearly every frame: no list kept, no turn waited.
            for conn in list(conns):
                conn.deliver(room, seq, out)
            return
        self._line_up(room, queue, _Queued(list(conns), 0, seq, out))

    def each(self, room: str, targets: list[Connection], write: Write) -> None:
        """``write`` to each of ``targets`` (connections of ``room``'s members, or staff to
        alert about it), in the room's order: after the room's frames still going out, and
        in turns when there are many."""
        if not targets:
            return
        queue = self._queued.get(room)
        if queue is None and len(targets) <= self._turn:
            for conn in targets:
                write(conn)
            return
        self._line_up(room, queue, _Queued(targets, 0, None, None, write))

    def _line_up(self, room: str, queue: deque[_Queued] | None, item: _Queued) -> None:
        if queue is not None:  # earlier frames of this room are still going out
            if len(queue) >= MAX_QUEUED:
                # Falling behind: the oldest frame to everyone left, now, making room.
                oldest = queue.popleft()
                oldest.send(room, oldest.targets[oldest.done:])
                oldest.done = len(oldest.targets)
            queue.append(item)
            return
        turn = self._turn
        item.send(room, item.targets[:turn])
        if len(item.targets) > turn:
            item.done = turn
            self._queued[room] = deque((item,))
            self._schedule()

    def settle(self, room: str) -> None:
        """Send whatever of ``room`` is still queued, now: the caller writes to the room's
        connections next, and must not overtake it."""
        queue = self._queued.pop(room, None)
        while queue:
            item = queue.popleft()
            targets, item.done = item.targets[item.done:], len(item.targets)
            item.send(room, targets)

    def settle_for(self, room: str, conns: list[Connection]) -> None:
        """Send ``conns`` (a few of the room's) what of ``room`` is still queued for them,
        now, for a write to them that cannot wait its turn: a kick or ban, whose socket must
        close within a second. The rest of the room keeps its turns; what reaches those
        connections later is refused by them, closing (or dropped by its seq)."""
        queue = self._queued.get(room)
        if not queue:
            return
        wanted = set(conns)
        for item in list(queue):
            for conn in item.targets[item.done:]:
                if conn in wanted:
                    item.send(room, [conn])

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
            item.send(room, item.targets[start:end])
