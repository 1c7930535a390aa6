"""Questions to experts: who may ask, vote and act, what each action does, who sees what.

Pure rules, no storage and no clock: the caller passes the question as stored, the facts about
the actor (``may_manage``: a host of the session, a named expert of the topic, or staff who may
moderate the room) and ``now`` where time matters. The transport turns the errors raised here
into error frames or HTTP answers like every other ``RoomError``.

A question lives in one *venue*: a webinar session (``event``) or an Ask the Expert topic
(``topic``). Its life:

    pending --approve--> open --answer--> answered
       |                  |  \\--pin/unpin (only one pinned per venue: the caller unpins the rest)
       '---dismiss/merge--'--> dismissed

An unmoderated venue skips ``pending``. ``merge`` dismisses a duplicate into another question
of the same venue; its votes move there (the store does that, minus votes the target's author
or its existing voters already hold). An answered question may be answered again (to correct
the text) but not re-opened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from rooms.errors import RoomError
from rooms.model import Community, Member
from rooms.moderation import may_moderate_room

ANONYMOUS_LABEL = "a member"
"""What everyone but the author is shown instead of an anonymous author's handle."""

MAX_ANSWER_CHARS = 8000
MAX_REASON_CHARS = 500


class QuestionStatus(StrEnum):
    PENDING = "pending"
    OPEN = "open"
    ANSWERED = "answered"
    DISMISSED = "dismissed"


class QuestionAction(StrEnum):
    """A host's action on a question; the value is its name on the wire (``question_action``)."""

    APPROVE = "approve"
    DISMISS = "dismiss"
    MERGE = "merge"
    PIN = "pin"
    UNPIN = "unpin"
    ANSWER = "answer"


# --- Errors ---------------------------------------------------------------------------------


class NoSuchQuestion(RoomError):
    """The question does not exist or is not visible to this member (not told apart)."""

    code = "no_such_question"
    http_status = 404


class QuestionsClosed(RoomError):
    """The venue does not take questions now (a session that ended, a topic out of its window)."""

    code = "questions_closed"
    http_status = 409


class VoteRefused(RoomError):
    """A vote the rules do not allow: one's own question, or a question not open for votes."""

    code = "vote_refused"
    http_status = 409

    def __init__(self, reason: str) -> None:
        super().__init__(_VOTE_DETAIL[reason])
        self.reason = reason

    def fields(self) -> dict[str, object]:
        return {"reason": self.reason}


class QuestionActionRefused(RoomError):
    """A host's action that makes no sense for the question's state (nothing is changed)."""

    code = "invalid_action"
    http_status = 409

    def __init__(self, detail: str) -> None:
        super().__init__(detail)


class NotQuestionHost(RoomError):
    """Only the session's hosts, the topic's experts and the room's staff act on questions."""

    code = "forbidden"
    http_status = 403

    def fields(self) -> dict[str, object]:
        return {"reason": "not_host"}


OWN_QUESTION = "own_question"
NOT_OPEN = "not_open"
ALREADY_VOTED = "already_voted"
NOT_VOTED = "not_voted"
_VOTE_DETAIL = {
    OWN_QUESTION: "you cannot vote for your own question",
    NOT_OPEN: "this question is not open for votes",
    ALREADY_VOTED: "you have already voted for this question",
    NOT_VOTED: "you have not voted for this question",
}


# --- The question ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    body: str
    by_handle: str
    by_role: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class Question:
    """A question as stored. ``author`` is always kept; ``anonymous`` decides who is shown it."""

    id: str
    venue: str  # "event:<id>" or "topic:<id>"
    author: Member
    anonymous: bool
    body: str
    status: QuestionStatus
    votes: int = 0
    pinned: bool = False
    answer: Answer | None = None
    merged_into: str | None = None
    dismiss_reason: str | None = None
    created_ms: int = 0


def may_manage(
    actor: Member,
    hosts: Iterable[str],
    community: Community,
    assigned: frozenset[str],
) -> bool:
    """True when ``actor`` may act on the questions of a venue in ``community``.

    ``hosts`` are the member ids of the session's hosts or the topic's experts; besides them,
    the staff who may moderate the room (``rooms.moderation.may_moderate_room``). A host of a
    session in another organization's room acts only on that session's questions, which is
    why the caller passes the venue's own hosts.
    """
    return actor.id in set(hosts) or may_moderate_room(actor, community, assigned)


# --- Asking ---------------------------------------------------------------------------------

# Session states in which a webinar takes questions: in advance (scheduled, and the lobby,
# which is still before the start) and while live; never once it has ended or was cancelled.
_ASKING_STATES = frozenset({"scheduled", "lobby", "live"})


def check_event_open(state: str) -> None:
    """Raise ``QuestionsClosed`` unless a session in ``state`` takes questions."""
    if state not in _ASKING_STATES:
        raise QuestionsClosed("this session no longer takes questions")


def check_topic_open(opens_at: float, closes_at: float, now: float) -> None:
    """Raise ``QuestionsClosed`` outside a topic's half-open window ``[opens_at, closes_at)``."""
    if now < opens_at:
        raise QuestionsClosed("this topic is not open for questions yet")
    if now >= closes_at:
        raise QuestionsClosed("this topic has closed; the expert is answering")


