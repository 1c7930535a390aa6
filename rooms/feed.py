"""The feed of the people a member follows: its cursor and how its sources are merged. Pure.

A feed entry is one of a followed member's messages (or replies), questions to experts, or
sessions they host, newest first. Entries are ordered by ``(at_ms, source, key)`` descending,
where ``source`` is ``m`` (message), ``q`` (question) or ``s`` (session) and ``key`` the
thing's public id (a message's is its seq, zero-padded, then its id: a room's messages of one
millisecond keep their order); the cursor is the last entry of a page in that order, so a page never
repeats or skips an entry however many arrive meanwhile.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rooms import ids

SOURCES = ("m", "q", "s")
DEFAULT_PAGE = 30
MAX_PAGE = 100
_CURSOR = re.compile(r"(\d{1,16})\.([mqs])\.([A-Za-z0-9_-]{1,60})")
_MESSAGE_KEY = re.compile(r"\d{19}" + ids.MESSAGE_ID.pattern)  # a message's seq, then its id
MAX_SEQ = 2**63 - 1  # a seq is a signed 64-bit column


class BadCursor(ValueError):
    pass


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    at_ms: int
    source: str
    key: str

    def encode(self) -> str:
        return f"{self.at_ms}.{self.source}.{self.key}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Raises ``BadCursor`` for anything but a cursor this module made."""
        match = _CURSOR.fullmatch(text)
        if match is None or (match.group(2) == "m" and not (
                _MESSAGE_KEY.fullmatch(match.group(3)) and int(match.group(3)[:19]) <= MAX_SEQ)):
            # Red team: a forged message key with 19 nines passed the pattern, and the query
            # failed on a seq beyond 64 bits (a 500 instead of a refusal).
            raise BadCursor("before must be the previous page's next")
        return cls(int(match.group(1)), match.group(2), match.group(3))


@dataclass(frozen=True, slots=True)
class Bound:
    """How one source is cut by a cursor: ``at_ms < before_ms``, or ``at_ms == before_ms`` and
    ``key < key_below`` (None: nothing at ``before_ms`` itself; "": everything at it)."""

    before_ms: int
    key_below: str | None


def bound(cursor: Cursor | None, source: str) -> Bound | None:
    """The cut for ``source`` after ``cursor`` (None: no cursor, the newest page)."""
    if cursor is None:
        return None
    if source < cursor.source:
        return Bound(cursor.at_ms, "")  # every entry of this source at that instant comes after
    if source > cursor.source:
        return Bound(cursor.at_ms, None)
    return Bound(cursor.at_ms, cursor.key)


@dataclass(frozen=True, slots=True)
class Entry:
    cursor: Cursor
    view: dict[str, Any]


def merge(sources: Iterable[list[Entry]], limit: int) -> tuple[list[Entry], Cursor | None]:
    """The newest ``limit`` entries of the sources (each newest first, each read with
    ``limit + 1`` rows so that a longer source says so), and the next page's cursor (None when
    nothing is left)."""
    every = sorted((e for source in sources for e in source), key=lambda e: e.cursor, reverse=True)
    page = every[:limit]
    more = len(every) > limit
    return page, (page[-1].cursor if more and page else None)


def page_size(asked: int | None) -> int:
    if asked is None:
        return DEFAULT_PAGE
    return max(1, min(MAX_PAGE, asked))
