"""Red-team tests for the growing vote-count interval (commit cf180e5): rooms/vote_coalescing.py
``VoteCoalescer`` with a synthetic ``now``, and chat_server/questions/fanout.py ``Fanout`` with
real connections. The promises tried (docs/questions.md §2): counts coalesced per gateway,
always the latest; the first change after a quiet interval at once; status/pin/answer never
wait; never an older version after a newer one; a count never held longer than 2 s; 1,000
members and one question keep 0.25 s; one room's size does not lengthen another's interval."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from chat_server.gateway.connection import Connection
from chat_server.questions.fanout import Fanout
from chat_server.wire import JSON
from rooms.model import Member
from rooms.roles import Role
from rooms.vote_coalescing import COUNT_FRAMES_PER_S, COUNT_LONGEST_S, VoteCoalescer
from support.question_frames import count_change as message
from support.question_frames import received

BIG = "event-00000000000000b1"
SMALL = "event-00000000000000a1"


# --- helpers --------------------------------------------------------------------------------


def conn(user: str, room: str) -> Connection:
    c = Connection(f"c-{user}", Member(user, f"h{user}", Role.MEMBER, 1), "digest", JSON, 10_000)
    c.rooms[room] = None  # type: ignore[assignment]  # joined: only membership is read here
    return c


def by_room(*conns: Connection) -> Callable[[str, Callable[[Connection], None]], None]:
    """The hub's ``to_room``: the connections joined to that room (nothing queued)."""
    def to_room(room: str, write: Callable[[Connection], None]) -> None:
        for c in conns:
            if room in c.rooms:
                write(c)
    return to_room


async def wait_for(c: Connection, pred: Callable[[dict[str, Any]], bool], limit_s: float,
                   seen: list[dict[str, Any]]) -> float | None:
    """Poll ``c`` until a frame matches ``pred`` (all frames appended to ``seen``); the
    seconds it took, or None after ``limit_s``."""
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        frames = await received(c)
        seen.extend(frames)
        if any(pred(f) for f in frames):
            return time.monotonic() - start
        await asyncio.sleep(0.01)
    return None


class Storm:
    """Drives a pure VoteCoalescer as the Fanout does (due at every event and at next_due),
    recording every frame and, for each change, how long until its count (or a newer) went
    out."""

    def __init__(self, c: VoteCoalescer) -> None:
        self.c = c
        self.frames: list[tuple[float, str, int]] = []  # (when, question, count)
        self.pending: dict[str, list[tuple[float, int]]] = {}  # question -> held changes
        self.longest_hold = 0.0
        self.held_for: list[tuple[str, float]] = []

    def _out(self, now: float, qid: str, votes: int) -> None:
        self.frames.append((now, qid, votes))
        still = []
        for at, v in self.pending.get(qid, []):
            if v <= votes:
                self.longest_hold = max(self.longest_hold, now - at)
                self.held_for.append((qid, now - at))
            else:
                still.append((at, v))
        self.pending[qid] = still

    def _due_at(self, due: float) -> None:
        # due(next_due()) can come back empty by float rounding (see the test below): a
        # real timer fires a little late, so nudge by a nanosecond as the clock would.
        for qid, v in self.c.due(due) or self.c.due(due + 1e-9):
            self._out(due, qid, v)

    def advance(self, now: float) -> None:
        while (due := self.c.next_due()) is not None and due <= now:
            self._due_at(due)
        for qid, v in self.c.due(now):
            self._out(now, qid, v)

    def change(self, qid: str, votes: int, now: float, room: str, audience: int) -> None:
        self.advance(now)
        self.pending.setdefault(qid, []).append((now, votes))
        if self.c.change(qid, votes, now, room, audience) is not None:
            self._out(now, qid, votes)

    def drain(self) -> None:
        while (due := self.c.next_due()) is not None:
            self._due_at(due)


# --- the pure coalescer ---------------------------------------------------------------------


