"""The socket frames of questions, parsed into typed values at the boundary.

``ask {event | topic, body, cid, anonymous?, confirm_phi?}``, ``vote {question, up, cid?}``,
``question_action {question, action, answer?, reason?, into?, cid?}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from chat_server.gateway import frame_rules as rules
from chat_server.gateway.frame_rules import Echo, Incoming, OptionalCid
from rooms.errors import BadFrame
from rooms.questions import QuestionAction

KINDS = frozenset({"ask", "vote", "question_action"})


@dataclass(frozen=True, slots=True)
class Ask:
    venue: str  # "event:<id>" or "topic:<id>"
    body: str
    cid: str
    anonymous: bool
    confirm_phi: bool


@dataclass(frozen=True, slots=True)
class Vote:
    question: str
    up: bool
    cid: str | None


@dataclass(frozen=True, slots=True)
class Act:
    question: str
    action: QuestionAction
    answer: str | None
    reason: str | None
    into: str | None
    cid: str | None


QuestionFrame = Ask | Vote | Act


def _text(raw: dict[str, Any], key: str, max_len: int, required: bool = True) -> str | None:
    value = raw.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise BadFrame(f"'{key}' must be a {'non-empty ' if required else ''}string")
    if len(value) > max_len:
        raise BadFrame(f"'{key}' is longer than {max_len} characters")
    return value


def _flag(raw: dict[str, Any], key: str, default: bool | None = False) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise BadFrame(f"'{key}' must be true or false")
    return value


def parse(kind: str, raw: dict[str, Any], max_body_chars: int) -> QuestionFrame:
    cid = _text(raw, "cid", rules.MAX_CID, required=kind == "ask")
    if kind == "ask":
        event, topic = raw.get("event"), raw.get("topic")
        if (event is None) == (topic is None):
            raise BadFrame("give the session as 'event' or the topic as 'topic'")
        venue = (f"event:{_text(raw, 'event', rules.MAX_VENUE)}" if event is not None
                 else f"topic:{_text(raw, 'topic', rules.MAX_VENUE)}")
        body = raw.get("body")
        if not isinstance(body, str):
            raise BadFrame("'body' must be a string")
        if len(body) > max_body_chars * rules.BODY_FACTOR:
            raise BadFrame(f"'body' is longer than {max_body_chars} characters")
        assert cid is not None
        return Ask(venue, body, cid, _flag(raw, "anonymous"), _flag(raw, "confirm_phi"))
    question = _text(raw, "question", rules.MAX_QUESTION)
    assert question is not None
    if kind == "vote":
        return Vote(question, _flag(raw, "up", None), cid)
    action = raw.get("action")
    try:
        parsed = QuestionAction(str(action))
    except ValueError:
        raise BadFrame("'action': approve, dismiss, merge, pin, unpin or answer") from None
    return Act(question, parsed, _text(raw, "answer", rules.MAX_ANSWER, False),
               _text(raw, "reason", rules.MAX_QUESTION_REASON, False), _text(raw, "into", rules.MAX_QUESTION, False),
               cid)


# The same frames as msgspec structs (gateway/frames.read_fast), admitting only what parse
# above reads to the same value.
_Venue = Annotated[str, msgspec.Meta(min_length=1, max_length=rules.MAX_VENUE)] | None
_Question = Annotated[str, msgspec.Meta(min_length=1, max_length=rules.MAX_QUESTION)]
_Answer = Annotated[str, msgspec.Meta(max_length=rules.MAX_ANSWER)] | None
_Reason = Annotated[str, msgspec.Meta(max_length=rules.MAX_QUESTION_REASON)] | None
_Into = Annotated[str, msgspec.Meta(max_length=rules.MAX_QUESTION)] | None


class AskIn(Incoming, tag="ask"):
    body: str
    cid: rules.Cid
    event: _Venue = None
    topic: _Venue = None
    anonymous: bool = False
    confirm_phi: bool = False

    def typed(self, max_body_chars: int) -> tuple[Ask, Echo] | None:
        if (self.event is None) == (self.topic is None) or len(self.body) > max_body_chars * rules.BODY_FACTOR:
            return None
        venue = f"event:{self.event}" if self.event is not None else f"topic:{self.topic}"
        return Ask(venue, self.body, self.cid, self.anonymous, self.confirm_phi), {"cid": self.cid}


class VoteIn(Incoming, tag="vote"):
    question: _Question
    up: bool
    cid: OptionalCid = None

    def typed(self, max_body_chars: int) -> tuple[Vote, Echo] | None:
        return Vote(self.question, self.up, self.cid), {"cid": self.cid}


class ActIn(Incoming, tag="question_action"):
    question: _Question
    action: QuestionAction
    answer: _Answer = None
    reason: _Reason = None
    into: _Into = None
    cid: OptionalCid = None

    def typed(self, max_body_chars: int) -> tuple[Act, Echo] | None:
        return Act(self.question, self.action, self.answer, self.reason, self.into, self.cid), {"cid": self.cid}
