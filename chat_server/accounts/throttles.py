"""The account throttles: failures (and registrations) counted per key over a window, in
Redis when configured so every gateway shares them, in memory otherwise (chat_server/limits)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from chat_server import keys
from chat_server.accounts.errors import TooManyAttempts
from chat_server.config import Settings
from chat_server.limits import FailureCounter, MemoryFailures, RedisFailures


@dataclass(frozen=True, slots=True)
class Throttles:
    key_failures: FailureCounter  # wrong key phrases, per client address
    login_failures: FailureCounter  # failed sign-ins, wrong current passwords, wrong reset codes
    registrations: FailureCounter  # registrations with a right key phrase, per address and key

    @classmethod
    def open(cls, settings: Settings, redis: Redis | None) -> Throttles:
        if redis is not None:
            return cls(RedisFailures(redis, keys.KEY_FAILURES, settings.key_phrase_window_s),
                       RedisFailures(redis, keys.LOGIN_FAILURES, settings.key_phrase_window_s),
                       RedisFailures(redis, keys.REGISTRATIONS, settings.register_window_s))
        return cls(MemoryFailures(settings.key_phrase_window_s),
                   MemoryFailures(settings.key_phrase_window_s),
                   MemoryFailures(settings.register_window_s))


async def refuse_if_full(counter: FailureCounter, key: str, limit: int, detail: str, window_s: int) -> None:
    """``TooManyAttempts`` (``Retry-After: window_s``) once ``key`` has ``limit`` entries."""
    if await counter.count(key) >= limit:
        raise TooManyAttempts(detail, window_s)
