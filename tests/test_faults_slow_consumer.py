"""A consumer that stops reading is closed with 1013 and resumes without loss; one stalled
past the drop still reads its 1013.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.backlog import BIG, Backlogged
from support.client import JSON
from support.cluster import Deployment
from support.faults import (
    CLOSE_SLOW,
    REPLAY_WINDOW_SLOW,
    Peer,
    Sender,
    _check_acks,
    _check_received,
    _describe,
    _registered,
    _stop_all,
)
from support.gateways import Gateway, start_together
from support.procs import TIMEOUT_SCALE, RedisServer

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------- 4. slow consumer


@pytest.fixture
def small_outbox(
    tmp_path: Path, _three_gateways: Deployment, fault_redis: RedisServer
) -> Iterator[Deployment]:
    """Two more gateways on the same redis and database (already migrated and seeded), with
    64-frame outboxes; stopped after the test, so other tests see only the three. The replay
    window is raised because the kernel alone buffers ~930 of these 3 KB frames (the server's
    send buffer autotunes to 4 MiB on loopback) before the outbox even starts to fill, and the
    resumed client must find everything it missed still in the stream."""
    if not fault_redis.running:
        fault_redis.restart()
    env = {
        **_three_gateways.env,
        "KINDRED_OUTBOX_MAX_FRAMES": "64",
        "KINDRED_REPLAY_WINDOW": str(REPLAY_WINDOW_SLOW),
    }
    dep = Deployment(_three_gateways.workdir, env)
    try:
        dep.gateways = [Gateway(env, tmp_path, name=f"outbox64-gw{i}") for i in range(2)]
        start_together(dep.gateways)
        yield dep
    finally:
        dep.stop()



async def _slow_consumer(dep: Deployment, stall_after_drop_s: float) -> int:
    """A member on gateway 1 stops reading while a member on gateway 0 posts 3,000-character
    messages as fast as they are acked, until the members on both gateways (one beside the
    slow one) see the slow member leave, i.e. the server dropped its connection. The slow
    client then stays stalled ``stall_after_drop_s`` more, reads what its socket holds up to
    the close, reconnects and resumes with join {since}. Everything is counted; returns the
    close code the slow client read."""
    name, phrase, (room, _, _) = dep.new_org()
    m = _registered(dep, (name, phrase), 3)
    urls = [gw.ws_url for gw in dep.gateways]
    sender = Sender("sender-gw0", m[0], [urls[0]], room)
    beside = Peer("fast-gw1", m[1], [urls[1]], [room], JSON)
    peers: list[Peer] = [sender, beside]
    slow_id = m[2].id
    max_messages, after = 4000, 20
    stalled = await Backlogged.join(dep.gateways[1], m[2], room)
    try:
        assert stalled.joined["seq"] == 0, stalled.joined
        for p in peers:
            await p.open()
        for p in peers:
            await p.client.wait_until(lambda f, p=p: slow_id in p.client.present_ids(room), 10, "slow present")

        def dropped(p: Peer) -> bool:
            return any(m["id"] == slow_id for f in p.frames("presence") for m in f["left"])

        # From here on the slow client reads nothing.
        t0 = time.monotonic()
        posted = 0
        while not (dropped(beside) or dropped(sender)):  # read again as soon as one sees it
            assert posted < max_messages, f"slow client still connected after {posted} messages"
            assert time.monotonic() - t0 < 30 * TIMEOUT_SCALE, "slow client not dropped in 30 s"
            await sender.post(f"{posted:05d} {BIG}", cid=f"big-{posted}")
            posted += 1
        t_dropped = time.monotonic() - t0
        if stall_after_drop_s:
            await asyncio.sleep(stall_after_drop_s)  # the client stays stalled: the fault itself

        # Read what the stalled socket holds, up to the server's close frame.
        slow_seen, close_code, _ = await stalled.read_to_close()
        t_closed = time.monotonic() - t0
        for p in peers:  # both saw the slow member leave (once)
            await p.client.wait_until(lambda f, p=p: dropped(p), 5, "slow member left")
            assert sum(m["id"] == slow_id for f in p.frames("presence") for m in f["left"]) == 1
        for i in range(after):
            await sender.post(f"after {i}", cid=f"after-{i}")
        total = posted + after
        assert total < REPLAY_WINDOW_SLOW, "stay inside the replay window"

        acked = _check_acks([sender])[room]
        k = len(slow_seen)
        assert [f["seq"] for f in slow_seen] == list(range(1, k + 1))
        assert k < posted, "the slow client cannot have been shown everything"
        slow = Peer("slow-resumed", m[2], [urls[1]], [room])
        slow.first_joined[room] = {"seq": k}
        peers.append(slow)
        await slow.open()
        ((_, since, resumed),) = slow.joins
        assert since == k and resumed["seq"] == total, resumed
        await slow.wait_messages(room, total - k, 20)
        got = slow.messages(room)
        assert [f["seq"] for f in got] == list(range(k + 1, total + 1)), _describe(
            [f["seq"] for f in got], list(range(k + 1, total + 1))
        )
        assert [f["id"] for f in got] == [acked[s] for s in range(k + 1, total + 1)]
        for p in (sender, beside):
            await p.wait_messages(room, total, 20)
            _check_received(p, room, acked)
            assert not p.close_codes and p.client.close_code is None, f"{p.name} was disconnected"
        print(
            f"\nslow consumer (stalled {stall_after_drop_s}s more): dropped after {posted} "
            f"messages / {t_dropped:.1f}s, close {close_code} read at {t_closed:.1f}s, "
            f"it had been shown {k}"
        )
        return close_code
    finally:
        await stalled.close()
        await _stop_all(peers)


@pytest.mark.redis
@pytest.mark.postgres
async def test_slow_consumer_is_closed_1013_and_resumes_without_loss(small_outbox: Deployment) -> None:
    """A member stops reading while 3,000-character messages pour in: the server closes that
    connection with 1013 once its 64-frame outbox is full, rather than buffering without
    bound or holding up the room. Members on both gateways, one beside the slow one, get every
    message; the slow member reconnects with join {since} and gets everything it missed."""
    assert await _slow_consumer(small_outbox, stall_after_drop_s=0) == CLOSE_SLOW


@pytest.mark.redis
@pytest.mark.postgres
async def test_consumer_stalled_past_the_drop_still_reads_1013(small_outbox: Deployment) -> None:
    """The same, but the slow client stays stalled 6 s after the server dropped it before it
    reads again (a phone whose app was in the background): it must still find 1013 after the
    frames its socket holds. Everything else (counts, resume) is checked before that."""
    assert await _slow_consumer(small_outbox, stall_after_drop_s=6.0) == CLOSE_SLOW
