"""Vote storms: at most one count frame per question per interval, the latest count always
sent, the interval longer in a big room with several questions voted on at once.

Pure, no clock: the caller passes ``now`` and runs the timer (chat_server/questions/fanout.py).
"""

from __future__ import annotations

from dataclasses import dataclass

# A room's count frames a second on one gateway that the interval aims at once it grows (the
# cap below can exceed it, and a storm's first round does, while the questions' intervals are
# set one after another): each is a socket write per member (10-30 µs), so 4,000 is some
# 4-12 % of a core. With 1,000 members here and one question voted on, the interval stays at
# its 0.25 s; with ten, it grows to COUNT_LONGEST_S. Measured (bench/notes.md, "Questions"): at a fixed 0.25 s a
# storm of 1,000 votes on ten questions sent each of 1,000 members 520-670 frames, which
# slowed the votes themselves, which made the storm and its frames longer still.
COUNT_FRAMES_PER_S = 4000.0
# However big the room, a count is never held longer than this.
COUNT_LONGEST_S = 2.0


@dataclass(slots=True)
class _Slot:
    sent_at: float
    room: str
    interval_s: float
    held: int | None = None


class VoteCoalescer:
    """At most one vote count per question per interval, the latest count always sent.

    ``change(question_id, votes, now, room, audience)`` returns the count to send now, or None
    when it is held; ``due(now)`` returns the held counts whose interval has passed. The first
    change after a quiet interval goes out at once, so a single vote is seen without delay;
    in a storm the members get one frame per question per interval carrying the latest count,
    however many votes arrived. Pure: the caller's timer calls ``due`` at ``next_due()``.

    The interval is ``interval_s``, longer in a big room with several questions being voted
    on at once: long enough that the room's count frames would stay under ``frames_per_s``
    (``audience`` members here, times the questions with a count going out or held), and at
    most ``longest_s``. Each question's interval is set when its count goes out.
    """

    def __init__(self, interval_s: float = 0.25, frames_per_s: float = COUNT_FRAMES_PER_S,
                 longest_s: float = COUNT_LONGEST_S) -> None:
        self.interval_s = interval_s
        self._frames_per_s = frames_per_s
        self._longest_s = max(longest_s, interval_s)
        self._slots: dict[str, _Slot] = {}
        self._of_room: dict[str, set[str]] = {}  # room -> its questions with a slot
        self._audience: dict[str, int] = {}  # room -> its members here, as last told

    def change(self, question_id: str, votes: int, now: float, room: str = "",
               audience: int = 0) -> int | None:
        self._audience[room] = audience
        slot = self._slots.get(question_id)
        if slot is None or now >= slot.sent_at + slot.interval_s:
            if slot is not None and slot.room != room:  # moved to another room: not counted there
                self._leave(question_id, slot.room)
            self._slots[question_id] = _Slot(now, room, self._interval(room, question_id, now))
            self._of_room.setdefault(room, set()).add(question_id)
            return votes
        slot.held = votes
        return None

    def due(self, now: float) -> list[tuple[str, int]]:
        """Held counts whose interval has passed (each is then sent; its slot restarts)."""
        out: list[tuple[str, int]] = []
        for qid, slot in list(self._slots.items()):
            if now < slot.sent_at + slot.interval_s:  # as next_due adds it: no float gap
                continue
            if slot.held is None:
                self._forget(qid, slot.room)  # quiet for a whole interval
                continue
            out.append((qid, slot.held))
            self._slots[qid] = _Slot(now, slot.room, self._interval(slot.room, qid, now))
        return out

    def next_due(self) -> float | None:
        """When ``due`` next has something to send, or None when nothing is held."""
        times = [s.sent_at + s.interval_s for s in self._slots.values() if s.held is not None]
        return min(times) if times else None

    def _interval(self, room: str, question_id: str, now: float) -> float:
        """The interval for a count of ``room``'s going out now: this question and the
        room's others still in their interval or held count against the room's budget."""
        audience = self._audience.get(room, 0)
        if audience * (1 + len(self._of_room.get(room, ()))) <= self.interval_s * self._frames_per_s:
            return self.interval_s  # a small room (nearly all): no need to count its questions
        active = 1
        for qid in self._of_room.get(room, ()):
            s = self._slots.get(qid)
            if s is not None and qid != question_id and (s.held is not None or now < s.sent_at + s.interval_s):
                active += 1
        wanted = active * audience / self._frames_per_s
        return min(max(self.interval_s, wanted), self._longest_s)

    def _forget(self, question_id: str, room: str) -> None:
        del self._slots[question_id]
        self._leave(question_id, room)

    def _leave(self, question_id: str, room: str) -> None:
        questions = self._of_room.get(room)
        if questions is not None:
            questions.discard(question_id)
            if not questions:  # the room has gone quiet: its audience too
                del self._of_room[room]
                self._audience.pop(room, None)
