"""Counting failures (wrong key phrases, wrong passwords) per key over a window.

In Redis when configured, so every gateway shares the count; in memory otherwise.
"""

from __future__ import annotations

import time
from typing import Protocol

from redis.asyncio import Redis

from rooms.errors import RateLimited


class FailureCounter(Protocol):
    async def count(self, key: str) -> int: ...

    async def add(self, key: str) -> int: ...


class MemoryFailures:
    def __init__(self, window_s: int) -> None:
        self._window_s = window_s
        self._hits: dict[str, list[float]] = {}

    def _live(self, key: str, now: float) -> list[float]:
        hits = [t for t in self._hits.get(key, []) if t > now - self._window_s]
        if hits:
            self._hits[key] = hits
        else:
            self._hits.pop(key, None)
        return hits

    async def count(self, key: str) -> int:
        return len(self._live(key, time.monotonic()))

    async def add(self, key: str) -> int:
        now = time.monotonic()
        hits = self._live(key, now)
        hits.append(now)
        self._hits[key] = hits
        if len(self._hits) > 100_000:  # bounded: forget the oldest keys first
            for stale in list(self._hits)[:10_000]:
                del self._hits[stale]
        return len(hits)


class RedisFailures:
    """A fixed window per key: INCR, and the first hit sets the expiry."""

    def __init__(self, redis: Redis, prefix: str, window_s: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._window_s = window_s

    async def count(self, key: str) -> int:
        return int(await self._redis.get(f"{self._prefix}:{key}") or 0)

    async def add(self, key: str) -> int:
        name = f"{self._prefix}:{key}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, self._window_s, nx=True)
            hits, _ = await pipe.execute()
        return int(hits)


class RequestLimit:
    """At most ``rate`` new requests of one kind per member per window, on a shared counter.

    ``take`` counts one and raises ``RateLimited`` past the limit; it is called before anything
    is recorded, so a refused request changes nothing."""

    def __init__(self, counter: FailureCounter, rate: int, window_s: int, detail: str) -> None:
        self._counter = counter
        self._rate = rate
        self._window_s = window_s
        self._detail = detail

    async def take(self, member_id: str) -> None:
        if await self._counter.count(member_id) >= self._rate or await self._counter.add(member_id) > self._rate:
            raise RateLimited(self._detail, float(self._window_s))
