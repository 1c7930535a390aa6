"""Server frames of the social features: notifications, unread counts, reactions, private
conversations (docs/social.md, protocol §4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from chat_server.protocol.base import ServerFrame


@dataclass(frozen=True, slots=True)
class Notification(ServerFrame):
    """One notification (its view, as GET /api/notifications lists it) and, when known, the
    member's unread count."""

    TYPE: ClassVar[str] = "notification"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"unread"})
    SPREAD: ClassVar[frozenset[str]] = frozenset({"view"})
    view: dict[str, Any]
    unread: int | None = None


@dataclass(frozen=True, slots=True)
class NotificationsRead(ServerFrame):
    TYPE: ClassVar[str] = "notifications_read"
    ids: list[int]
    unread: int


@dataclass(frozen=True, slots=True)
class Unread(ServerFrame):
    """A read mark set on some device (docs/protocol.md §4.23). ``count`` is always 0 (what
    1.3 clients add the messages they counted from frames to); since 1.4 ``remaining`` is
    what is still new after the mark, counted as ``GET /api/me/unread`` counts, and
    ``counted_to`` the newest seq that took in."""

    TYPE: ClassVar[str] = "unread"
    room: str
    count: int
    seq: int
    remaining: int
    counted_to: int


@dataclass(frozen=True, slots=True)
class Reactions(ServerFrame):
    """A message's reactions now, to its room."""

    TYPE: ClassVar[str] = "reactions"
    room: str
    message: str
    reactions: dict[str, Any]
    version: int


@dataclass(frozen=True, slots=True)
class Reacted(ServerFrame):
    """The answer to a ``react`` frame: the same fields as ``reactions``, and the cid."""

    TYPE: ClassVar[str] = "reacted"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"cid"})
    room: str
    message: str
    reactions: dict[str, Any]
    version: int
    cid: str | None = None


@dataclass(frozen=True, slots=True)
class Conversation(ServerFrame):
    """A private conversation changed (``state``) or has a new message (``message``, ``from``,
    ``seq``: its room sequence number, so a client can tell which of the messages it counted
    an ``unread`` frame's read mark already covers)."""

    TYPE: ClassVar[str] = "conversation"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"message", "from_", "state", "seq"})
    event: str
    id: str
    room: str
    message: str | None = None
    from_: dict[str, Any] | None = None
    state: str | None = None
    seq: int | None = None
