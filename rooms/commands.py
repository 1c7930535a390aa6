"""A moderation command, validated: the shape shared by the ``moderate`` frame and the HTTP
API. Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rooms import ids
from rooms.errors import BadFrame
from rooms.moderation import Action

DAY_S = 86_400
# Upper bounds keep the arithmetic on ``until`` sane and say what the actions are for: a mute
# is a pause, a kick a cooling-off; a ban may be long but not forever unless open-ended.
MAX_DURATION_S: dict[Action, int] = {
    Action.MUTE: 90 * DAY_S,
    Action.KICK: 30 * DAY_S,
    Action.BAN: 3650 * DAY_S,
    Action.SLOW_MODE: 3600,
}
DEFAULT_KICK_S = 600
MAX_REASON = 500
# A moderator must say why when a member is restricted or a message removed: the member is
# shown it, and the audit log keeps it.
REASON_REQUIRED = frozenset({Action.MUTE, Action.KICK, Action.BAN, Action.REMOVE})



@dataclass(frozen=True, slots=True)
class Command:
    """``user`` is a member's public id; ``message`` a message id; ``duration_s`` None means
    "no end" for mute and ban (kick gets its default, slow mode needs a value)."""

    action: Action
    user: str | None = None
    message: str | None = None
    duration_s: int | None = None
    reason: str = ""
    platform: bool = False

    @classmethod
    def parse(cls, raw: Mapping[str, object]) -> Command:
        """Validate the fields of a ``moderate`` frame or request; raise ``BadFrame``."""
        action_raw = raw.get("action")
        try:
            action = Action(action_raw) if isinstance(action_raw, str) else None
        except ValueError:
            action = None
        if action is None:
            names = ", ".join(a.value for a in Action)
            raise BadFrame(f"'action' must be one of: {names}")
        user = raw.get("user")
        if user is not None and (not isinstance(user, str) or not ids.is_user_id(user)):
            raise BadFrame("'user' must be a member id (as in author.id)")
        message = raw.get("message")
        if message is not None and (not isinstance(message, str) or not ids.is_message_id(message)):
            raise BadFrame("'message' must be a message id")
        reason = raw.get("reason", "")
        if reason is None:
            reason = ""
        if not isinstance(reason, str) or len(reason) > MAX_REASON or "\x00" in reason:
            raise BadFrame(f"'reason' must be text of at most {MAX_REASON} characters")
        reason = reason.strip()
        if action in REASON_REQUIRED and not reason:
            raise BadFrame(f"'{action.value}' needs a reason: the member is shown it")
        platform = raw.get("platform", False)
        if not isinstance(platform, bool):
            raise BadFrame("'platform' must be true or false")
        if platform and action not in (Action.BAN, Action.UNBAN):
            raise BadFrame("'platform' applies to ban and unban only")
        duration = _duration(action, raw.get("duration_s"))
        if action.targets_member and user is None:
            raise BadFrame(f"'{action.value}' needs 'user'")
        if action is Action.REMOVE and message is None:
            raise BadFrame("'remove' needs 'message'")
        if action.room_only and user is not None:
            raise BadFrame(f"'{action.value}' takes no 'user'")
        if message is not None and action not in (Action.REMOVE, Action.PIN):
            raise BadFrame(f"'{action.value}' takes no 'message'")
        return cls(action, user, message, duration, reason, platform)


def _duration(action: Action, value: object) -> int | None:
    limit = MAX_DURATION_S.get(action)
    if value is None:
        if action is Action.SLOW_MODE:
            raise BadFrame("'slow_mode' needs 'duration_s' (0 turns it off)")
        return DEFAULT_KICK_S if action is Action.KICK else None
    if limit is None:
        raise BadFrame(f"'{action.value}' takes no 'duration_s'")
    low = 0 if action is Action.SLOW_MODE else 1
    if type(value) is not int or not low <= value <= limit:
        raise BadFrame(f"'duration_s' must be a whole number of seconds from {low} to {limit}")
    return value