def test_next_due_is_the_earliest_across_rooms_with_mixed_intervals() -> None:
    c = VoteCoalescer(0.25)
    assert c.change("big", 1, 0.0, BIG, 8000) == 1  # 8000/4000: a 2 s interval
    assert c.change("big", 2, 0.01, BIG, 8000) is None
    assert c.next_due() == pytest.approx(2.0)
    assert c.change("small", 1, 0.125, SMALL, 10) == 1  # binary-exact times (see below)
    assert c.change("small", 2, 0.15, SMALL, 10) is None
    assert c.next_due() == pytest.approx(0.375)
    assert c.due(0.375) == [("small", 2)]
    assert c.due(2.0) == [("big", 2)]


@pytest.mark.parametrize("sent_at, interval", [(0.1, 0.25), (24651.61, 0.3), (1.84, 0.75), (4095.06, 2.0)])
def test_due_at_next_due_sends_the_held_count(sent_at: float, interval: float) -> None:
    """BUG (minor, float rounding; the same comparison predates cf180e5): the docstring says
    the caller's timer calls ``due`` at ``next_due()``, but next_due() is ``sent_at +
    interval`` while due() tests ``now - sent_at < interval``; for these values (sent_at +
    interval) - sent_at < interval, so due(next_due()) returns [] and next_due() still names
    that same instant. A caller with a synthetic clock loops for ever; the Fanout's real
    timer only spins a few loop turns (it re-arms with a 0 delay until the clock has moved)."""
    c = VoteCoalescer(interval)
    assert c.change("q", 1, sent_at, "r", 1) == 1
    assert c.change("q", 2, sent_at + 0.01, "r", 1) is None
    at = c.next_due()
    assert at is not None
    assert c.due(at) == [("q", 2)], f"due({at!r}) sent nothing; next_due() is still {c.next_due()!r}"


def test_a_long_two_room_storm_never_goes_backwards_never_loses_the_last_count_nor_holds_over_2s() -> None:
    """Random votes on 6 questions in a 9,000-member room and 3 in a 12-member one, the big
    room's audience wandering: per question the counts sent only rise, the last one sent is
    the last one voted, no change waits more than 2 s, and the small room's none more than
    0.25 s."""
    rnd = random.Random(7)
    s = Storm(VoteCoalescer(0.25))
    latest: dict[str, int] = {}
    now = 0.0
    for _i in range(20_000):
        now += rnd.expovariate(1 / 0.002)
        if rnd.random() < 0.7:
            qid, room, aud = f"b{rnd.randrange(6)}", BIG, rnd.choice([9000, 9000, 3000, 500])
        else:
            qid, room, aud = f"s{rnd.randrange(3)}", SMALL, 12
        latest[qid] = latest.get(qid, 0) + 1
        s.change(qid, latest[qid], now, room, aud)
    s.drain()
    per_q: dict[str, list[int]] = {}
    for _, qid, v in s.frames:
        per_q.setdefault(qid, []).append(v)
    for qid, counts in per_q.items():
        assert counts == sorted(counts) and len(set(counts)) == len(counts), qid
        assert counts[-1] == latest[qid], qid
    assert s.longest_hold <= COUNT_LONGEST_S + 1e-9
    assert max(h for q, h in s.held_for if q.startswith("s")) <= 0.25 + 1e-9


def test_one_question_to_a_thousand_members_keeps_a_quarter_second_through_a_long_storm() -> None:
    s = Storm(VoteCoalescer(0.25))
    for i in range(3000):  # 30 s of votes every 10 ms
        s.change("q", i + 1, i * 0.01, "web", 1000)
    s.drain()
    times = [t for t, _, _ in s.frames]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) == pytest.approx(0.25, abs=0.011)
    assert min(gaps) >= 0.25 - 1e-9
    assert s.frames[-1][2] == 3000


