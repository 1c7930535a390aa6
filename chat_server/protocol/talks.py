"""Server frames of private talks with a navigator (protocol §4)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from chat_server.protocol.base import ServerFrame
from rooms.model import Member
from rooms.private_talk import ACCEPTED, TalkRequest, queue_of


@dataclass(frozen=True, slots=True)
class TalkAccepted(ServerFrame):
    """To the navigator who took a request: whom, and the conversation it opened."""

    TYPE: ClassVar[str] = "talk_accepted"
    id: str
    room: str
    member: dict[str, Any]
    conversation: str | None
    conversation_room: str | None


@dataclass(frozen=True, slots=True)
class Talk(ServerFrame):
    """A member's own request, as they are shown it: ``place`` while it waits; once accepted,
    the navigator and the conversation it opened (sent even while None)."""

    TYPE: ClassVar[str] = "talk"
    id: str
    room: str
    state: str
    asked_at: int  # ms
    resources_shown: bool
    place: int | None = None
    accepted: bool = False
    navigator: dict[str, Any] | None = None
    conversation: str | None = None
    conversation_room: str | None = None

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "talk", "id": self.id, "room": self.room, "state": self.state,
            "asked_at": self.asked_at, "resources_shown": self.resources_shown,
        }
        if self.place is not None:
            out["place"] = self.place
        if self.accepted:
            out["navigator"] = self.navigator
            out["conversation"] = self.conversation
            out["conversation_room"] = self.conversation_room
        return out


@dataclass(frozen=True, slots=True)
class TalkQueue(ServerFrame):
    """What one navigator may take: ``count`` in all, the oldest of them (rooms.private_talk)."""

    TYPE: ClassVar[str] = "talk_queue"
    count: int
    requests: list[dict[str, Any]]


def member_frame(request: TalkRequest, place: int | None = None) -> dict[str, Any]:
    """The ``talk`` frame of ``request``, as a map (the service adds the resources card, the
    socket the cid; the HTTP API shows its fields)."""
    return Talk(
        request.id, request.room, request.state, int(request.asked_at * 1000),
        request.resources_at is not None, place if request.outcome is None else None,
        request.outcome == ACCEPTED, request.navigator, request.conversation,
        request.conversation_room,
    ).wire()


def queue_for(navigator: Member, assigned: frozenset[str], waiting: Iterable[TalkRequest]) -> dict[str, Any]:
    """The ``talk_queue`` frame for one navigator, as a map."""
    return TalkQueue(*queue_of(navigator, assigned, waiting)).wire()
