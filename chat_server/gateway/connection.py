"""One client connection's state: its member, the rooms it joined, and its bounded outbox.

Fan-out calls ``deliver`` synchronously for every local member of a room and never awaits,
so one slow socket cannot hold up a room. When nothing is queued for the connection and its
socket takes writes (``gateway.direct``), the already-framed bytes are written at once, with
no task switch per recipient; otherwise they are appended to the outbox for the writer task.
A connection whose outbox is full is closed with 1013 (try again later): it resumes with
``join {since}`` and loses nothing.

A join answers with several frames in one go (``joined``, ``room_state``, what was missed).
Between ``cork`` and ``uncork`` the frames that would be written at once are gathered and
written together, one write (one system call, one TCP segment) instead of one each; anything
that would have gone to the outbox still does, in the same order.

A sender's own message and its ``ack`` go out in one write the same way (``expect_own`` /
``end_own``): when the message reaches the sending connection while its send awaits the ack,
the connection corks until the ack is queued. In the embedded mode the message is fanned out
on its commit two loop turns before the ack, so every send saves a system call (one in
eleven in a room of ten); in Redis mode the echo usually arrives by pub/sub with or before
the post script's reply, so most sends do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from chat_server.gateway.direct import DirectWebSocketProtocol
from chat_server.wire import Outgoing, ws_frame
from rooms.model import Member

CLOSE_NORMAL = 1000
# Never sent: what a connection records when its socket dropped without a close frame.
CLOSE_LOST = 1006
CLOSE_SLOW = 1013
CLOSE_RESTART = 1012
CLOSE_POLICY = 1008
CLOSE_SIGNED_OUT = 4001
CLOSE_REMOVED = 4003  # kicked or banned


class Signal:
    """``asyncio.Event`` without its deque: an Event costs about 0.9 KiB even when nobody
    waits, and a connection has three (10,000 idle connections: 25 MiB). Waiter futures are
    made only while someone waits."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for fut in waiters or ():
            if not fut.done():
                fut.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        if self._set:
            return
        fut = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(fut)
        try:
            await fut
        finally:
            if self._waiters is not None and fut in self._waiters:
                self._waiters.remove(fut)


@dataclass(slots=True)
class Cursor:
    """Where a connection is in a room: the last seq it was sent, and, while its join is
    being answered, the live frames held back until the replay has gone out."""

    seq: int = 0
    pending: list[tuple[int | None, Outgoing]] | None = field(default_factory=list)


