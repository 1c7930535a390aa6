"""Shared state that must be the same on every gateway: slow-mode slots and who is on duty.

Each has an in-memory form (embedded mode: one process) and a Redis form. Slow mode must hold
across a member's connections on different gateways, so its slot is one Redis key set with NX:
whichever post claims it first goes, the others wait. Duty entries carry an expiry refreshed
by the gateway holding the navigator's connection, so a killed gateway's entries lapse.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from chat_server import keys
from rooms.errors import Unavailable


class SlowModeSlots(Protocol):
    async def claim(self, room: str, user_id: str, interval_s: int, now: float) -> float | None:
        """Claim the member's next post in ``room``: None when claimed, otherwise when the
        post holding the slot was made, on the caller's clock (``now``), so that the slot
        frees at that time plus ``interval_s``. Raises ``Unavailable``."""
        ...


class MemorySlots:
    def __init__(self) -> None:
        self._until: dict[tuple[str, str], float] = {}  # monotonic

    async def claim(self, room: str, user_id: str, interval_s: int, now: float) -> float | None:
        mono = time.monotonic()
        key = (room, user_id)
        until = self._until.get(key, 0.0)
        if until > mono:
            return now - (interval_s - (until - mono))
        self._until[key] = mono + interval_s
        if len(self._until) > 100_000:
            self._until = {k: u for k, u in self._until.items() if u > mono}
        return None


class RedisSlots:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def claim(self, room: str, user_id: str, interval_s: int, now: float) -> float | None:
        key = keys.slow_mode(room, user_id)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(key, b"1", px=interval_s * 1000, nx=True)
                pipe.pttl(key)
                claimed, ttl_ms = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise Unavailable("could not check the room's slow mode; send it again") from exc
        if claimed:
            return None
        # From the key's time to live (Redis's clock), not a stored time: gateways' clocks
        # may disagree, the wait must not.
        return now - (interval_s - max(int(ttl_ms), 1) / 1000)


# -- duty ----------------------------------------------------------------------------------

DutyView = dict[str, Any]  # {"id", "handle", "role", "org_id", "assigned": [...]}; server-side only


class DutyStore(Protocol):
    async def put(self, gateway: str, view: DutyView, expires: float) -> None: ...

    async def remove(self, gateway: str, member_id: str) -> None: ...

    async def snapshot(self, now: float) -> dict[str, DutyView]:
        """Everyone on duty on any gateway, by member id; lapsed entries are dropped."""
        ...


class MemoryDuty:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[DutyView, float]] = {}

    async def put(self, gateway: str, view: DutyView, expires: float) -> None:
        self._entries[(gateway, view["id"])] = (view, expires)

    async def remove(self, gateway: str, member_id: str) -> None:
        self._entries.pop((gateway, member_id), None)

    async def snapshot(self, now: float) -> dict[str, DutyView]:
        self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
        return {member_id: view for (_, member_id), (view, _) in self._entries.items()}


_DUTY_KEY = keys.DUTY


class RedisDuty:
    """One hash: field ``gateway|member`` -> JSON ``{"view": ..., "exp": seconds}``."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def put(self, gateway: str, view: DutyView, expires: float) -> None:
        value = json.dumps({"view": view, "exp": expires})
        await self._call(self._redis.hset(_DUTY_KEY, f"{gateway}|{view['id']}", value))

    async def remove(self, gateway: str, member_id: str) -> None:
        await self._call(self._redis.hdel(_DUTY_KEY, f"{gateway}|{member_id}"))

    async def snapshot(self, now: float) -> dict[str, DutyView]:
        raw: dict[bytes, bytes] = await self._call(self._redis.hgetall(_DUTY_KEY))
        found: dict[str, DutyView] = {}
        lapsed = []
        for field, value in raw.items():
            entry = json.loads(value)
            if entry["exp"] <= now:
                lapsed.append(field)
            else:
                found[entry["view"]["id"]] = entry["view"]
        if lapsed:
            await self._call(self._redis.hdel(_DUTY_KEY, *lapsed))
        return found

    @staticmethod
    async def _call(awaitable: Any) -> Any:
        try:
            return await awaitable
        except (RedisError, OSError) as exc:
            raise Unavailable("could not reach the duty roster; try again") from exc
