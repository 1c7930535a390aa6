"""Questions to experts: the pure rules (rooms/questions.py), with an explicit ``now``."""

from __future__ import annotations

import pytest

from rooms.errors import RoomError
from rooms.model import Community, Member
from rooms.questions import (
    ANONYMOUS_LABEL,
    Question,
    QuestionAction,
    QuestionActionRefused,
    QuestionsClosed,
    QuestionStatus,
    VoteCoalescer,
    VoteRefused,
    apply_action,
    author_for,
    check_event_open,
    check_topic_open,
    check_vote,
    initial_status,
    may_manage,
    public_author,
    reveal_author,
    visible_to,
)
from rooms.roles import Role

ASKER = Member("u-ask", "quiet_heron", Role.MEMBER, org_id=1)
VOTER = Member("u-vote", "steady_oak", Role.MEMBER, org_id=1)
EXPERT = Member("u-exp", "dr_lind", Role.EXPERT, org_id=None)
NAV = Member("u-nav", "nav_sam", Role.NAVIGATOR, org_id=1)
OTHER_NAV = Member("u-nav2", "nav_kim", Role.NAVIGATOR, org_id=2)
LOCAL = Community("riverside-caregivers", "Caregivers", "support", "", org_id=1)


def q(status: QuestionStatus = QuestionStatus.OPEN, **kw: object) -> Question:
    base: dict[str, object] = dict(
        id="q1", venue="event:7", author=ASKER, anonymous=False, body="Can I eat grapefruit?",
        status=status,
    )
    base.update(kw)
    return Question(**base)  # type: ignore[arg-type]


# --- asking ---------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["scheduled", "lobby", "live"])
def test_a_session_takes_questions_in_advance_and_live(state: str) -> None:
    check_event_open(state)


@pytest.mark.parametrize("state", ["ended", "archived", "cancelled"])
def test_a_session_that_is_over_takes_no_questions(state: str) -> None:
    with pytest.raises(QuestionsClosed) as err:
        check_event_open(state)
    assert err.value.code == "questions_closed"


def test_a_topic_takes_questions_only_inside_its_half_open_window() -> None:
    with pytest.raises(QuestionsClosed):
        check_topic_open(100.0, 200.0, 99.999)
    check_topic_open(100.0, 200.0, 100.0)
    check_topic_open(100.0, 200.0, 199.999)
    with pytest.raises(QuestionsClosed):
        check_topic_open(100.0, 200.0, 200.0)


def test_moderated_venues_start_questions_pending() -> None:
    assert initial_status(True) is QuestionStatus.PENDING
    assert initial_status(False) is QuestionStatus.OPEN


# --- voting ---------------------------------------------------------------------------------


def test_members_vote_for_open_questions_of_others() -> None:
    check_vote(q(), VOTER.id)


def test_the_author_cannot_vote_for_their_own_even_anonymous() -> None:
    for anonymous in (False, True):
        with pytest.raises(VoteRefused) as err:
            check_vote(q(anonymous=anonymous), ASKER.id)
        assert err.value.fields() == {"reason": "own_question"}


@pytest.mark.parametrize(
    "status", [QuestionStatus.PENDING, QuestionStatus.ANSWERED, QuestionStatus.DISMISSED]
)
def test_only_open_questions_take_votes(status: QuestionStatus) -> None:
    with pytest.raises(VoteRefused) as err:
        check_vote(q(status), VOTER.id)
    assert err.value.fields() == {"reason": "not_open"}


# --- who manages ----------------------------------------------------------------------------


def test_hosts_and_room_staff_manage_questions_members_and_strangers_do_not() -> None:
    assert may_manage(EXPERT, ["u-exp"], LOCAL, frozenset())  # the session's host
    assert may_manage(NAV, [], LOCAL, frozenset())  # staff of their own organization's room
    assert not may_manage(OTHER_NAV, [], LOCAL, frozenset())  # another organization's navigator
    assert not may_manage(VOTER, [], LOCAL, frozenset())
    assert not may_manage(EXPERT, ["someone-else"], LOCAL, frozenset())


# --- actions --------------------------------------------------------------------------------


def test_approve_opens_a_pending_question_and_nothing_else() -> None:
    assert apply_action(q(QuestionStatus.PENDING), QuestionAction.APPROVE, actor=NAV, now_ms=1).status is QuestionStatus.OPEN
    for status in (QuestionStatus.OPEN, QuestionStatus.ANSWERED, QuestionStatus.DISMISSED):
        with pytest.raises(QuestionActionRefused):
            apply_action(q(status), QuestionAction.APPROVE, actor=NAV, now_ms=1)


def test_dismiss_keeps_the_reason_for_the_author_and_unpins() -> None:
    out = apply_action(q(pinned=True), QuestionAction.DISMISS, actor=NAV, now_ms=1, reason="Asked already")
    assert (out.status, out.pinned, out.dismiss_reason) == (QuestionStatus.DISMISSED, False, "Asked already")
    with pytest.raises(QuestionActionRefused):
        apply_action(out, QuestionAction.DISMISS, actor=NAV, now_ms=2)
    with pytest.raises(QuestionActionRefused):
        apply_action(q(), QuestionAction.DISMISS, actor=NAV, now_ms=1, reason="x" * 501)