def initial_status(moderated: bool) -> QuestionStatus:
    """A new question waits for review in a moderated venue and is open otherwise."""
    return QuestionStatus.PENDING if moderated else QuestionStatus.OPEN


# --- Voting ---------------------------------------------------------------------------------


def check_vote(question: Question, voter_id: str) -> None:
    """Raise ``VoteRefused`` unless ``voter_id`` may vote for ``question`` now.

    Only open questions take votes (not pending, answered or dismissed ones), and never from
    their author, anonymous or not. Withdrawing a vote follows the same rule, so a dismissed
    question's count stays as it was when it was dismissed.
    """
    if question.author.id == voter_id:
        raise VoteRefused(OWN_QUESTION)
    if question.status is not QuestionStatus.OPEN:
        raise VoteRefused(NOT_OPEN)


# --- Hosts' actions -------------------------------------------------------------------------


def apply_action(
    question: Question,
    action: QuestionAction,
    *,
    actor: Member,
    now_ms: int,
    answer: str | None = None,
    reason: str | None = None,
    into: Question | None = None,
) -> Question:
    """Return ``question`` after ``action``; raise ``QuestionActionRefused`` when it makes no sense.

    The caller has checked ``may_manage``. ``answer`` is the written answer (optional for
    ``answer``), ``reason`` the note the author sees on ``dismiss``, ``into`` the question a
    duplicate is merged into (same venue, not itself, not dismissed). Pinning one question does
    not unpin the others here: the caller unpins them in the same transaction.
    """
    status = question.status
    if action is QuestionAction.APPROVE:
        if status is not QuestionStatus.PENDING:
            raise QuestionActionRefused("only a question awaiting review can be approved")
        return replace(question, status=QuestionStatus.OPEN)
    if action is QuestionAction.DISMISS:
        if status not in (QuestionStatus.PENDING, QuestionStatus.OPEN):
            raise QuestionActionRefused("only a question awaiting review or open can be dismissed")
        if reason is not None and len(reason) > MAX_REASON_CHARS:
            raise QuestionActionRefused(f"a reason has at most {MAX_REASON_CHARS} characters")
        return replace(
            question, status=QuestionStatus.DISMISSED, pinned=False, dismiss_reason=reason or None
        )
    if action is QuestionAction.MERGE:
        if status not in (QuestionStatus.PENDING, QuestionStatus.OPEN):
            raise QuestionActionRefused("only a question awaiting review or open can be merged")
        if into is None or into.id == question.id or into.venue != question.venue:
            raise QuestionActionRefused("merge needs another question of the same session or topic")
        if into.status is QuestionStatus.DISMISSED:
            raise QuestionActionRefused("a question cannot be merged into a dismissed one")
        return replace(
            question, status=QuestionStatus.DISMISSED, pinned=False, merged_into=into.id
        )
    if action is QuestionAction.PIN:
        if status not in (QuestionStatus.OPEN, QuestionStatus.ANSWERED):
            raise QuestionActionRefused("only an open or answered question can be pinned")
        return replace(question, pinned=True)
    if action is QuestionAction.UNPIN:
        return replace(question, pinned=False)
    if action is QuestionAction.ANSWER:
        if status not in (QuestionStatus.PENDING, QuestionStatus.OPEN, QuestionStatus.ANSWERED):
            raise QuestionActionRefused("a dismissed question cannot be answered")
        text = (answer or "").strip()
        if len(text) > MAX_ANSWER_CHARS:
            raise QuestionActionRefused(f"an answer has at most {MAX_ANSWER_CHARS} characters")
        written = (
            Answer(text, actor.handle, actor.role.value, now_ms) if text else question.answer
        )
        return replace(question, status=QuestionStatus.ANSWERED, answer=written)
    raise QuestionActionRefused(f"unknown action {action!r}")  # pragma: no cover - enum is closed


# --- Who sees what --------------------------------------------------------------------------


def visible_to(question: Question, viewer_id: str, viewer_manages: bool) -> bool:
    """Pending and dismissed questions are seen only by their author and the venue's hosts."""
    if question.status in (QuestionStatus.OPEN, QuestionStatus.ANSWERED):
        return True
    return viewer_manages or question.author.id == viewer_id


def public_author(question: Question) -> dict[str, object]:
    """The author as every other member is shown them, the same bytes for every recipient.

    An anonymous author is ``{"anonymous": true, "handle": "a member"}``, for hosts and staff
    too: revealing who asked is a separate, audited act (``reveal_author``), never a side effect
    of looking at the queue. A client knows its own anonymous questions by the ids it was given
    when asking, so the live frame need not differ per recipient.
    """
    if question.anonymous:
        return {"anonymous": True, "handle": ANONYMOUS_LABEL}
    return {"anonymous": False, **question.author.public()}


def author_for(question: Question, viewer_id: str) -> dict[str, object]:
    """``public_author`` plus ``mine`` for the viewer: lists over HTTP, answered per viewer."""
    return {**public_author(question), "mine": question.author.id == viewer_id}


def reveal_author(question: Question) -> dict[str, str]:
    """The anonymous author's public identity, for a host who chose to reveal it (audited)."""
    return question.author.public()
