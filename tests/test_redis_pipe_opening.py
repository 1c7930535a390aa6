"""presence/redis_conn.py's opening of a RedisPipe's connection: it counts as open only once
Redis has answered, so a server that accepts the TCP connection and then refuses or drops it
(``maxclients``, protected mode, a proxy in front of a Redis that is down) is a failed
attempt: the backoff holds, and the callers get a ``ConnectionError``, not the refusal as
the first caller's reply.

Without that, every call connected again at once: the reviewer's storm (1,181 connects in
0.6 s with an ``at_once`` pipe, each post a connection of its own).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis as redis_sync

from presence.redis_address import Address
from presence.redis_pipe import RedisPipe
from support.procs import TIMEOUT_SCALE, RedisServer

# What each kind of server writes once it accepts a connection, before closing it.
_REFUSALS = {
    "maxclients": b"-ERR max number of clients reached\r\n",
    "protected-mode": b"-DENIED Redis is running in protected mode\r\n",
    "proxy-to-a-down-redis": b"",
}


class _Refuser:
    """Accepts every connection on 127.0.0.1, writes ``refusal`` and closes it."""

    def __init__(self, refusal: bytes) -> None:
        self.refusal = refusal
        self.accepted = 0
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        writer.write(self.refusal)
        await writer.drain()
        writer.close()


@pytest.fixture(params=sorted(_REFUSALS))
async def refuser(request: pytest.FixtureRequest) -> AsyncIterator[_Refuser]:
    refuser = _Refuser(_REFUSALS[request.param])
    server = await asyncio.start_server(refuser._handle, "127.0.0.1", 0)
    refuser.port = server.sockets[0].getsockname()[1]
    try:
        yield refuser
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("at_once", [True, False], ids=["at-once", "per-turn"])
async def test_a_connection_refused_after_the_accept_is_a_failed_attempt(
    refuser: _Refuser, at_once: bool,
) -> None:
    pipe = RedisPipe(Address(host="127.0.0.1", port=refuser.port, timeout_s=2.0 * TIMEOUT_SCALE),
                     at_once=at_once)
    try:
        loop = asyncio.get_running_loop()
        end = loop.time() + 0.6
        results: list[object] = []
        while loop.time() < end:  # callers that try again at once, as posts do
            results += await asyncio.gather(*(pipe.execute("PING") for _ in range(3)),
                                            return_exceptions=True)
        # Backing off (50, 100, 200, 400 ms) that is four or five attempts; a loaded machine
        # only makes fewer. Without the backoff, every round of calls was one.
        assert refuser.accepted == pipe.connects
        assert 1 <= pipe.connects <= 10, pipe.connects
        assert results and all(type(r) is ConnectionError for r in results), {repr(r) for r in results}
    finally:
        await pipe.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path, appendonly=False) as srv:
        yield srv


@pytest.mark.redis
async def test_a_redis_at_maxclients_is_backed_off_and_connected_once_it_has_room(
    server: RedisServer,
) -> None:
    admin = redis_sync.Redis(port=server.port)
    pipe = RedisPipe(Address(port=server.port, timeout_s=2.0 * TIMEOUT_SCALE), at_once=True)
    try:
        admin.config_set("maxclients", 1)  # the admin's own connection is the one
        loop = asyncio.get_running_loop()
        end = loop.time() + 0.6
        while loop.time() < end:
            with pytest.raises(ConnectionError, match="max number of clients"):
                await pipe.execute("PING")
        assert 1 <= pipe.connects <= 10, pipe.connects
        admin.config_set("maxclients", 100)
        # The next attempt, after the backoff, connects; the connection then stays.
        assert await pipe.execute("PING") == b"PONG"
        connects = pipe.connects
        assert await asyncio.gather(*(pipe.execute("INCR", "n") for _ in range(5))) == [1, 2, 3, 4, 5]
        assert pipe.connects == connects
    finally:
        await pipe.close()
        admin.close()
