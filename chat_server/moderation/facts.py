"""Each gateway's copy of the moderation facts of rooms: restrictions in force, slow mode,
lock, pin. It knows no socket: who is told what is ``gateway/moderating.py``'s job.

The database is the record. A room's facts are read on first use and then kept current by
the events every gateway receives on the control channel (``apply``); an entry is read again
after ``ttl_s`` and whenever the control channel may have dropped events (``invalidate``, on a
pub/sub re-subscription), so a lost event costs at most that long. An event that arrives while
a room's facts are being read marks them dirty and they are read again. If the database is
away, the last copy keeps being used. Listeners (``on_loaded``) hear of every fresh read, so
the gateway can put out whoever a ban or kick read back now refuses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from chat_server.protocol import moderation_events as events
from chat_server.protocol.moderation import RoomState
from rooms.errors import Unavailable
from rooms.model import Community
from rooms.moderation import Restriction

log = logging.getLogger(__name__)

STALE_RETRY_S = 5.0


@dataclass(slots=True)
class RoomFacts:
    community: Community
    slow_mode_s: int = 0
    locked: bool = False
    pinned: dict[str, Any] | None = None
    restrictions: dict[str, list[Restriction]] = field(default_factory=dict)  # by public id
    loaded_at: float = 0.0  # monotonic

    def state(self, on_duty: bool) -> RoomState:
        """The room's ``room_state`` frame."""
        return RoomState(self.community.slug, self.slow_mode_s, self.locked, self.pinned, on_duty)

    def state_frame(self, on_duty: bool) -> dict[str, Any]:
        """The ``room_state`` frame as a map (the HTTP API shows its fields)."""
        return self.state(on_duty).wire()

    def reason_of(self, member_id: str, refusal: str) -> str:
        """The moderator's note of the member's latest ban (``"banned"``) or kick."""
        kind = {"banned": "ban", "kicked": "kick"}.get(refusal)
        found = [r for r in self.restrictions.get(member_id, ()) if r.kind == kind]
        return found[-1].reason if found else ""


Loader = Callable[[str], Awaitable[RoomFacts | None]]
Listener = Callable[[str, RoomFacts], None]


class FactsCache:
    def __init__(self, load: Loader, ttl_s: float = 60.0) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._facts: dict[str, RoomFacts] = {}
        self._loading: dict[str, asyncio.Future[RoomFacts | None]] = {}
        self._dirty: set[str] = set()
        self._listeners: list[Listener] = []

    def on_loaded(self, listener: Listener) -> None:
        """Call ``listener(room, facts)`` after every fresh read of a room's facts."""
        self._listeners.append(listener)

    def known(self, room: str) -> RoomFacts | None:
        """What is known of the room now, without reading anything."""
        return self._facts.get(room)

    def fresh(self, room: str) -> RoomFacts | None:
        """The room's facts if they are known and fresh: what ``facts`` answers without
        reading, and without a coroutine (the send path asks on every message). None: ask
        ``facts``."""
        found = self._facts.get(room)
        return found if found is not None and self._fresh(found) else None

    def _fresh(self, found: RoomFacts) -> bool:
        return time.monotonic() - found.loaded_at < self._ttl_s

    async def facts(self, room: str) -> RoomFacts | None:
        """The room's facts (None for a room that does not exist). Raises ``Unavailable``
        when they cannot be read and no earlier copy is known."""
        found = self._facts.get(room)
        if found is not None and self._fresh(found):
            return found
        pending = self._loading.get(room)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[RoomFacts | None] = asyncio.get_running_loop().create_future()
        self._loading[room] = future
        try:
            while True:
                self._dirty.discard(room)
                try:
                    loaded = await self._load(room)
                except Exception as exc:
                    if found is None:
                        raise Unavailable("could not read the room's moderation state") from exc
                    # The database is away: keep enforcing what we knew (events still arrive)
                    # and try again in a few seconds rather than on every send.
                    log.warning("room %s: moderation state unreadable (%s); using the last copy",
                                room, type(exc).__name__)
                    found.loaded_at = time.monotonic() - self._ttl_s + STALE_RETRY_S
                    future.set_result(found)
                    return found
                if room not in self._dirty:
                    break  # no event arrived while reading: what was read is current
            if loaded is not None:
                loaded.loaded_at = time.monotonic()
                self._facts[room] = loaded
                for listener in self._listeners:
                    listener(room, loaded)
            future.set_result(loaded)
            return loaded
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._loading[room]

    async def refresh_stale(self, rooms: Iterable[str]) -> None:
        """Read again the facts of ``rooms`` that are stale or were forgotten (so a lost
        event is repaired within ``ttl_s``); stops at the first room that cannot be read."""
        for room in rooms:
            found = self._facts.get(room)
            if found is None or not self._fresh(found):
                try:
                    await self.facts(room)
                except Unavailable:
                    return

    def invalidate(self, room: str | None = None) -> None:
        """Forget what is known (of one room, or of all): events may have been missed."""
        if room is None:
            self._facts.clear()
            self._dirty.update(self._loading)
        else:
            self._facts.pop(room, None)
            self._dirty.add(room)

    def apply(self, event: events.ModerationEvent) -> None:
        """Bring the cached facts in line with ``event`` (synchronously, in arrival order)."""
        room = getattr(event, "room", None)
        if isinstance(room, str) and room in self._loading:
            self._dirty.add(room)
        match event:
            case events.Restricted(room, user, kind, until_ms, reason):
                facts = self._facts.get(room)
                if facts is not None:
                    until = None if until_ms is None else until_ms / 1000
                    facts.restrictions.setdefault(user, []).append(Restriction(kind, until, reason))
            case events.Lifted(room, user, kinds):
                facts = self._facts.get(room)
                if facts is not None and user in facts.restrictions:
                    kept = [r for r in facts.restrictions[user] if r.kind not in kinds]
                    if kept:
                        facts.restrictions[user] = kept
                    else:
                        del facts.restrictions[user]
            case events.StateChanged(room, slow_mode_s, locked, pinned):
                facts = self._facts.get(room)
                if facts is not None:
                    facts.slow_mode_s, facts.locked, facts.pinned = slow_mode_s, locked, pinned
            case _:
                pass