def test_audience_jumping_from_10_to_8000_mid_storm_stretches_the_next_interval_only() -> None:
    s = Storm(VoteCoalescer(0.25))
    for i in range(200):  # 2 s at 10 members: every 0.25 s
        s.change("q", i + 1, i * 0.01, "r", 10)
    before = len(s.frames)
    for i in range(200, 1000):  # then 8 s at 8,000
        s.change("q", i + 1, i * 0.01, "r", 8000)
    s.drain()
    assert before == 8  # 0, 0.25, ... 1.75
    later = [t for t, _, _ in s.frames[before:]]
    gaps = [b - a for a, b in itertools.pairwise(later)]
    # the count held at 10 members goes at 2.0 (its interval was set at 10); the next one,
    # set when 8,000 were known, waits 0.25 s; from then on 2 s
    assert gaps[0] == pytest.approx(0.25, abs=0.011), gaps
    assert len(gaps) > 2 and all(g == pytest.approx(2.0, abs=0.011) for g in gaps[1:]), gaps
    assert s.frames[-1][2] == 1000
    assert s.longest_hold <= 2.0 + 1e-9


def test_audience_falling_from_8000_to_10_shortens_the_interval_after_the_current_one() -> None:
    s = Storm(VoteCoalescer(0.25))
    for i in range(300):
        s.change("q", i + 1, i * 0.01, "r", 8000)
    for i in range(300, 800):
        s.change("q", i + 1, i * 0.01, "r", 10)
    s.drain()
    times = [t for t, _, _ in s.frames]
    late = [b - a for a, b in itertools.pairwise(times) if a >= 4.0]
    assert late and all(g == pytest.approx(0.25, abs=0.011) for g in late), late
    assert s.longest_hold <= 2.0 + 1e-9


def test_a_question_quiet_past_its_interval_does_not_count_against_the_room() -> None:
    """A slot whose interval passed with nothing held (not yet forgotten, due() not called)
    is no longer 'being voted on': the next question's interval stays 0.25 s."""
    c = VoteCoalescer(0.25)
    assert c.change("a", 1, 0.0, "web", 1000) == 1
    assert c.change("b", 1, 1.0, "web", 1000) == 1
    assert c.change("b", 2, 1.01, "web", 1000) is None
    assert c.next_due() == pytest.approx(1.25)


def test_due_pruning_other_rooms_keeps_a_live_room_s_audience() -> None:
    c = VoteCoalescer(0.25)
    assert c.change("big", 1, 0.0, BIG, 8000) == 1  # 2 s
    assert c.change("big", 2, 0.1, BIG, 8000) is None
    for i in range(20):  # twenty quiet small rooms, one vote each
        assert c.change(f"s{i}", 1, 0.0, f"room-{i}", 5) == 1
    assert c.due(0.5) == []  # the small rooms' slots go; their audiences are pruned
    assert c.due(2.0) == [("big", 2)]
    # the big room's restarted slot still used its 8,000 members: held 2 s again
    assert c.change("big", 3, 2.1, BIG, 8000) is None
    assert c.next_due() == pytest.approx(4.0)


def test_interval_longer_than_the_cap_is_kept_as_configured() -> None:
    """KINDRED_QUESTION_BATCH_S has no upper bound in config.py; the coalescer keeps a
    configured interval over COUNT_LONGEST_S (longest = max(longest, interval)), so the
    '2 s at most' holds only for the default setting. Pins the design, does not flag it."""
    c = VoteCoalescer(3.0, longest_s=2.0)
    assert c.change("q", 1, 0.0, "r", 100_000) == 1
    assert c.change("q", 2, 0.1, "r", 100_000) is None
    assert c.next_due() == pytest.approx(3.0)


@pytest.mark.parametrize("audience, questions", [(200, 10), (500, 10), (800, 10), (2000, 2), (400, 20), (100, 30)])
def test_a_long_storm_keeps_the_room_s_frame_rate_within_budget(audience: int, questions: int) -> None:
    """60 s of a vote every 5 ms spread over the questions: after the first seconds, the
    room's member-frames a second (frames x audience) average at most 4,000 when the cap is
    not reached."""
    assert questions * audience / COUNT_FRAMES_PER_S <= COUNT_LONGEST_S  # cap not reached
    s = Storm(VoteCoalescer(0.25))
    rnd = random.Random(audience * questions)
    for i in range(12_000):
        s.change(f"q{rnd.randrange(questions)}", i + 1, i * 0.005, "r", audience)
    s.drain()
    steady = [t for t, _, _ in s.frames if 5.0 <= t < 55.0]
    rate = len(steady) * audience / 50.0
    assert rate <= COUNT_FRAMES_PER_S * 1.02, rate
    # and per two-second window (the longest interval) never more than 2 s of budget + one round
    worst = max(sum(1 for t in steady if w <= t < w + 2.0) for w in [5.0 + k * 0.1 for k in range(480)])
    assert worst * audience <= 2 * COUNT_FRAMES_PER_S + questions * audience, worst


