"""Server frames of moderation and safety: answers to staff, what a restricted member is
told, the room's state, alerts to the staff on duty and the support card (§3.6, §4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from chat_server.protocol.base import ServerFrame


@dataclass(frozen=True, slots=True)
class Moderated(ServerFrame):
    """The answer to a ``moderate`` frame: what was done (moderation/service.py's view)."""

    TYPE: ClassVar[str] = "moderated"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"cid"})
    SPREAD: ClassVar[frozenset[str]] = frozenset({"done"})
    done: dict[str, Any]
    cid: str | None = None


@dataclass(frozen=True, slots=True)
class Restriction(ServerFrame):
    """Base of what a muted, kicked or banned member is told (``room`` is ``*`` for a ban
    from the whole platform); ``until`` in ms, None for no end."""

    room: str
    until: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Muted(Restriction):
    TYPE: ClassVar[str] = "muted"


@dataclass(frozen=True, slots=True)
class Kicked(Restriction):
    TYPE: ClassVar[str] = "kicked"


@dataclass(frozen=True, slots=True)
class Banned(Restriction):
    TYPE: ClassVar[str] = "banned"


RESTRICTION_FRAMES: dict[str, type[Restriction]] = {
    "mute": Muted, "kick": Kicked, "ban": Banned, "kicked": Kicked, "banned": Banned,
}


@dataclass(frozen=True, slots=True)
class Unmuted(ServerFrame):
    TYPE: ClassVar[str] = "unmuted"
    room: str


@dataclass(frozen=True, slots=True)
class Removed(ServerFrame):
    """A message was taken down; its author alone is also told why."""

    TYPE: ClassVar[str] = "removed"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"reason"})
    room: str
    id: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RoomState(ServerFrame):
    TYPE: ClassVar[str] = "room_state"
    room: str
    slow_mode_s: int
    locked: bool
    pinned: dict[str, Any] | None
    on_duty: bool  # whether a navigator is on duty for the room now


@dataclass(frozen=True, slots=True)
class Alert(ServerFrame):
    """A crisis message or question, or a report, for the staff on duty: about a message
    (``message_id``) or a question (``question`` and its venue's ``event``/``topic``)."""

    TYPE: ClassVar[str] = "alert"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"message_id", "question", "author", "reason"})
    SPREAD: ClassVar[frozenset[str]] = frozenset({"venue"})
    room: str
    kind: str  # "crisis" or "report"
    item: int  # the safety queue's id
    message_id: str | None = None
    question: str | None = None
    venue: dict[str, str] | None = None
    author: dict[str, Any] | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Resources(ServerFrame):
    """The support card, after a crisis message (``message_id``) or a private talk nobody
    took in time (``talk``); ``alerted``: whether a navigator was told."""

    TYPE: ClassVar[str] = "resources"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"message_id", "talk"})
    SPREAD: ClassVar[frozenset[str]] = frozenset({"card"})
    room: str
    alerted: bool
    card: dict[str, Any]
    message_id: str | None = None
    talk: str | None = None

    def wire(self) -> dict[str, Any]:
        # The card's fields come last, after what the card is about (as the frame always was).
        out: dict[str, Any] = {"type": "resources", "room": self.room}
        if self.message_id is not None:
            out["message_id"] = self.message_id
        if self.talk is not None:
            out["talk"] = self.talk
        out["alerted"] = self.alerted
        out.update(self.card)
        return out
