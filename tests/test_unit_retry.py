"""chat_server/retry.py: the one back-off for publishing a committed change again (used by
the session lifecycle and the private-talk desk): 0.1 s doubling to 2 s, until it works."""

from __future__ import annotations

import pytest

from chat_server.retry import until_done
from rooms.errors import Unavailable


async def test_tries_again_doubling_to_the_cap_until_it_works() -> None:
    slept: list[float] = []
    tries: list[int] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def attempt() -> None:
        tries.append(len(tries))
        if len(tries) < 7:
            raise Unavailable("the broker is down")

    await until_done(attempt, Unavailable, sleep=sleep)
    assert len(tries) == 7
    assert slept == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0])


async def test_an_error_it_does_not_retry_on_is_raised() -> None:
    async def sleep(_: float) -> None:
        pass

    async def attempt() -> None:
        raise KeyError("a bug, not an outage")

    with pytest.raises(KeyError):
        await until_done(attempt, Unavailable, sleep=sleep)
