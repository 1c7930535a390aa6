"""One exception tree for everything a member can be refused.

Each error carries a stable ``code`` (part of the wire protocol, see docs/protocol.md). Only
the gateway turns these into error frames or close codes; the domain just raises.
"""

from __future__ import annotations


class RoomError(Exception):
    """Base of every refusal the client can be told about."""

    code: str = "error"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.code)
        self.detail = detail or self.code


class BadFrame(RoomError):
    """The frame could not be decoded or does not have the expected shape."""

    code = "bad_frame"


class UnknownType(RoomError):
    """The frame's ``type`` is not one the server knows."""

    code = "unknown_type"


class NoSuchRoom(RoomError):
    """The room does not exist or is not open to this member (the two are not told apart)."""

    code = "no_such_room"


class NotJoined(RoomError):
    """The member sent to a room without joining it first on this connection."""

    code = "not_joined"


class RateLimited(RoomError):
    """The member is sending faster than the room allows."""

    code = "rate_limited"


class BodyInvalid(RoomError):
    """A message body is empty or longer than allowed."""

    code = "invalid_body"


class Unavailable(RoomError):
    """A backing service (Redis, the database) is unreachable; retrying later is safe."""

    code = "unavailable"


class TooManyRooms(RoomError):
    """The connection has joined as many rooms as one connection may."""

    code = "too_many_rooms"
