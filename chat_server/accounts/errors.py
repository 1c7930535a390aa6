"""The refusals of the account service, each with its HTTP status (HTTP only: no socket frame
carries them). The app's one exception handler answers them (api/common.api_error)."""

from __future__ import annotations

from rooms.errors import RoomError


class InvalidEmail(RoomError):
    code = "invalid_email"


class InvalidHandle(RoomError):
    code = "invalid_handle"


class InvalidKeyPhrase(RoomError):
    code = "invalid_key_phrase"
    http_status = 403


class HandleTaken(RoomError):
    """Handles are public: saying one is taken tells nothing private."""

    code = "handle_taken"
    http_status = 409


class TooManyAttempts(RoomError):
    """A throttle is full. ``retry_after_s`` is answered as the ``Retry-After`` header only
    (the body is ``{error, detail}``, as it always was)."""

    code = "too_many_attempts"
    http_status = 429
    strikes = False

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class InvalidCredentials(RoomError):
    """Unknown email and wrong password, not told apart."""

    code = "invalid_credentials"
    http_status = 401


class Suspended(RoomError):
    """Signing in to an account banned from the platform (no ``until``: unlike a room's ban)."""

    code = "banned"
    http_status = 403


class WrongPassword(RoomError):
    code = "wrong_password"
    http_status = 403


class InvalidCode(RoomError):
    """A reset code that is wrong, used, expired or not this email's (not told apart)."""

    code = "invalid_code"
    http_status = 403


class NotAllowed(RoomError):
    """Issuing a reset code without the rank for it."""

    code = "forbidden"
    http_status = 403
