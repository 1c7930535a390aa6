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

    def fields(self) -> dict[str, object]:
        """Extra fields for the error frame (``until``, ``retry_after_s``, ...); none here."""
        return {}


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
    """The member is sending faster than the room allows; ``retry_after_s`` says when the
    next send will be accepted (a client that waits that long is obeying, never struck)."""

    code = "rate_limited"

    def __init__(self, detail: str, retry_after_s: float) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s

    def fields(self) -> dict[str, object]:
        return {"retry_after_s": round(self.retry_after_s, 3)}


class BodyInvalid(RoomError):
    """A message body is empty or longer than allowed."""

    code = "invalid_body"


class Unavailable(RoomError):
    """A backing service (Redis, the database) is unreachable; retrying later is safe."""

    code = "unavailable"


class TooManyRooms(RoomError):
    """The connection has joined as many rooms as one connection may."""

    code = "too_many_rooms"


class NoSuchMember(RoomError):
    """A moderation action names a member that does not exist."""

    code = "no_such_member"


class NoSuchMessage(RoomError):
    """A moderation action or report names a message that is not one of this room."""

    code = "no_such_message"


class UnknownReaction(RoomError):
    """A reaction that is not one of the fixed set (rooms/data/reactions.toml)."""

    code = "unknown_reaction"


class Restricted(RoomError):
    """A send or join refused by moderation: ``until`` (seconds since the epoch, None when it
    has no end) tells the member when it ends."""

    def __init__(self, detail: str, until: float | None = None) -> None:
        super().__init__(detail)
        self.until = until

    def fields(self) -> dict[str, object]:
        return {"until": None if self.until is None else int(self.until * 1000)}


class Muted(Restricted):
    code = "muted"


class Kicked(Restricted):
    code = "kicked"


class Banned(Restricted):
    code = "banned"


class Locked(RoomError):
    """The room is read-only for members."""

    code = "locked"


class SlowMode(RoomError):
    """The member posted less than the room's slow-mode interval ago."""

    code = "slow_mode"

    def __init__(self, detail: str, retry_after_s: float) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s

    def fields(self) -> dict[str, object]:
        return {"retry_after_s": round(self.retry_after_s, 3)}
