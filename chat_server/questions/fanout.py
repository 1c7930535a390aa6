"""The receiving gateway's side of questions: ``question`` frames to the members of the
session's room on this gateway who may see them, vote storms coalesced.

Each change arrives once per gateway on the control channel with the question's ``version``.
A gateway never sends an older version of a question after a newer one. A change of status,
pin or answer goes out at once; a change of the count alone goes through the ``VoteCoalescer``
(at most one frame per question per ``interval_s``, always the latest count; longer in a big
room with several questions voted on at once, rooms/vote_coalescing.py), so 1,000 voters cost each
member a few frames, not 1,000. Frames are encoded once per wire format and the
same bytes go to every recipient.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from chat_server.gateway.connection import Connection
from chat_server.gateway.fanout import Write
from chat_server.protocol.base import encode_for
from chat_server.protocol.control import QuestionChanged
from chat_server.protocol.social import Notification
from rooms.vote_coalescing import VoteCoalescer

_MAX_TRACKED = 100_000
# How long a room's count of members here is taken as it is (the coalescer's interval).
_AUDIENCE_S = 1.0


class Fanout:
    def __init__(
        self, to_room: Callable[[str, Write], None],
        connections: Callable[[], list[Connection]], interval_s: float,
        audience: Callable[[str], int] = lambda room: 0,
    ) -> None:
        # Writes to the room's connections on this gateway in the room's order, in turns in
        # a webinar (gateway/fanout.py): behind the messages still going out, never ahead.
        self._to_room = to_room
        self._all = connections
        self._coalescer = VoteCoalescer(interval_s)
        self._sent: dict[str, int] = {}  # question id -> last version sent from here
        self._held: dict[str, QuestionChanged] = {}  # question id -> newest count change held
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # when the armed timer fires (time.monotonic)
        self._count_here = audience  # the room's members on this gateway
        self._audience: dict[str, tuple[int, float]] = {}  # room -> (members here, when read)
        self.frames_sent = 0  # to members (bench and tests read it through /metrics-free logs)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def on_control(self, message: QuestionChanged) -> None:
        qid, version = message.q, message.version
        if version <= self._sent.get(qid, -1):
            return  # older than what members here were shown
        if message.votes_only:
            held = self._held.get(qid)
            if held is None or held.version < version:
                self._held[qid] = message
            now = time.monotonic()
            room = message.room
            if self._coalescer.change(qid, version, now, room, self._audience_of(room, now)) is not None:
                self._deliver(self._held.pop(qid))
            else:
                self._arm()
        else:
            held = self._held.get(qid)
            if held is not None and held.version <= version:
                del self._held[qid]
            self._deliver(message)
        self._notify(message)

    def _audience_of(self, room: str, now: float) -> int:
        """The room's members on this gateway, read at most once a ``_AUDIENCE_S`` (a vote
        storm calls this for every vote)."""
        known = self._audience.get(room)
        if known is None or now - known[1] >= _AUDIENCE_S:
            if len(self._audience) > _MAX_TRACKED:
                self._audience.clear()
            known = self._audience[room] = (self._count_here(room), now)
        return known[0]

    def _arm(self) -> None:
        """The timer at the coalescer's next due count. Earlier than the armed one, it replaces
        it: intervals differ between rooms, and a small room's count must not wait for a big
        room's 2 s."""
        at = self._coalescer.next_due()
        if at is None:
            return
        if self._timer is not None:
            if self._timer_at <= at:
                return
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer_at = at
        self._timer = loop.call_later(max(0.0, at - time.monotonic()), self._flush)

    def _flush(self) -> None:
        self._timer = None
        for qid, _version in self._coalescer.due(time.monotonic()):
            held = self._held.pop(qid, None)
            if held is not None and held.version > self._sent.get(qid, -1):
                self._deliver(held)
        self._arm()

    def _deliver(self, message: QuestionChanged) -> None:
        qid = message.q
        self._sent[qid] = message.version
        if len(self._sent) > _MAX_TRACKED:
            for stale in list(self._sent)[: _MAX_TRACKED // 10]:
                del self._sent[stale]
        room, public, see = message.room, message.public, set(message.see)
        encoded: dict[tuple[str, bool], bytes | str] = {}

        def write(conn: Connection) -> None:
            if room not in conn.rooms:
                return  # left the room while the frame waited its turn
            private = conn.member.id in see or room in conn.staff_in
            if not (public or private):
                return
            key = (conn.protocol, private)
            data = encoded.get(key)
            if data is None:
                data = encoded[key] = encode_for(conn.protocol, message.private if private else message.frame)
            conn.push(data)
            self.frames_sent += 1

        self._to_room(room, write)

    def _notify(self, message: QuestionChanged) -> None:
        notify, to = message.notify, set(message.to)
        if notify is None or not to:
            return
        for conn in self._all():
            if conn.member.id in to:
                conn.push(encode_for(conn.protocol, Notification(notify)))