def test_merge_needs_another_live_question_of_the_same_venue() -> None:
    target = q(id="q2")
    out = apply_action(q(), QuestionAction.MERGE, actor=NAV, now_ms=1, into=target)
    assert (out.status, out.merged_into) == (QuestionStatus.DISMISSED, "q2")
    bad_targets = [None, q(), q(id="q3", venue="event:8"), q(QuestionStatus.DISMISSED, id="q4")]
    for into in bad_targets:
        with pytest.raises(QuestionActionRefused):
            apply_action(q(), QuestionAction.MERGE, actor=NAV, now_ms=1, into=into)


def test_pin_only_what_the_audience_can_see() -> None:
    assert apply_action(q(), QuestionAction.PIN, actor=NAV, now_ms=1).pinned
    assert apply_action(q(QuestionStatus.ANSWERED), QuestionAction.PIN, actor=NAV, now_ms=1).pinned
    for status in (QuestionStatus.PENDING, QuestionStatus.DISMISSED):
        with pytest.raises(QuestionActionRefused):
            apply_action(q(status), QuestionAction.PIN, actor=NAV, now_ms=1)
    assert not apply_action(q(pinned=True), QuestionAction.UNPIN, actor=NAV, now_ms=1).pinned


def test_answer_with_and_without_text_and_correcting_it() -> None:
    spoken = apply_action(q(), QuestionAction.ANSWER, actor=EXPERT, now_ms=5)
    assert spoken.status is QuestionStatus.ANSWERED and spoken.answer is None
    written = apply_action(q(), QuestionAction.ANSWER, actor=EXPERT, now_ms=5, answer="  Ask your pharmacist.  ")
    assert written.answer is not None
    assert (written.answer.body, written.answer.by_handle, written.answer.by_role, written.answer.at_ms) == (
        "Ask your pharmacist.", "dr_lind", "expert", 5,
    )
    again = apply_action(written, QuestionAction.ANSWER, actor=EXPERT, now_ms=9, answer="Ask your oncologist.")
    assert again.answer is not None and again.answer.body == "Ask your oncologist."
    kept = apply_action(written, QuestionAction.ANSWER, actor=EXPERT, now_ms=9)
    assert kept.answer == written.answer  # marking answered again does not erase the text
    with pytest.raises(QuestionActionRefused):
        apply_action(q(QuestionStatus.DISMISSED), QuestionAction.ANSWER, actor=EXPERT, now_ms=1)
    with pytest.raises(QuestionActionRefused):
        apply_action(q(), QuestionAction.ANSWER, actor=EXPERT, now_ms=1, answer="x" * 8001)


def test_refusals_are_room_errors_with_stable_codes() -> None:
    with pytest.raises(RoomError) as err:
        apply_action(q(QuestionStatus.DISMISSED), QuestionAction.APPROVE, actor=NAV, now_ms=1)
    assert err.value.code == "invalid_action"


# --- visibility and anonymity ----------------------------------------------------------------


@pytest.mark.parametrize("status", [QuestionStatus.PENDING, QuestionStatus.DISMISSED])
def test_pending_and_dismissed_are_seen_by_the_author_and_hosts_only(status: QuestionStatus) -> None:
    question = q(status)
    assert visible_to(question, ASKER.id, viewer_manages=False)
    assert visible_to(question, NAV.id, viewer_manages=True)
    assert not visible_to(question, VOTER.id, viewer_manages=False)


@pytest.mark.parametrize("status", [QuestionStatus.OPEN, QuestionStatus.ANSWERED])
def test_open_and_answered_are_seen_by_everyone_in_the_venue(status: QuestionStatus) -> None:
    assert visible_to(q(status), VOTER.id, viewer_manages=False)


def test_an_anonymous_author_is_hidden_from_everyone_hosts_included() -> None:
    shown = public_author(q(anonymous=True))
    assert shown == {"anonymous": True, "handle": ANONYMOUS_LABEL}
    assert ASKER.id not in repr(shown) and ASKER.handle not in repr(shown)
    assert author_for(q(anonymous=True), VOTER.id) == {**shown, "mine": False}
    assert author_for(q(anonymous=True), ASKER.id) == {**shown, "mine": True}
    assert reveal_author(q(anonymous=True)) == ASKER.public()


def test_a_named_author_is_shown_by_handle_never_by_organization() -> None:
    shown = public_author(q())
    assert shown == {"anonymous": False, "id": "u-ask", "handle": "quiet_heron", "role": "member"}


# --- coalescing vote storms ----------------------------------------------------------------


def test_the_first_vote_after_a_quiet_interval_goes_out_at_once() -> None:
    c = VoteCoalescer(0.25)
    assert c.change("q1", 1, now=10.0) == 1
    assert c.next_due() is None
    assert c.due(10.3) == []  # nothing held; the slot is forgotten
    assert c.change("q1", 2, now=10.31) == 2


