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
