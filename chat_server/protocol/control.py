"""Control events: what one gateway tells every gateway on the broker's control channel,
typed, with the one encoder (``encode``) and the one decoder (``decode``).

On the wire an event is a msgpack map named by ``op``: ``close_session``, ``mod`` (moderation,
its own kinds in ``moderation_events``), ``conv``, ``event``, ``question`` and ``talk``. A
field that carries a frame carries the frame's map (``ServerFrame.wire()``): the receiving
gateway encodes it once per wire format for its own connections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack

from chat_server.protocol import moderation_events
from chat_server.protocol.moderation_events import ModerationEvent


@dataclass(frozen=True, slots=True)
class CloseSession:
    """A session was signed out: close its sockets (``session``: the token's digest)."""

    session: str


@dataclass(frozen=True, slots=True)
class ConversationChanged:
    """A private conversation changed: read it again (``room`` None: every one)."""

    room: str | None


@dataclass(frozen=True, slots=True)
class SessionChanged:
    """A scheduled session changed: its ``event_state`` frame to those in ``to`` and in its
    room; a ``notification`` (``notify``) to those in ``notify_to`` (``to`` when None).
    ``session`` is the public id of the session whose times or state changed (None for a
    new one, or from an older gateway): only its hold in the schedulers is woken."""

    room: str | None
    frame: dict[str, Any] | None
    to: list[str]
    notify: dict[str, Any] | None = None
    notify_to: list[str] | None = None
    session: str | None = None


@dataclass(frozen=True, slots=True)
class QuestionChanged:
    """A question changed: ``frame`` to everyone in ``room`` when ``public``, ``private`` to
    its author, hosts (``see``) and staff; ``votes_only`` changes are coalesced; ``notify``
    goes to ``to``."""

    room: str
    q: str
    version: int
    frame: dict[str, Any]
    private: dict[str, Any]
    public: bool
    see: list[str]
    votes_only: bool = False
    to: list[str] = field(default_factory=list)
    notify: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TalkQueueChanged:
    """The private talks' queue changed: read it again."""


ControlEvent = (
    CloseSession | ConversationChanged | SessionChanged | QuestionChanged | TalkQueueChanged
    | ModerationEvent
)


def encode(event: ControlEvent) -> bytes:
    """The control-channel payload of ``event``."""
    body: dict[str, Any]
    match event:
        case CloseSession(session):
            body = {"op": "close_session", "session": session}
        case ConversationChanged(room):
            body = {"op": "conv", "room": room}
        case SessionChanged(room, frame, to, notify, notify_to, session):
            body = {"op": "event", "frame": frame, "to": to, "room": room}
            if notify is not None:
                body["notify"], body["notify_to"] = notify, notify_to
            if session is not None:
                body["session"] = session  # additive: an older gateway ignores it
        case QuestionChanged():
            body = {"op": "question", "room": event.room, "q": event.q, "version": event.version,
                    "frame": event.frame, "private": event.private, "public": event.public,
                    "see": event.see}
            if event.votes_only:
                body["votes_only"] = True
            if event.notify is not None:
                body["to"], body["notify"] = event.to, event.notify
        case TalkQueueChanged():
            body = {"op": "talk"}
        case _:
            body = {"op": "mod", **moderation_events.fields(event)}
    packed: bytes = msgpack.packb(body, use_bin_type=True)
    return packed


def decode(payload: bytes) -> ControlEvent | None:
    """The event in ``payload``; None for one this release does not know (a newer gateway's).
    Raises ``ValueError`` (or ``KeyError``, ``TypeError``) for a malformed one."""
    message = msgpack.unpackb(payload, raw=False)
    if not isinstance(message, dict):
        raise ValueError("a control message is a map")
    match message.get("op"):
        case "close_session":
            return CloseSession(str(message.get("session", "")))
        case "mod":
            return moderation_events.parse(message)
        case "conv":
            room = message.get("room")
            return ConversationChanged(room if isinstance(room, str) else None)
        case "event":
            room, frame, notify = message.get("room"), message.get("frame"), message.get("notify")
            notify_to, session = message.get("notify_to"), message.get("session")
            return SessionChanged(
                room if isinstance(room, str) else None, frame if isinstance(frame, dict) else None,
                [str(u) for u in message.get("to") or ()], notify if isinstance(notify, dict) else None,
                None if notify_to is None else [str(u) for u in notify_to],
                session if isinstance(session, str) else None,
            )
        case "question":
            notify = message.get("notify")
            return QuestionChanged(
                str(message.get("room", "")), str(message.get("q", "")), int(message.get("version", 0)),
                dict(message["frame"]), dict(message["private"]), bool(message.get("public")),
                [str(u) for u in message.get("see") or ()], bool(message.get("votes_only")),
                [str(u) for u in message.get("to") or ()], notify if isinstance(notify, dict) else None,
            )
        case "talk":
            return TalkQueueChanged()
    return None
