"""Server frames of rooms: joining, leaving, who is here, sending and its answers (§3, §4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from chat_server.protocol.base import ServerFrame


@dataclass(frozen=True, slots=True)
class Joined(ServerFrame):
    TYPE: ClassVar[str] = "joined"
    room: str
    seq: int  # the room's head at the join
    present: list[dict[str, Any]]  # a sample in a big room (members pages the rest)
    count: int


@dataclass(frozen=True, slots=True)
class Left(ServerFrame):
    TYPE: ClassVar[str] = "left"
    room: str


@dataclass(frozen=True, slots=True)
class Members(ServerFrame):
    """One page of who is here."""

    TYPE: ClassVar[str] = "members"
    room: str
    members: list[dict[str, Any]]
    next: str | None  # the cursor of the next page; None on the last
    count: int


@dataclass(frozen=True, slots=True)
class Gap(ServerFrame):
    """Seqs ``from_``..``to`` (inclusive) will never come: fetch them from history."""

    TYPE: ClassVar[str] = "gap"
    room: str
    from_: int
    to: int


@dataclass(frozen=True, slots=True)
class Presence(ServerFrame):
    TYPE: ClassVar[str] = "presence"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"count", "partial"})
    room: str
    joined: list[dict[str, Any]]
    left: list[dict[str, Any]]
    count: int | None = None
    partial: bool | None = None  # True in a big room: the count only, the lists on demand


@dataclass(frozen=True, slots=True)
class Typing(ServerFrame):
    TYPE: ClassVar[str] = "typing"
    room: str
    user: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Ack(ServerFrame):
    """A message is in the room's log (``duplicate``: it was already, by its cid)."""

    TYPE: ClassVar[str] = "ack"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"duplicate"})
    cid: str
    id: str
    seq: int
    room: str
    duplicate: bool | None = None  # True, or left out


@dataclass(frozen=True, slots=True)
class Confirm(ServerFrame):
    """A message held until its author confirms sharing what looks like health details."""

    TYPE: ClassVar[str] = "confirm"
    room: str
    cid: str
    kinds: list[str]
    reason: str


@dataclass(frozen=True, slots=True)
class Duty(ServerFrame):
    TYPE: ClassVar[str] = "duty"
    on: bool


@dataclass(frozen=True, slots=True)
class Pong(ServerFrame):
    TYPE: ClassVar[str] = "pong"


@dataclass(frozen=True, slots=True)
class Error(ServerFrame):
    """A refused frame: a stable ``code`` (rooms/errors.py), plain words, and the frame's
    ``cid`` and ``room`` echoed when it had usable ones."""

    TYPE: ClassVar[str] = "error"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"cid", "room"})
    SPREAD: ClassVar[frozenset[str]] = frozenset({"extra"})
    code: str
    detail: str
    cid: str | None = None
    room: str | None = None
    extra: dict[str, Any] | None = None  # fields an error carries (retry_after_ms, ...)
