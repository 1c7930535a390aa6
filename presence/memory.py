"""In-process presence for the embedded, single-process mode."""

from __future__ import annotations

from presence.state import ConnectionCounts, RoomPresence


class MemoryPresence:
    """``PresenceStore`` kept in this process. Only one gateway exists, so nothing expires
    unless this process stops refreshing, which it never does while alive; the TTL logic is
    kept anyway so both stores behave the same."""

    def __init__(self, gateway_id: str, ttl_s: float) -> None:
        self.gateway_id = gateway_id
        self.ttl_s = ttl_s
        self._rooms: dict[str, RoomPresence] = {}
        self._conns = ConnectionCounts()

    async def enter(self, room: str, user: dict[str, str], now: float) -> bool:
        state = self._rooms.setdefault(room, RoomPresence())
        return state.enter(self.gateway_id, user, now + self.ttl_s)

    async def enter_listing(
        self, room: str, user: dict[str, str], now: float, limit: int
    ) -> tuple[bool, list[dict[str, str]], int]:
        state = self._rooms.setdefault(room, RoomPresence())
        new = state.enter(self.gateway_id, user, now + self.ttl_s)
        return new, state.listing(user["id"], limit), state.count()

    async def leave(self, room: str, user_id: str) -> dict[str, str] | None:
        state = self._rooms.get(room)
        if state is None:
            return None
        gone = state.leave(self.gateway_id, user_id)
        if state.empty():
            del self._rooms[room]
        return gone

    async def refresh(
        self, entries: list[tuple[str, dict[str, str]]], now: float
    ) -> list[tuple[str, dict[str, str]]]:
        back: list[tuple[str, dict[str, str]]] = []
        for room, user in entries:
            if await self.enter(room, user, now):
                back.append((room, user))
        return back

    async def sweep(self, rooms: list[str], now: float) -> list[tuple[str, dict[str, str]]]:
        gone: list[tuple[str, dict[str, str]]] = []
        for room in rooms:
            state = self._rooms.get(room)
            if state is not None:
                gone.extend((room, user) for user in state.sweep(now))
        return gone

    async def present_among(self, room: str, user_ids: list[str]) -> set[str]:
        state = self._rooms.get(room)
        return set() if state is None else {u for u in user_ids if state.counts.get(u, 0) > 0}

    async def present(self, room: str) -> list[dict[str, str]]:
        state = self._rooms.get(room)
        return state.present() if state else []

    async def count(self, room: str) -> int:
        state = self._rooms.get(room)
        return state.count() if state else 0

    async def page(
        self, room: str, after: str | None, limit: int
    ) -> tuple[list[dict[str, str]], str | None]:
        state = self._rooms.get(room)
        return state.page(after, limit) if state else ([], None)

    async def open_connection(self, user_id: str, conn_id: str, cap: int, now: float) -> bool:
        return self._conns.open(user_id, conn_id, now + self.ttl_s, now, cap)

    async def close_connection(self, user_id: str, conn_id: str) -> None:
        self._conns.close(user_id, conn_id)

    async def refresh_connections(self, conns: list[tuple[str, str]], now: float) -> None:
        for user_id, conn_id in conns:
            self._conns.open(user_id, conn_id, now + self.ttl_s, now, cap=1 << 30)

    async def close(self) -> None:
        return None
