"""Issue 13, point 5: a client that stops reading is closed with 1013, also when what it is
owed is only replies (a join's replay, acks), not room traffic. A real socket that stops
reading: its connection slot is free again within KINDRED_WRITE_STALL_S (plus slack), and
when it reads on it finds the close code 1013, not 1011 from the ping timeout."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from support.client import JSON, Client
from support.cluster import Deployment
from support.procs import TIMEOUT_SCALE

STALL_S = 2.0
SLACK_S = 3.0  # the server's own delay in noticing (load, 2 cores), not part of the bound


@pytest.fixture(scope="module")
def strict_slots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    env = {"KINDRED_WRITE_STALL_S": str(STALL_S), "KINDRED_MAX_CONNECTIONS_PER_MEMBER": "1",
           "KINDRED_PING_INTERVAL_S": "20"}
    dep = Deployment.start(tmp_path_factory.mktemp("slow-reader"), count=1, extra_env=env)
    yield dep
    dep.stop()


async def _slot_free(url: str, token: str) -> bool:
    try:
        ws = await websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                                      subprotocols=[JSON], open_timeout=10 * TIMEOUT_SCALE)  # type: ignore[list-item]
    except InvalidStatus as exc:
        assert exc.response.status_code == 429, exc
        return False
    await ws.close()
    return True


async def test_a_client_that_stops_reading_is_closed_1013(strict_slots: Deployment) -> None:
    dep = strict_slots
    room = "exercise-and-movement"
    poster_m, slow_m = dep.register(), dep.register()
    poster = await Client.connect(dep.gateways[0].ws_url, poster_m.token)
    try:
        await poster.join(room)
        body = "a calm long note about walking " * 125  # ~3.9 KB, no phone number or date
        for i in range(32):
            assert (await poster.post(room, body, cid=f"long-{i}"))["type"] == "ack"
        # The slow client: once one frame is queued unread, websockets stops reading the
        # socket, so the kernel buffers fill and the server's writes block.
        slow = await websockets.connect(
            dep.gateways[0].ws_url, additional_headers={"Authorization": f"Bearer {slow_m.token}"},
            subprotocols=[JSON], max_queue=1, compression=None, max_size=2**22,  # type: ignore[list-item]
        )
        join = json.dumps({"type": "join", "room": room, "since": 0})
        # 3,000 joins, each owed a replay of 32 x 4 KB; the server stops reading this socket
        # once it cannot write, so the sends stop being taken: stop then.
        for _ in range(3000):
            try:
                await asyncio.wait_for(slow.send(join), 1)
            except TimeoutError:
                break
        stuck_at = time.monotonic()
        assert not await _slot_free(dep.gateways[0].ws_url, slow_m.token), "the slot was free at once"
        # Bounded wait: the slot must be free within the stall bound.
        bound = (STALL_S + SLACK_S) * TIMEOUT_SCALE
        while not await _slot_free(dep.gateways[0].ws_url, slow_m.token):
            assert time.monotonic() - stuck_at < bound, f"still holding its slot after {bound}s"
            await asyncio.sleep(0.1)
        freed_after = time.monotonic() - stuck_at
        # Reading on, the client finds 1013 after what was already in its buffers.
        async def drain() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for _ in slow:
                    pass

        await asyncio.wait_for(drain(), 30 * TIMEOUT_SCALE)
        assert slow.close_code == 1013, (slow.close_code, slow.close_reason)
        assert freed_after < bound
        # Others were served all along, and still are.
        assert (await poster.post(room, "still here", cid="after-slow"))["type"] == "ack"
    finally:
        await poster.close()
    log = dep.gateways[0].log_tail(500)
    assert "Traceback" not in log, log
