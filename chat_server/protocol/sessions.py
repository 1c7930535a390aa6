"""Server frames of scheduled sessions (protocol §4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from chat_server.protocol.base import ServerFrame


@dataclass(frozen=True, slots=True)
class EventState(ServerFrame):
    """A session's state: the contract is event, state, starts_at, ends_at; room and title
    help a client that does not have the session loaded; ``changed`` names what an edit changed."""

    TYPE: ClassVar[str] = "event_state"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"changed"})
    event: str
    state: str
    starts_at: str | None
    ends_at: str | None
    room: str
    title: str
    changed: list[str] | None = None