class Connection:
    # Slots: one of these per socket, and an instance dict of this many fields is ~1 KiB.
    __slots__ = (
        "_corked", "_corked_bytes", "_direct", "_flush_then_close", "_max", "_outbox", "_own",
        "_own_corked", "_own_timer", "_room_for_owed", "_stall_s", "_wake", "_writing",
        "assigned", "close_code", "close_reason", "closed", "hidden", "id", "member", "on_duty",
        "protocol", "rooms", "session_digest", "staff_in",
    )

    def __init__(
        self, conn_id: str, member: Member, session_digest: str, protocol: str, max_frames: int,
        direct: DirectWebSocketProtocol | None = None, stall_s: float = 10.0,
    ) -> None:
        self.id = conn_id
        self.member = member
        self.session_digest = session_digest
        self.protocol = protocol
        self.rooms: dict[str, Cursor] = {}
        self._max = max_frames
        self._stall_s = stall_s  # the longest a reply waits for a socket that takes nothing
        self._outbox: list[bytes | str] = []
        self._wake = Signal()
        self._room_for_owed = Signal()
        self.closed = Signal()
        self.close_code: int | None = None
        self.close_reason = ""
        self._flush_then_close: tuple[int, str] | None = None
        # The socket's protocol when it can be written to synchronously (uvicorn with
        # gateway.direct); None otherwise, and everything goes through the writer task.
        self._direct = direct
        self._writing = False  # the writer task holds frames it has not finished sending
        # Between cork() and uncork(): (framed bytes, the frame) to be written in one go.
        self._corked: list[tuple[bytes, bytes | str]] | None = None
        self._corked_bytes = 0
        # While a send awaits its ack: the message id (as bytes) to look for in the frames
        # delivered here; and whether its arrival corked the connection (``end_own`` uncorks).
        self._own: bytes | None = None
        self._own_corked = False
        self._own_timer: asyncio.TimerHandle | None = None
        # Moderation: the national rooms this member is assigned to as staff, the rooms of
        # this connection where they are staff, whom they blocked (public ids), and duty.
        self.assigned: frozenset[str] = frozenset()
        self.staff_in: set[str] = set()
        self.hidden: frozenset[str] = frozenset()
        self.on_duty = False

    # -- from the fan-out path: never awaits -------------------------------------------

    def deliver(self, room: str, seq: int | None, out: Outgoing) -> None:
        cursor = self.rooms.get(room)
        if cursor is None:
            return
        if cursor.pending is not None:
            if len(cursor.pending) >= self._max:
                self.close(CLOSE_SLOW, "too far behind: reconnect and resume")
                return
            cursor.pending.append((seq, out))
            return
        if seq is not None:
            if seq <= cursor.seq:
                return  # already sent (replay and live overlap by design)
            cursor.seq = seq
            if self.hidden and out.author_id in self.hidden:
                return  # written by someone this member blocked: the seq is skipped
            if self._own is not None and self._own in out.msgpack:
                self._own = None  # our own message: it goes out with its ack (``end_own``)
                if self._corked is None:  # inside a join's cork, that cork decides
                    self.cork()
                    self._hold_own()
        if self._corked is not None:
            if self.close_code is None and self._flush_then_close is None:
                self._cork_add(out.framed_for(self.protocol), out.for_protocol(self.protocol))
            return
        direct = self._direct
        # _can_write_now, inline: this runs for every recipient of every message.
        if (
            direct is not None and not self._outbox and not self._writing
            and self.close_code is None and self._flush_then_close is None
            and direct.write_now(out.framed_for(self.protocol))
        ):
            return
        self.push(out.for_protocol(self.protocol))

    def push(self, data: bytes | str) -> None:
        if self.close_code is not None or self._flush_then_close is not None:
            return
        if self._corked is not None:
            self._cork_add(ws_frame(data), data)
            return
        direct = self._direct
        if self._can_write_now() and direct is not None and direct.write_now(ws_frame(data)):
            return
        if len(self._outbox) >= self._max:
            self.close(CLOSE_SLOW, "too far behind: reconnect and resume")
            return
        self._outbox.append(data)
        self._wake.set()

    # -- writing several frames as one ------------------------------------------------

    def cork(self) -> None:
        """Gather the frames that would be written at once until ``uncork`` (which the caller
        must call, in a ``finally``), and write them together. Only when they would have been
        written at once: with frames queued for the writer task, nothing changes."""
        if self._corked is None and self._can_write_now():
            self._corked, self._corked_bytes = [], 0

    def _can_write_now(self) -> bool:
        """A frame may go straight to the socket: there is a direct writer, nothing is queued
        ahead of it (the outbox, the writer task's batch), and the connection is not closing."""
        return (
            self._direct is not None and not self._outbox and not self._writing
            and self.close_code is None and self._flush_then_close is None
        )

    def uncork(self) -> None:
        """Write what was gathered since ``cork``, as one write when the socket takes it."""
        corked, self._corked = self._corked, None
        if not corked:
            return
        direct = self._direct
        assert direct is not None, "cork() gathers only with a direct writer"
        # As _can_write_now, but a close after flush still writes what was gathered before it.
        if self.close_code is None and not self._outbox and not self._writing:
            framed = corked[0][0] if len(corked) == 1 else b"".join(f for f, _ in corked)
            if direct.write_now(framed):
                return
        for _, data in corked:  # the socket is backed up (or closing): the writer task's way
            self.push(data)

    def expect_own(self, message_id: str) -> None:
        """A send of this connection is being posted as ``message_id``: if the message is
        delivered here before ``end_own``, cork from it on. The caller must call ``end_own``
        when the send ends, however it ends (in a ``finally``)."""
        self._own = message_id.encode()

    def end_own(self) -> None:
        """The send has ended (its ack queued, or it failed): write what its own message's
        arrival gathered, in one write, unless OWN_HOLD_S passed first and it was written."""
        self._own = None
        self._release_own()

    def _hold_own(self) -> None:
        """The own message's arrival corked: hold for the ack, but at most OWN_HOLD_S, as
        the post may take a Redis round trip (or stall) and every frame of this connection
        (other rooms', kicks, errors) waits while it is held."""
        if self._corked is not None:
            self._own_corked = True
            self._own_timer = asyncio.get_running_loop().call_later(
                self.OWN_HOLD_S, self._release_own
            )

    def _release_own(self) -> None:
        """Write what the own message's arrival held (``end_own``, or OWN_HOLD_S after it)."""
        if self._own_timer is not None:
            self._own_timer.cancel()  # harmless when it is the timer that called
            self._own_timer = None
        if self._own_corked:
            self._own_corked = False
            self.uncork()

    # The longest the own message's arrival holds this connection's frames for its ack: in
    # the common (embedded) case the ack follows within the same post, well inside this.
    OWN_HOLD_S = 0.002

    # Past this much gathered (or a quarter of the outbox's frames), write it out and go on
    # gathering: a long replay still reaches the socket, and its back-pressure (push_owed,
    # which waits at half the outbox), in pieces.
    CORK_MAX_BYTES = 64 * 1024

    def _cork_add(self, framed: bytes, data: bytes | str) -> None:
        assert self._corked is not None
        self._corked.append((framed, data))
        self._corked_bytes += len(framed)
        if self._corked_bytes >= self.CORK_MAX_BYTES or len(self._corked) >= max(1, self._max // 4):
            self.uncork()
            self.cork()

    # -- from this connection's own tasks ----------------------------------------------

    async def push_owed(self, data: bytes | str) -> None:
        """Queue a frame this connection is owed (a replay), waiting for room rather than
        closing: the replay is bounded and the client asked for it. But not for a client that
        stopped reading: when its socket takes no frame for ``stall_s`` while this waits, it
        is closed with 1013 (the frames a replay owes count like room traffic). Otherwise the
        connection would stop reading and hold its slot until the ping timeout."""
        while len(self._outbox) >= self._max // 2 and self.close_code is None:
            self._room_for_owed.clear()
            try:
                async with asyncio.timeout(self._stall_s):
                    await self._room_for_owed.wait()
            except TimeoutError:
                self.close(CLOSE_SLOW, "too far behind: reconnect and resume")
        self.push(data)

    def wrote(self) -> None:
        """The writer task wrote a frame: the socket is taking them (progress for push_owed)."""
        self._room_for_owed.set()

    def release(self, room: str) -> None:
        """End a join: send what was held back that the replay did not already cover."""
        cursor = self.rooms.get(room)
        if cursor is None or cursor.pending is None:
            return
        held, cursor.pending = cursor.pending, None
        for seq, out in held:
            self.deliver(room, seq, out)

    async def next_frames(self) -> list[bytes | str] | None:
        """Wait for frames to write; None once the connection should close. Calling it again
        says the previous batch has been written."""
        self._writing = False
        while not self._outbox:
            if self._flush_then_close is not None:
                self.close(*self._flush_then_close)
            if self.close_code is not None:
                return None
            self._wake.clear()
            await self._wake.wait()
        if self.close_code is not None:
            return None
        batch, self._outbox = self._outbox, []
        self._writing = True
        self._room_for_owed.set()
        return batch

    def close(self, code: int, reason: str) -> None:
        """Ask for the connection to close now; the first reason given wins."""
        if self._corked is not None and self.close_code is None:
            self.uncork()  # what was gathered had been written already, uncorked
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self._wake.set()
            self._room_for_owed.set()
            self.closed.set()

    def close_after_flush(self, code: int, reason: str, within_s: float = 5.0) -> None:
        """Close once every frame already queued has been written (graceful shutdown, or so a
        refused client reads why), or after ``within_s`` if the client does not read."""
        if self._corked is not None and self.close_code is None:
            self.uncork()
        if self._flush_then_close is None and self.close_code is None:
            self._flush_then_close = (code, reason)
            self._wake.set()
            asyncio.get_running_loop().call_later(within_s, self.close, code, reason)
