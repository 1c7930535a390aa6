"""The presence store protocol shared by the in-memory and Redis implementations."""

from __future__ import annotations

from typing import Protocol


class PresenceUnavailable(Exception):
    """The shared store cannot be reached; the caller decides whether to retry or give up."""


class PresenceStore(Protocol):
    """Presence for one gateway process (``gateway_id``), shared with the others.

    Entries live for ``ttl_s`` unless refreshed; callers refresh every few seconds. Times are
    wall-clock seconds (``time.time()``) because several processes must agree on them.
    """

    async def enter(self, room: str, user: dict[str, str], now: float) -> bool:
        """Record that this gateway holds ``user`` in ``room``; True if newly present anywhere."""
        ...

    async def enter_listing(
        self, room: str, user: dict[str, str], now: float, limit: int
    ) -> tuple[bool, list[dict[str, str]], int]:
        """``enter``, then at most ``limit`` public views present in ``room`` (the joiner
        among them) and how many are present, in one step. Which views, beyond the joiner's,
        is unspecified: a big room's list is paged with ``page``."""
        ...

    async def leave(self, room: str, user_id: str) -> dict[str, str] | None:
        """This gateway no longer holds the user; their public view if now gone everywhere."""
        ...

    async def refresh(self, entries: list[tuple[str, dict[str, str]]], now: float) -> list[
        tuple[str, dict[str, str]]
    ]:
        """Extend this gateway's entries; return those that had expired and are present anew."""
        ...

    async def sweep(self, rooms: list[str], now: float) -> list[tuple[str, dict[str, str]]]:
        """Remove expired entries in ``rooms``; return ``(room, user)`` for users now gone."""
        ...

    async def present_among(self, room: str, user_ids: list[str]) -> set[str]:
        """Which of ``user_ids`` are present in ``room`` now, on any gateway."""
        ...

    async def present(self, room: str) -> list[dict[str, str]]:
        """Public views of the users present in ``room``."""
        ...

    async def count(self, room: str) -> int:
        """How many users are present in ``room``, on any gateway."""
        ...

    async def page(
        self, room: str, after: str | None, limit: int
    ) -> tuple[list[dict[str, str]], str | None]:
        """About ``limit`` views present in ``room``, continuing from the opaque cursor
        ``after`` (None: from the start); and the cursor for the next page, None after the
        last. A member present throughout appears at least once over the pages (may twice)."""
        ...

    async def open_connection(self, user_id: str, conn_id: str, cap: int, now: float) -> bool:
        """Count a new connection for the user; False if they already have ``cap`` open."""
        ...

    async def close_connection(self, user_id: str, conn_id: str) -> None: ...

    async def refresh_connections(self, conns: list[tuple[str, str]], now: float) -> None:
        """Extend ``(user_id, conn_id)`` connection entries held by this gateway."""
        ...

    async def close(self) -> None:
        """Release what the store holds (a connection); it is not used afterwards."""
        ...
