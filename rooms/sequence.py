"""Putting a room's messages back in order.

Redis pub/sub may drop a message silently (a restart, a stalled subscriber). Messages carry a
gap-free per-room ``seq``, so a receiver can tell when one is missing, hold what came early,
and ask for the missing range from the durable log. This is the pure half of that: it never
waits, and the caller fetches what ``missing()`` names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


class Overflow(Exception):
    """More early messages are held than allowed; the caller must resynchronise."""


@dataclass(slots=True)
class Sequencer(Generic[T]):
    """Releases items strictly in ``seq`` order, each seq once.

    ``last`` is the highest seq already released. ``offer`` returns the items that are now
    ready (possibly none, possibly several when a hole is filled).
    """

    last: int
    max_held: int = 10_000
    held: dict[int, T] = field(default_factory=dict)

    def offer(self, seq: int, item: T) -> list[tuple[int, T]]:
        if seq <= self.last or seq in self.held:
            return []  # a duplicate: already released or already waiting
        if seq != self.last + 1:
            if len(self.held) >= self.max_held:
                raise Overflow(f"{len(self.held)} messages held waiting for seq {self.last + 1}")
            self.held[seq] = item
            return []
        ready = [(seq, item)]
        self.last = seq
        while self.last + 1 in self.held:
            self.last += 1
            ready.append((self.last, self.held.pop(self.last)))
        return ready

    def next_in_line(self, seq: int) -> bool:
        """Release ``seq`` if it is the next one and nothing is held (True): what ``offer``
        would return as ``[(seq, item)]``, for the caller to hand on itself, without the list
        (pub/sub in order, nearly every message). False: nothing done, ``offer`` it."""
        if seq == self.last + 1 and not self.held:
            self.last = seq
            return True
        return False

    def missing(self) -> tuple[int, int] | None:
        """The first missing range ``(first, last)`` inclusive, or None when nothing is held."""
        if not self.held:
            return None
        return self.last + 1, min(self.held) - 1

    def skip_to(self, seq: int) -> list[tuple[int, T]]:
        """Give up on everything up to ``seq`` (it cannot be had) and release what follows."""
        if seq <= self.last:
            return []
        for s in [s for s in self.held if s <= seq]:
            del self.held[s]
        self.last = seq
        ready: list[tuple[int, T]] = []
        while self.last + 1 in self.held:
            self.last += 1
            ready.append((self.last, self.held.pop(self.last)))
        return ready
