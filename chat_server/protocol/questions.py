"""Server frames of questions to experts (protocol §3.10, §4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from chat_server.protocol.base import ServerFrame


@dataclass(frozen=True, slots=True)
class Question(ServerFrame):
    """A question as its venue's members see it (``private``: its author and the hosts also
    see a dismissal's ``reason``)."""

    TYPE: ClassVar[str] = "question"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"merged_into", "reason"})
    SPREAD: ClassVar[frozenset[str]] = frozenset({"venue"})
    venue: dict[str, str]  # {"event": id} or {"topic": id}
    id: str
    body: str
    author: dict[str, Any] | None
    votes: int
    status: str
    answer: dict[str, Any] | None
    pinned: bool
    version: int
    at: int  # ms
    merged_into: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class QuestionAck(ServerFrame):
    """The answer to ``ask``: the question as stored (``duplicate``: already, by its cid)."""

    TYPE: ClassVar[str] = "ack"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"duplicate"})
    cid: str
    question: dict[str, Any]
    duplicate: bool | None = None


@dataclass(frozen=True, slots=True)
class Voted(ServerFrame):
    TYPE: ClassVar[str] = "voted"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"cid"})
    SPREAD: ClassVar[frozenset[str]] = frozenset({"vote"})
    vote: dict[str, Any]
    cid: str | None = None


@dataclass(frozen=True, slots=True)
class QuestionDone(ServerFrame):
    TYPE: ClassVar[str] = "question_done"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"cid"})
    action: str
    question: dict[str, Any]
    cid: str | None = None
