"""Moderation events, typed: what one gateway tells every gateway on the control channel.

moderation's ``service.py`` and ``safety.py`` publish them (``control.encode``); each gateway
decodes them (``control.decode``, which calls ``parse``), updates its facts cache
(``moderation/facts.py``) and applies them to its own connections (``gateway/moderating.py``).
The encoded form is a msgpack map ``{"op": "mod", "t": ...}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chat_server.protocol import moderation as frames
from rooms.moderation import RestrictionKind


@dataclass(frozen=True, slots=True)
class Restricted:
    """A member was muted, kicked or banned in a room."""

    room: str
    user: str  # public id
    kind: RestrictionKind
    until_ms: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Lifted:
    """Restrictions of these kinds on a member in a room were lifted."""

    room: str
    user: str
    kinds: frozenset[str]


@dataclass(frozen=True, slots=True)
class StateChanged:
    room: str
    slow_mode_s: int
    locked: bool
    pinned: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class MessageRemoved:
    room: str
    message_id: str
    author: str  # public id: the author is told why
    reason: str


@dataclass(frozen=True, slots=True)
class PlatformBanned:
    user: str
    until_ms: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class BlocksChanged:
    """``user`` now blocks exactly ``hidden`` (public ids)."""

    user: str
    hidden: frozenset[str]


@dataclass(frozen=True, slots=True)
class DutyChanged:
    """Someone's duty changed on some gateway: read the roster again."""


@dataclass(frozen=True, slots=True)
class Alert:
    """A crisis message or question, or a report, for the on-duty staff who moderate ``room``."""

    room: str
    kind: str  # "crisis" or "report"
    message_id: str | None  # about a message, or else ...
    item: int  # the safety queue's id
    org_id: int | None
    skip: str | None  # a member not to alert (the message's or question's author)
    author: dict[str, Any] | None = None  # crisis: the author as members are shown them
    reason: str | None = None  # report: the reporter's words
    question: str | None = None  # ... about a question to an expert (its public id)
    venue: dict[str, str] | None = None  # the question's: {"event": id} or {"topic": id}

    def frame(self) -> frames.Alert:
        """The ``alert`` frame the staff on duty are shown."""
        venue = (self.venue or {}) if self.question is not None else None
        return frames.Alert(self.room, self.kind, self.item, self.message_id, self.question,
                            venue, self.author, self.reason)


ModerationEvent = (
    Restricted | Lifted | StateChanged | MessageRemoved | PlatformBanned | BlocksChanged
    | DutyChanged | Alert
)


def fields(event: ModerationEvent) -> dict[str, Any]:
    """The fields of ``event`` in its ``{"op": "mod"}`` control message (``control.encode``)."""
    match event:
        case Restricted(room, user, kind, until_ms, reason):
            body: dict[str, Any] = {"t": "restrict", "room": room, "user": user, "kind": kind,
                                    "until": until_ms, "reason": reason}
        case Lifted(room, user, kinds):
            body = {"t": "lift", "room": room, "user": user, "kinds": sorted(kinds)}
        case StateChanged(room, slow_mode_s, locked, pinned):
            body = {"t": "state", "room": room, "slow_mode_s": slow_mode_s, "locked": locked,
                    "pinned": pinned}
        case MessageRemoved(room, message_id, author, reason):
            body = {"t": "removed", "room": room, "id": message_id, "author": author,
                    "reason": reason}
        case PlatformBanned(user, until_ms, reason):
            body = {"t": "platform_ban", "room": "*", "user": user, "until": until_ms,
                    "reason": reason}
        case BlocksChanged(user, hidden):
            body = {"t": "blocks", "room": "*", "user": user, "hidden": sorted(hidden)}
        case DutyChanged():
            body = {"t": "duty", "room": "*"}
        case Alert():
            body = {"t": "alert", "room": event.room, "kind": event.kind,
                    "message_id": event.message_id, "item": event.item, "org_id": event.org_id,
                    "skip": event.skip}
            if event.question is not None:
                body["question"], body["venue"] = event.question, event.venue
            if event.author is not None:
                body["author"] = event.author
            if event.reason is not None:
                body["reason"] = event.reason
    return body


def parse(message: dict[str, Any]) -> ModerationEvent | None:
    """The event in a decoded ``{"op": "mod"}`` control message; None for one this release
    does not know. Raises ``KeyError``, ``ValueError`` or ``TypeError`` for a malformed one."""
    kind = message.get("t")
    room = message.get("room")
    if not isinstance(room, str):
        return None
    until = message.get("until")
    match kind:
        case "restrict":
            restriction = str(message["kind"])
            if restriction not in ("mute", "kick", "ban"):
                raise ValueError(f"unknown restriction {restriction!r}")
            return Restricted(room, str(message["user"]), restriction,  # type: ignore[arg-type]
                              None if until is None else int(until), str(message.get("reason", "")))
        case "lift":
            return Lifted(room, str(message["user"]), frozenset(map(str, message.get("kinds", ()))))
        case "state":
            return StateChanged(room, int(message["slow_mode_s"]), bool(message["locked"]),
                                message.get("pinned"))
        case "removed":
            return MessageRemoved(room, str(message["id"]), str(message.get("author", "")),
                                  str(message.get("reason", "")))
        case "platform_ban":
            return PlatformBanned(str(message.get("user", "")), None if until is None else int(until),
                                  str(message.get("reason", "")))
        case "blocks":
            return BlocksChanged(str(message.get("user", "")),
                                 frozenset(str(u) for u in message.get("hidden", ())))
        case "duty":
            return DutyChanged()
        case "alert":
            skip = message.get("skip")
            org_id = message.get("org_id")
            message_id, question = message.get("message_id"), message.get("question")
            if (message_id is None) == (question is None):
                raise ValueError("an alert is about one message or one question")
            venue = message.get("venue")
            return Alert(room, str(message["kind"]), None if message_id is None else str(message_id),
                         int(message["item"]), None if org_id is None else int(org_id),
                         None if skip is None else str(skip), message.get("author"),
                         message.get("reason"), None if question is None else str(question),
                         {str(k): str(v) for k, v in venue.items()} if isinstance(venue, dict) else None)
    return None