def test_a_storm_sends_one_count_per_interval_the_latest() -> None:
    c = VoteCoalescer(0.25)
    sent = [c.change("q1", 1, now=0.0)]
    for i, t in enumerate([0.01, 0.02, 0.1, 0.2], start=2):
        assert c.change("q1", i, now=t) is None
    assert c.next_due() == pytest.approx(0.25)
    assert c.due(0.249) == []
    assert c.due(0.25) == [("q1", 5)]
    sent.append(5)
    assert c.change("q1", 6, now=0.3) is None  # inside the new interval
    assert c.due(0.5) == [("q1", 6)]
    assert sent == [1, 5]


def test_questions_coalesce_independently() -> None:
    c = VoteCoalescer(0.25)
    assert c.change("a", 1, now=0.0) == 1
    assert c.change("b", 1, now=0.1) == 1
    assert c.change("a", 2, now=0.2) is None
    assert c.change("b", 2, now=0.2) is None
    assert c.due(0.25) == [("a", 2)]
    assert c.due(0.4) == [("b", 2)]


def test_a_thousand_votes_in_one_interval_cost_two_frames() -> None:
    c = VoteCoalescer(0.25)
    frames = [v for i in range(1000) if (v := c.change("q", i + 1, now=i * 0.0002)) is not None]
    frames += [v for _, v in c.due(0.25)]
    assert frames == [1, 1000]


def test_a_small_room_keeps_the_short_interval_whatever_the_questions() -> None:
    c = VoteCoalescer(0.25, frames_per_s=4000, longest_s=2.0)
    for q in "abcdefghij":  # ten questions voted on at once, 40 members here
        assert c.change(q, 1, now=0.0, room="r", audience=40) == 1
        assert c.change(q, 2, now=0.01, room="r", audience=40) is None
    assert c.next_due() == pytest.approx(0.25)
    assert len(c.due(0.25)) == 10


def test_a_big_room_s_interval_grows_with_its_questions_to_a_cap() -> None:
    c = VoteCoalescer(0.25, frames_per_s=4000, longest_s=2.0)
    # 1,000 members here: one question alone keeps 0.25 s (1,000 frames a quarter second).
    assert c.change("a", 1, now=0.0, room="web", audience=1000) == 1
    assert c.change("a", 2, now=0.1, room="web", audience=1000) is None
    assert c.due(0.25) == [("a", 2)]
    # Then three more: each counts the room's live questions when its count goes out, so
    # b, c and d hold for 0.5, 0.75 and 1 s (four at once: 4,000 frames a second at 1 s).
    for q in "bcd":
        assert c.change(q, 1, now=0.3, room="web", audience=1000) == 1
        assert c.change(q, 2, now=0.31, room="web", audience=1000) is None
    assert c.due(0.79) == []
    assert c.due(0.8) == [("b", 2)]
    assert c.due(1.05) == [("c", 2)]
    assert c.due(1.29) == []
    assert c.due(1.3) == [("d", 2)]
    c2 = VoteCoalescer(0.25, frames_per_s=4000, longest_s=2.0)
    for q in "abcdefghij":
        c2.change(q, 1, now=0.0, room="web", audience=1000)
        c2.change(q, 2, now=0.01, room="web", audience=1000)
    assert c2.next_due() == pytest.approx(0.25)  # the first set its interval alone
    # Each question's next interval counts the room's ten: capped at 2 s.
    c2.due(5.0)
    assert c2.next_due() is None
    for q in "abcdefghij":
        c2.change(q, 3, now=5.01, room="web", audience=1000)
    assert c2.next_due() == pytest.approx(7.0)


def test_another_room_does_not_lengthen_this_one_s_interval() -> None:
    c = VoteCoalescer(0.25, frames_per_s=4000, longest_s=2.0)
    for q in "abcdefghij":
        c.change(f"web-{q}", 1, now=0.0, room="web", audience=1000)
        c.change(f"web-{q}", 2, now=0.01, room="web", audience=1000)
    assert c.change("small", 1, now=0.0, room="small", audience=10) == 1
    assert c.change("small", 2, now=0.01, room="small", audience=10) is None
    assert ("small", 2) in c.due(0.25)


def test_a_storm_to_a_thousand_members_stays_within_the_room_s_budget() -> None:
    """1,000 votes over 10 s on ten questions, 1,000 members here: the count frames to each
    member stay near the budget (4,000 a second for the room, 4 a member), not one a vote or
    four a question a second (400)."""
    c = VoteCoalescer(0.25, frames_per_s=4000, longest_s=2.0)
    frames, now = 0, 0.0
    for i in range(1000):
        now = i * 0.01
        frames += sum(1 for _ in c.due(now))
        frames += c.change(f"q{i % 10}", i, now=now, room="web", audience=1000) is not None
    while (due := c.next_due()) is not None:
        frames += len(c.due(due))
    assert frames <= 10 * 4 + 10 * (10 / 2.0) + 10, frames  # the first of each, then capped
    assert frames >= 10 * (10 / 2.0), frames  # and the counts still move every 2 s at most
