"""The socket frames of questions, parsed into typed values at the boundary.

``ask {event | topic, body, cid, anonymous?, confirm_phi?}``, ``vote {question, up, cid?}``,
``question_action {question, action, answer?, reason?, into?, cid?}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    cid = _text(raw, "cid", 64, required=kind == "ask")
    if kind == "ask":
        event, topic = raw.get("event"), raw.get("topic")
        if (event is None) == (topic is None):
            raise BadFrame("give the session as 'event' or the topic as 'topic'")
        venue = f"event:{_text(raw, 'event', 16)}" if event is not None else f"topic:{_text(raw, 'topic', 16)}"
        body = raw.get("body")
        if not isinstance(body, str):
            raise BadFrame("'body' must be a string")
        if len(body) > max_body_chars * 2:
            raise BadFrame(f"'body' is longer than {max_body_chars} characters")
        assert cid is not None
        return Ask(venue, body, cid, _flag(raw, "anonymous"), _flag(raw, "confirm_phi"))
    question = _text(raw, "question", 64)
    assert question is not None
    if kind == "vote":
        return Vote(question, _flag(raw, "up", None), cid)
    action = raw.get("action")
    try:
        parsed = QuestionAction(str(action))
    except ValueError:
        raise BadFrame("'action': approve, dismiss, merge, pin, unpin or answer") from None
    return Act(question, parsed, _text(raw, "answer", 10_000, False), _text(raw, "reason", 1000, False),
               _text(raw, "into", 64, False), cid)