# --- the Fanout with real connections ---------------------------------------------------------


async def test_an_action_goes_out_at_once_in_a_big_room_and_the_held_older_count_never_follows() -> None:
    member = conn("m", BIG)
    fan = Fanout(by_room(member), lambda: [member], 0.05, lambda room: 800)  # 0.2 s interval
    try:
        fan.on_control(message(BIG, "q1", 1, votes=1))
        for v in range(2, 30):
            fan.on_control(message(BIG, "q1", v, votes=v))
        fan.on_control(message(BIG, "q1", 30, votes=29, votes_only=False, status="answered"))
        seen = await received(member)  # no waiting: both already queued
        assert [f["version"] for f in seen] == [1, 30]
        fan.on_control(message(BIG, "q1", 31, votes=30))
        took = await wait_for(member, lambda f: f["version"] == 31, 1.5, seen)
        assert took is not None
        await asyncio.sleep(0.25)
        seen.extend(await received(member))
        versions = [f["version"] for f in seen]
        assert versions == sorted(versions) and versions == [1, 30, 31]
    finally:
        fan.stop()


async def test_a_small_room_s_held_count_is_not_made_to_wait_for_a_big_room_s_timer() -> None:
    """BUG at cf180e5 (fixed in 434e54e, which re-arms for an earlier due): Fanout._arm
    armed its one timer only when none was armed. With per-question intervals, a big room's
    held count (2 s) arms the timer; a small room's count held afterwards is due in 0.05 s
    but waited for that 2 s timer, so one room's size lengthened another's interval."""
    big, small = conn("b", BIG), conn("s", SMALL)
    sizes = {BIG: 8000, SMALL: 10}
    fan = Fanout(by_room(big, small), lambda: [big, small], 0.05, lambda room: sizes[room])
    try:
        fan.on_control(message(BIG, "qb", 1, votes=1))
        fan.on_control(message(BIG, "qb", 2, votes=2))  # held ~2 s: the timer is armed for it
        fan.on_control(message(SMALL, "qs", 1, votes=1))  # at once
        fan.on_control(message(SMALL, "qs", 2, votes=2))  # held, due in 0.05 s
        due = fan._coalescer.next_due()
        assert due is not None and due - time.monotonic() < 0.1
        seen: list[dict[str, Any]] = []
        took = await wait_for(small, lambda f: f["votes"] == 2, 1.0, seen)
        assert took is not None, (
            "the small room's count (interval 0.05 s) was still held after 1 s: it waits "
            "for the big room's 2 s timer")
    finally:
        fan.stop()


async def test_the_armed_timer_follows_the_coalescer_s_earliest_due() -> None:
    """BUG at cf180e5 (same cause, seen directly; passes since 434e54e): after a 2 s count is held and then a 0.05 s one, the
    Fanout's timer is still set ~2 s out while the coalescer's next_due is ~0.05 s out."""
    big, small = conn("b", BIG), conn("s", SMALL)
    sizes = {BIG: 8000, SMALL: 10}
    fan = Fanout(by_room(big, small), lambda: [big, small], 0.05, lambda room: sizes[room])
    try:
        fan.on_control(message(BIG, "qb", 1, votes=1))
        fan.on_control(message(BIG, "qb", 2, votes=2))
        fan.on_control(message(SMALL, "qs", 1, votes=1))
        fan.on_control(message(SMALL, "qs", 2, votes=2))
        due = fan._coalescer.next_due()
        assert fan._timer is not None and due is not None
        assert fan._timer.when() <= due + 0.01, (
            f"timer fires {fan._timer.when() - due:.2f} s after the earliest held count is due")
    finally:
        fan.stop()


