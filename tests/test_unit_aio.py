"""Stopping background tasks: a shutdown must end even when a task loses a cancellation."""

from __future__ import annotations

import asyncio
import logging

import pytest

from chat_server.aio import finish, outlive_caller, stop_task, wait_at_most


async def test_a_task_that_swallows_one_cancellation_is_still_stopped(caplog: pytest.LogCaptureFixture) -> None:
    # What 3.11's wait_for does when a cancellation lands as the awaited thing completes: the
    # loop carries on. A single cancel() followed by `await task` would wait for ever here.
    swallowed = 0

    async def loop() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1

    task = asyncio.create_task(loop(), name="stubborn")
    await asyncio.sleep(0.02)
    with caplog.at_level(logging.WARNING, logger="chat_server.aio"):
        async with asyncio.timeout(5):
            await stop_task(task)
    assert task.done() and swallowed == 1
    assert "stubborn needed 2 cancellations" in caplog.text


async def test_stop_task_drops_the_result_or_error_and_accepts_none() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    await stop_task(task)  # the error is retrieved, not raised, nor left to be logged
    await stop_task(None)


async def test_wait_at_most_never_swallows_the_callers_cancellation() -> None:
    # The caller is cancelled exactly as the event it waits for is set: the race 3.11's
    # wait_for loses. The cancellation must reach the caller every time.
    for _ in range(50):
        event = asyncio.Event()

        async def waiter(e: asyncio.Event = event) -> str:
            await wait_at_most(e.wait(), 5)
            await asyncio.sleep(10)  # only reached if the cancellation was lost
            return "lost"

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        event.set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            async with asyncio.timeout(2):
                await task


async def test_wait_at_most_returns_when_the_time_is_up() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await wait_at_most(asyncio.Event().wait(), 0.05)
    assert loop.time() - started < 2


async def test_work_outlives_a_cancelled_caller_and_finish_waits_for_it() -> None:
    """A sender's connection that ends while the checks after its post run (cancelling it)
    must not cancel those checks; shutdown waits for them, then stops what is left."""
    owner: set[asyncio.Task[None]] = set()
    done: list[str] = []
    started = asyncio.Event()

    async def work(name: str, seconds: float) -> None:
        started.set()
        await asyncio.sleep(seconds)
        done.append(name)

    caller = asyncio.create_task(outlive_caller(owner, work("alert", 0.05), "test"))
    await started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert done == [] and len(owner) == 1  # still running, held by its owner
    await finish(owner, 5.0)
    assert done == ["alert"] and not owner

    stuck = asyncio.create_task(outlive_caller(owner, work("never", 3600), "test"))
    await asyncio.sleep(0)
    await finish(owner, 0.05)  # the time runs out: what is left is stopped
    assert not owner and done == ["alert"]
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck
