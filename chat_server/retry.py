"""Trying a step again until it works, for what is already committed and must still be told.

A change stored in the database has happened; the control message that tells the other
gateways of it cannot be dropped because the broker is down for a moment. ``until_done``
tries such a step again after ``first_s``, doubling up to ``max_s``, for as long as it fails
with ``retry_on``, so that the broker is not hammered while it is down and hears the message
within ``max_s`` of coming back. Run it in a task with an owner (it ends only on success,
another error, or cancellation).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

FIRST_S = 0.1
MAX_S = 2.0


async def until_done(
    attempt: Callable[[], Awaitable[object]],
    retry_on: type[Exception] | tuple[type[Exception], ...] = Exception,
    first_s: float = FIRST_S, max_s: float = MAX_S,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> None:
    """Wait ``first_s``, call ``attempt``; while it raises ``retry_on``, wait twice as long
    (at most ``max_s``) and call it again. Any other error is raised; ``sleep`` is injected
    for tests."""
    delay = first_s
    while True:
        await sleep(delay)
        try:
            await attempt()
            return
        except retry_on:
            delay = min(delay * 2, max_s)
