"""Who is on duty: navigators who asked for crisis and report alerts.

A navigator goes on duty on one connection (``duty {on: true}``); alerts reach that connection
for as long as it is open, whatever gateway it is on, because every gateway delivers an alert
to its own on-duty connections. The roster of everyone on duty, on every gateway, is kept in a
shared store with expiries this gateway refreshes for its own connections; each gateway reads
it back to tell members whether someone who moderates their room is on duty (``room_state``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from chat_server.gateway.connection import Connection
from chat_server.moderation.stores import DutyStore, DutyView
from rooms.errors import Unavailable
from rooms.model import Community, Member
from rooms.moderation import may_moderate_room
from rooms.roles import Role

log = logging.getLogger(__name__)


def _view(conn: Connection) -> DutyView:
    member = conn.member
    return {**member.public(), "org_id": member.org_id, "assigned": sorted(conn.assigned)}


def _member(view: DutyView) -> tuple[Member, frozenset[str]]:
    member = Member(view["id"], view["handle"], Role(view["role"]), view.get("org_id"))
    return member, frozenset(view.get("assigned", ()))


class DutyRoster:
    def __init__(
        self, store: DutyStore, gateway_id: str, ttl_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._gateway = gateway_id
        self._ttl_s = ttl_s
        self._clock = clock
        self._everyone: dict[str, tuple[Member, frozenset[str]]] = {}

    async def set(self, conn: Connection, on: bool, others_on_duty: bool) -> None:
        """Record ``conn``'s member on or off duty. ``others_on_duty``: another local
        connection of the same member stays on duty, so the shared entry must stay."""
        if on:
            await self._store.put(self._gateway, _view(conn), self._clock() + self._ttl_s)
        elif not others_on_duty:
            await self._store.remove(self._gateway, conn.member.id)
        await self.reload()

    async def refresh(self, local_on_duty: list[Connection]) -> None:
        """Write our on-duty entries again, whole (not just their expiry): an entry lost
        with a Redis restart comes back at the next heartbeat."""
        expires = self._clock() + self._ttl_s
        for conn in {c.member.id: c for c in local_on_duty}.values():
            await self._store.put(self._gateway, _view(conn), expires)

    async def reload(self) -> bool:
        """Read the roster back; True when it changed."""
        try:
            views = await self._store.snapshot(self._clock())
        except Unavailable:
            log.warning("duty roster unreachable; keeping the last one read")
            return False
        everyone = {member_id: _member(view) for member_id, view in views.items()}
        changed = set(everyone) != set(self._everyone)
        self._everyone = everyone
        return changed

    def covers(self, community: Community, excluding: str | None = None) -> bool:
        """True when someone on duty (other than member ``excluding``) moderates ``community``."""
        return any(
            may_moderate_room(m, community, a)
            for member_id, (m, a) in self._everyone.items() if member_id != excluding
        )