async def test_within_one_room_a_shrunk_audience_s_short_interval_is_not_held_by_the_old_timer() -> None:
    """BUG at cf180e5 (same cause, within one room; passes since 434e54e): the room had 8,000 members here (q1 held 2 s, timer armed);
    they leave, the size is read again, q2's interval is 0.05 s, but q2's held count waits for
    q1's 2 s timer."""
    member = conn("m", BIG)
    size = {"n": 8000}
    fan = Fanout(by_room(member), lambda: [member], 0.05, lambda room: size["n"])
    try:
        fan.on_control(message(BIG, "q1", 1, votes=1))
        fan.on_control(message(BIG, "q1", 2, votes=2))  # held 2 s
        size["n"] = 10
        fan._audience[BIG] = (8000, time.monotonic() - 5.0)  # the once-a-second read is due
        fan.on_control(message(BIG, "q2", 1, votes=1))  # at once, 0.05 s interval
        fan.on_control(message(BIG, "q2", 2, votes=2))  # held, due in 0.05 s
        seen: list[dict[str, Any]] = []
        took = await wait_for(member, lambda f: f["id"] == "q2" and f["votes"] == 2, 1.0, seen)
        assert took is not None, "q2's count (interval 0.05 s) still held after 1 s"
    finally:
        fan.stop()


async def test_after_a_two_room_storm_every_member_ends_on_every_question_s_last_count_in_order() -> None:
    bigs = [conn(f"b{i}", BIG) for i in range(3)]
    smalls = [conn(f"s{i}", SMALL) for i in range(2)]
    everyone = bigs + smalls
    sizes = {BIG: 8000, SMALL: 10}
    fan = Fanout(by_room(*everyone), lambda: everyone, 0.05, lambda room: sizes[room])
    rnd = random.Random(3)
    version: dict[str, int] = {}
    seen: dict[str, list[dict[str, Any]]] = {c.id: [] for c in everyone}
    try:
        for i in range(300):
            room, qid = rnd.choice([(BIG, "b1"), (BIG, "b2"), (SMALL, "s1")])
            version[qid] = version.get(qid, 0) + 1
            fan.on_control(message(room, qid, version[qid], votes=version[qid]))
            if i % 30 == 0:
                for c in everyone:
                    seen[c.id].extend(await received(c))
                await asyncio.sleep(0.01)
        deadline = time.monotonic() + COUNT_LONGEST_S + 1.0
        while fan._coalescer.next_due() is not None and time.monotonic() < deadline:  # noqa: ASYNC110 - a timer
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)
        for c in everyone:
            seen[c.id].extend(await received(c))
        for c in everyone:
            room = next(iter(c.rooms))
            for qid in [q for q in version if (q.startswith("b")) == (room == BIG)]:
                vs = [f["version"] for f in seen[c.id] if f["id"] == qid]
                assert vs == sorted(vs) and len(set(vs)) == len(vs), (c.id, qid, vs)
                assert vs and vs[-1] == version[qid], (c.id, qid, vs[-3:], version[qid])
            assert all(f["id"] in version for f in seen[c.id])
            assert all((f["id"].startswith("b")) == (room == BIG) for f in seen[c.id])
    finally:
        fan.stop()


async def test_each_room_s_size_is_read_at_most_once_a_second_not_once_a_vote() -> None:
    a, b = conn("a", BIG), conn("b", SMALL)
    reads: list[str] = []

    def audience(room: str) -> int:
        reads.append(room)
        return 50

    fan = Fanout(by_room(a, b), lambda: [a, b], 0.05, audience)
    try:
        for v in range(1, 200):
            fan.on_control(message(BIG, "x", v, votes=v))
            fan.on_control(message(SMALL, "y", v, votes=v))
        assert sorted(reads) == sorted([BIG, SMALL])
    finally:
        fan.stop()
