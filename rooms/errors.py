"""One exception tree for everything a member can be refused.

Each error carries a stable ``code`` (part of the wire protocol, see docs/protocol.md), the
HTTP status it is answered with (``http_status``; over HTTP a malformed request is
``invalid_request`` rather than the socket's ``bad_frame``: ``http_code``), and whether
repeating it counts towards closing a socket with 1008 (``strikes``). The domain only raises:
the socket maps these in one place (gateway/endpoint.py) and HTTP in one exception handler
(chat_server/app.py). A new refusal is a new subclass here or beside the rules it belongs to.
"""

from __future__ import annotations


class RoomError(Exception):
    """Base of every refusal the client can be told about."""

    code: str = "error"
    http_status: int = 400
    http_code: str | None = None  # over HTTP, when it differs from ``code``
    strikes: bool = True  # a client repeating it is misbehaving (a retry-safe outage is not)

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.code)
        self.detail = detail or self.code

    def fields(self) -> dict[str, object]:
        """Extra fields for the error frame (``until``, ``retry_after_s``, ...); none here."""
        return {}

    @property
    def code_over_http(self) -> str:
        return self.http_code or self.code


class BadFrame(RoomError):
    """The frame could not be decoded or does not have the expected shape."""

    code = "bad_frame"
    http_code = "invalid_request"


class UnknownType(RoomError):
    """The frame's ``type`` is not one the server knows."""

    code = "unknown_type"


class NoSuchRoom(RoomError):
    """The room does not exist or is not open to this member (the two are not told apart)."""

    code = "no_such_room"
    http_status = 404


class NotFound(RoomError):
    """What was named does not exist or is not the member's to see, never told apart (a room
    over HTTP, a message, a conversation, a session or topic, a moderation item, a calendar
    feed): the raiser's detail says which (``no such message``)."""

    code = "not_found"
    http_status = 404


class NotJoined(RoomError):
    """The member sent to a room without joining it first on this connection."""

    code = "not_joined"
    http_status = 409


class RateLimited(RoomError):
    """The member is sending faster than the room allows; ``retry_after_s`` says when the
    next send will be accepted (a client that waits that long is obeying, never struck)."""

    code = "rate_limited"
    http_status = 429

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
    http_status = 503
    strikes = False


class TooManyRooms(RoomError):
    """The connection has joined as many rooms as one connection may."""

    code = "too_many_rooms"
    http_status = 409


class NoSuchMember(RoomError):
    """A moderation action names a member that does not exist."""

    code = "no_such_member"
    http_status = 404


class NoSuchMessage(RoomError):
    """A moderation action or report names a message that is not one of this room."""

    code = "no_such_message"
    http_status = 404


class UnknownReaction(RoomError):
    """A reaction that is not one of the fixed set (rooms/data/reactions.toml)."""

    code = "unknown_reaction"


class Restricted(RoomError):
    """A send or join refused by moderation: ``until`` (seconds since the epoch, None when it
    has no end) tells the member when it ends."""

    http_status = 403

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
    http_status = 403


class SlowMode(RoomError):
    """The member posted less than the room's slow-mode interval ago."""

    code = "slow_mode"
    http_status = 429

    def __init__(self, detail: str, retry_after_s: float) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s

    def fields(self) -> dict[str, object]:
        return {"retry_after_s": round(self.retry_after_s, 3)}
