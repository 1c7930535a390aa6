"""Stopping background tasks so that a shutdown always ends.

Python 3.11's ``asyncio.wait_for`` can swallow a cancellation that arrives while the awaitable
it wraps is completing (fixed in 3.12, python/cpython#86296): a loop built on it then runs on
after ``task.cancel()``, and a stop that awaits the task waits for ever, which kept a
gateway from exiting after SIGTERM. Loops here wait with ``asyncio.timeout`` instead, which
does not lose cancellations, and every background task is stopped through ``stop_task``,
which cancels again until the task has ended and says so in the log if it took more than one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

_RETRY_S = 1.0


async def stop_task(task: asyncio.Task[object] | asyncio.Task[None] | None) -> None:
    """Cancel ``task`` and wait until it has ended (its result or error is dropped)."""
    if task is None:
        return
    tries = 0
    while not task.done():
        task.cancel()
        tries += 1
        await asyncio.wait({task}, timeout=_RETRY_S)
    if tries > 1:
        log.warning("task %s needed %d cancellations to stop", task.get_name(), tries)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()


async def wait_at_most(awaitable: Awaitable[object], seconds: float) -> None:
    """Await ``awaitable`` for at most ``seconds`` (no error when the time runs out), without
    ever swallowing a cancellation of the caller (unlike 3.11's ``wait_for``)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await awaitable


async def outlive_caller(owner: set[asyncio.Task[None]], work: Coroutine[Any, Any, None], name: str) -> None:
    """Run ``work`` in its own task and wait for it; if the caller is cancelled meanwhile (its
    socket closed), ``work`` still runs to its end. ``owner`` holds the task until it is done,
    so that shutdown can wait for what is left (``finish``)."""
    task = asyncio.create_task(work, name=name)
    owner.add(task)
    task.add_done_callback(owner.discard)
    await asyncio.shield(task)


async def finish(owner: set[asyncio.Task[None]], seconds: float) -> None:
    """Wait at most ``seconds`` for the tasks of ``outlive_caller``, then stop the rest."""
    if owner:
        await wait_at_most(asyncio.gather(*owner, return_exceptions=True), seconds)
    for task in list(owner):
        await stop_task(task)
