"""The moderation command's validation and the crisis resources format: pure, no processes."""

from __future__ import annotations

from typing import Any

import pytest

from rooms import resources
from rooms.commands import DEFAULT_KICK_S, Command
from rooms.errors import BadFrame
from rooms.moderation import Action

USER = "u0123456789abcdef"
MESSAGE = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"action": "mute", "user": USER, "reason": "r"}, Command(Action.MUTE, USER, reason="r")),
        ({"action": "mute", "user": USER, "reason": " r ", "duration_s": 60},
         Command(Action.MUTE, USER, duration_s=60, reason="r")),
        ({"action": "kick", "user": USER, "reason": "r"},
         Command(Action.KICK, USER, duration_s=DEFAULT_KICK_S, reason="r")),
        ({"action": "ban", "user": USER, "reason": "r", "platform": True},
         Command(Action.BAN, USER, reason="r", platform=True)),
        ({"action": "unban", "user": USER}, Command(Action.UNBAN, USER)),
        ({"action": "remove", "message": MESSAGE, "reason": "r"},
         Command(Action.REMOVE, message=MESSAGE, reason="r")),
        ({"action": "slow_mode", "duration_s": 0}, Command(Action.SLOW_MODE, duration_s=0)),
        ({"action": "lock"}, Command(Action.LOCK)),
        ({"action": "pin", "message": MESSAGE}, Command(Action.PIN, message=MESSAGE)),
        ({"action": "pin"}, Command(Action.PIN)),
    ],
)
def test_valid_commands(raw: dict[str, Any], expected: Command) -> None:
    assert Command.parse(raw) == expected


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"action": "shout"}, "'action' must be one of"),
        ({"action": 3}, "'action' must be one of"),
        ({}, "'action' must be one of"),
        ({"action": "mute", "user": USER}, "needs a reason"),
        ({"action": "mute", "user": USER, "reason": "   "}, "needs a reason"),
        ({"action": "mute", "user": USER, "reason": "x" * 501}, "at most 500"),
        ({"action": "mute", "user": USER, "reason": "a\x00b"}, "at most 500"),
        ({"action": "mute", "reason": "r"}, "needs 'user'"),
        ({"action": "mute", "user": "bob", "reason": "r"}, "member id"),
        ({"action": "mute", "user": USER, "reason": "r", "duration_s": 0}, "from 1 to"),
        ({"action": "mute", "user": USER, "reason": "r", "duration_s": -5}, "from 1 to"),
        ({"action": "mute", "user": USER, "reason": "r", "duration_s": 1.5}, "whole number"),
        ({"action": "mute", "user": USER, "reason": "r", "duration_s": True}, "whole number"),
        ({"action": "mute", "user": USER, "reason": "r", "duration_s": 91 * 86400}, "from 1 to"),
        ({"action": "slow_mode"}, "needs 'duration_s'"),
        ({"action": "slow_mode", "duration_s": 3601}, "from 0 to 3600"),
        ({"action": "lock", "user": USER}, "takes no 'user'"),
        ({"action": "lock", "duration_s": 5}, "takes no 'duration_s'"),
        ({"action": "remove", "reason": "r"}, "needs 'message'"),
        ({"action": "remove", "message": "nope", "reason": "r"}, "message id"),
        ({"action": "mute", "user": USER, "reason": "r", "message": MESSAGE}, "takes no 'message'"),
        ({"action": "mute", "user": USER, "reason": "r", "platform": True}, "ban and unban only"),
        ({"action": "ban", "user": USER, "reason": "r", "platform": "yes"}, "true or false"),
    ],
)
def test_invalid_commands(raw: dict[str, Any], says: str) -> None:
    with pytest.raises(BadFrame) as refused:
        Command.parse(raw)
    assert says in refused.value.detail


def test_default_resources_parse_and_have_items() -> None:
    card = resources.defaults()
    assert card.text and len(card.items) >= 1
    assert all("name" in i and "contact" in i for i in card.items)
    assert resources.from_json(card.to_json(), resources.defaults()) == card


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ([], "must be a table"),
        ({"text": "", "items": [{"name": "a", "contact": "b"}]}, "'text'"),
        ({"text": "t", "items": []}, "'items'"),
        ({"text": "t", "items": [{"name": "a"}]}, "needs 'contact'"),
        ({"text": "t", "items": [{"name": "a", "contact": "b", "phone": "c"}]}, "unknown fields"),
        ({"text": "t", "items": [{"name": "a", "contact": "b", "url": "http://x"}]}, "https://"),
    ],
)
def test_invalid_resources(data: object, says: str) -> None:
    with pytest.raises(ValueError, match=says.replace("(", r"\(")):
        resources.parse(data)


def test_unreadable_stored_resources_fall_back() -> None:
    fallback = resources.defaults()
    assert resources.from_json("{not json", fallback) is fallback
    assert resources.from_json(None, fallback) is fallback
