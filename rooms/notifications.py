"""What asks for a member's attention: the kinds of notification, who a message mentions,
and the words of the email digest. Pure: no clock, no storage.

A notification is only ever read by the member it is for, so its text may name the member
who caused it (a public handle); the digest is different: it leaves the server by email, so
it carries counts only, never a body and never another member's handle.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum

from rooms.handles import normalize


class Kind(StrEnum):
    MENTION = "mention"
    REPLY = "reply"
    REACTION = "reaction"  # coalesced: one per message, updated
    ANSWERED = "answered"  # a question of mine was answered
    LOBBY_OPEN = "lobby_open"  # a session I signed up for is about to start (the reminder)
    CANCELLED = "cancelled"  # a session I signed up for was cancelled
    PLACE_FREE = "place_free"  # I moved from the waiting list into a session
    FRIEND_REQUEST = "friend_request"  # someone asks to be my friend (one per pair, revived)
    FRIEND_ACCEPTED = "friend_accepted"  # someone accepted my friend request
    DM_REQUEST = "dm_request"  # emitted by private messages (issue 17, part B)


KINDS = frozenset(k.value for k in Kind)

DIGEST_OFF = "off"
DIGEST_DAILY = "daily"
DIGEST_CHOICES = (DIGEST_OFF, DIGEST_DAILY)

# `@handle`: a handle's characters (rooms/handles.py) after an @ that does not follow a word
# character, so an email address in a message mentions nobody.
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_.-]{3,32})")
MAX_MENTIONS = 20  # per message: a list of everyone in the room is not a way to page them all


def mentioned(body: str) -> list[str]:
    """The handle keys a body mentions, in order, each once, at most ``MAX_MENTIONS``."""
    found: dict[str, None] = {}
    for match in _MENTION.finditer(body):
        found.setdefault(normalize(match.group(1).rstrip(".-")), None)
        if len(found) >= MAX_MENTIONS:
            break
    return list(found)


def check_kinds(kinds: Iterable[str]) -> list[str]:
    """The kinds, validated; raises ValueError naming the first unknown one."""
    out = []
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown notification kind {kind!r}")
        out.append(kind)
    return out


# Words for the digest, singular and plural; kinds not listed are counted as "updates".
_WORDS: dict[str, tuple[str, str]] = {
    Kind.MENTION: ("mention", "mentions"),
    Kind.REPLY: ("reply", "replies"),
    Kind.REACTION: ("reaction", "reactions"),
    Kind.ANSWERED: ("answered question", "answered questions"),
    Kind.LOBBY_OPEN: ("session starting", "sessions starting"),
    Kind.CANCELLED: ("cancelled session", "cancelled sessions"),
    Kind.PLACE_FREE: ("place in a session", "places in sessions"),
    Kind.FRIEND_REQUEST: ("friend request", "friend requests"),
    Kind.FRIEND_ACCEPTED: ("new friend", "new friends"),
    Kind.DM_REQUEST: ("message waiting", "messages waiting"),
}


def digest_text(counts: Mapping[str, int]) -> str | None:
    """"You have 3 replies and a message waiting." from unread counts per kind; None when
    there is nothing to tell. Counts and kinds only: nothing a member wrote, nobody's name."""
    parts: list[str] = []
    other = 0
    for kind, n in counts.items():
        if n <= 0:
            continue
        words = _WORDS.get(kind)
        if words is None:
            other += n
            continue
        if n == 1:
            parts.append(("an " if words[0][0] in "aeiou" else "a ") + words[0])
        else:
            parts.append(f"{n} {words[1]}")
    if other:
        parts.append("an update" if other == 1 else f"{other} updates")
    if not parts:
        return None
    said = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"You have {said} on Kindred."
