"""What the embedded broker needs from a writer: commit a row, then call back, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from persistence.transcripts import NewMessage


class RowRefused(Exception):
    """The database refused this row for good; it was set aside, not stored."""


class Committer(Protocol):
    def submit(self, row: NewMessage, after_commit: Callable[[], None]) -> asyncio.Future[None]:
        """Queue ``row`` (rows are committed in submission order). The future resolves once
        it is committed and ``after_commit`` has run, or fails with ``RowRefused``. Raises
        ``rooms.errors.Unavailable`` at once, queueing nothing, when the queue is full."""
        ...
