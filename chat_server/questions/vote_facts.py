"""What a vote reads before it is cast, read once for all the votes arriving together.

In a webinar the host puts a question up and hundreds vote on it within a second or two.
Each vote needs the question (its author, body and venue: the count's frame carries them) and
its venue (the live room, the community, the hosts). Read per vote, those were four to six
statements each: with 1,000 votes at once they queued for the database's connections and
were most of a vote's cost (``python -m bench.questions --voters 1000``, bench/notes.md).

Here the votes on a question that arrive while it is being read wait for that one read, and
what was read is kept ``ttl_s``. Only an open question is kept, and only what cannot change
while it is open is relied on: its body, author and venue never change then, and whether it is
still open is decided by the vote's own UPDATE (``WHERE status = 'open'``), which refuses a
vote on a question answered or dismissed meanwhile exactly as before. The venue's hosts and
the author's handle may be up to ``ttl_s`` old in the count's frame; the viewer's right to see
the venue's community is checked on every vote, from the member as they are now.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# Long enough to cover a burst of votes (a question put up, hundreds voting within seconds),
# short enough that a host change or a renamed author shows in the counts almost at once.
TTL_S = 2.0
MAX_KEPT = 4096  # questions; the expired ones go first, then the oldest


class SharedReads(Generic[T]):
    """``get(key)``: ``load(key)``'s answer, shared by every caller that asks while it is being
    read and kept ``ttl_s`` when ``keep(answer)`` says so. A failed read is raised to every
    caller waiting for it and not kept."""

    def __init__(
        self, load: Callable[[str], Awaitable[T]], keep: Callable[[T], bool],
        ttl_s: float = TTL_S, max_kept: int = MAX_KEPT, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._keep = keep
        self._ttl_s = ttl_s
        self._max_kept = max_kept
        self._clock = clock
        self._kept: dict[str, tuple[float, T]] = {}  # key -> (read at, answer), oldest first
        self._reading: dict[str, asyncio.Task[T]] = {}
        self._forgotten: set[str] = set()  # forgotten while being read: that answer is not kept

    async def get(self, key: str) -> T:
        found = self._kept.get(key)
        if found is not None:
            if self._clock() - found[0] < self._ttl_s:
                return found[1]
            del self._kept[key]
        pending = self._reading.get(key)
        if pending is None:
            # A task of its own, not the first caller's: a voter who leaves mid-read (their
            # handler cancelled) does not fail the votes waiting on the same read.
            # (``shield`` marks a failure as retrieved when every caller has gone.)
            pending = asyncio.ensure_future(self._read(key))
            self._reading[key] = pending
        return await asyncio.shield(pending)

    async def _read(self, key: str) -> T:
        try:
            answer = await self._load(key)
        finally:
            del self._reading[key]
            forgotten = key in self._forgotten
            self._forgotten.discard(key)
        if self._keep(answer) and not forgotten:
            self._put(key, answer)
        return answer

    def forget(self, key: str) -> None:
        """Drop what is kept of ``key``, and do not keep a read of it already under way (it may
        have begun before what made the caller forget)."""
        self._kept.pop(key, None)
        if key in self._reading:
            self._forgotten.add(key)

    def _put(self, key: str, answer: T) -> None:
        now = self._clock()
        if len(self._kept) >= self._max_kept:
            for old in [k for k, (at, _) in self._kept.items() if now - at >= self._ttl_s]:
                del self._kept[old]
            while len(self._kept) >= self._max_kept:
                del self._kept[next(iter(self._kept))]
        self._kept.pop(key, None)
        self._kept[key] = (now, answer)

