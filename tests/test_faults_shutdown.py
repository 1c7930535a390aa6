"""Graceful shutdown: a gateway SIGTERMed mid-flow, and the embedded server, flush what every
client is owed, close with 1012, and the clients resume elsewhere without loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from support.backlog import Backlogged, _post_backlog
from support.client import JSON
from support.cluster import Deployment
from support.faults import (
    ACK_TIMEOUT_S,
    CLOSE_RESTART,
    SHUTDOWN_GRACE_S,
    Peer,
    Sender,
    _check_acks,
    _check_received,
    _describe,
    _registered,
    _stop_all,
)
from support.procs import TIMEOUT_SCALE

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------- 5. gateway SIGTERM

BACKLOG = 1200  # big messages before the SIGTERM, so that a stalled member has an outbox


@pytest.mark.redis
@pytest.mark.postgres
async def test_gateway_sigterm_flushes_then_1012_and_clients_resume_elsewhere(cluster: Deployment) -> None:
    """SIGTERM to a gateway with members and a sender on it, mid-flow (senders on it and on
    another gateway keep posting): each of its clients is shown every message acked before the
    signal, then closed with 1012 -- including one that had stopped reading and has a backlog
    queued for it, which reads again once the signal is sent; the process exits 0 within the
    shutdown grace plus a few seconds; its members resume on another gateway with join
    {since}, the sender retries its unacknowledged cid there, and in the end everyone has every
    message once, in order."""
    name, phrase, (room, _, _) = cluster.new_org()
    urls = [gw.ws_url for gw in cluster.gateways]
    m = _registered(cluster, (name, phrase), 7)
    survivor = Sender("sender-gw0", m[0], [urls[0]], room)
    doomed = Sender("sender-gw2", m[1], [urls[2], urls[1]], room, JSON)
    senders = [survivor, doomed]
    members_gw2: list[Peer] = [
        Peer("member-gw2-a", m[2], [urls[2], urls[0]], [room]),
        Peer("member-gw2-b", m[3], [urls[2], urls[1]], [room], JSON),
    ]
    on_victim: list[Peer] = [*members_gw2, doomed]
    elsewhere = [Peer("member-gw0", m[4], [urls[0]], [room]), Peer("member-gw1", m[5], [urls[1]], [room], JSON)]
    peers: list[Peer] = [survivor, doomed, *members_gw2, *elsewhere]
    stop = asyncio.Event()
    progress = asyncio.Condition()
    flows: list[asyncio.Task[None]] = []
    tasks: list[asyncio.Task[Any]] = []

    async def flow(s: Sender) -> None:
        i = 0
        while not stop.is_set():
            await s.post(f"{s.name} {i}", cid=f"{s.name}-{i}")
            i += 1
            async with progress:
                progress.notify_all()
            await asyncio.sleep(0.005)  # pace

    async def acked_at_least(n: Callable[[Sender], int]) -> None:
        async with progress:
            await asyncio.wait_for(
                progress.wait_for(lambda: all(len(s.acked) >= n(s) for s in senders)), 30 * TIMEOUT_SCALE
            )

    stalled = await Backlogged.join(cluster.gateways[2], m[6], room)
    try:
        for p in peers:
            await p.open()
        for p in [*members_gw2, *elsewhere]:
            p.keep_connected()
        await _post_backlog(survivor, BACKLOG)
        marks = {s.name: len(s.acked) for s in senders}
        flows += [asyncio.create_task(flow(s)) for s in senders]
        tasks += flows
        await acked_at_least(lambda s: marks[s.name] + 20)
        before = max(int(a["seq"]) for s in senders for a in s.all_acks())
        t0 = time.monotonic()
        terminating = asyncio.create_task(asyncio.to_thread(cluster.gateways[2].terminate))
        tasks.append(terminating)
        backlog, backlog_close, reason = await stalled.read_to_close()
        exit_code = await terminating
        t_exit = time.monotonic() - t0
        assert backlog_close == CLOSE_RESTART, f"stalled member: {backlog_close} {reason}"
        k = len(backlog)
        assert [f["seq"] for f in backlog] == list(range(1, k + 1))
        assert k >= before, f"stalled member closed at seq {k}; {before} was acked before SIGTERM"
        for p in on_victim:
            first = p.clients[0]
            code = await first.wait_closed(5)
            assert code == CLOSE_RESTART, f"{p.name}: {code} {first.close_reason}"
            seqs = [int(f["seq"]) for f in first.messages(room)]
            assert seqs == list(range(1, len(seqs) + 1)), f"{p.name}: {_describe(seqs, list(range(1, before + 1)))}"
            assert len(seqs) >= before, f"{p.name} closed at seq {len(seqs)}; {before} was acked before SIGTERM"
        assert exit_code == 0, f"gateway exited with {exit_code}:\n{cluster.gateways[2].log_tail()}"
        assert t_exit <= SHUTDOWN_GRACE_S + 5, f"exit took {t_exit:.1f}s"

        # The stalled member resumes elsewhere; the senders go on a little after the clients
        # came back; then everything is counted.
        resumed = Peer("stalled-resumed", m[6], [urls[0]], [room])
        resumed.first_joined[room] = {"seq": k}
        peers.append(resumed)
        await resumed.open()
        marks = {s.name: len(s.acked) for s in senders}
        await acked_at_least(lambda s: marks[s.name] + 20)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*flows), 20 * TIMEOUT_SCALE)
        acked = _check_acks(senders)[room]
        for p in peers[:-1]:
            await p.wait_messages(room, len(acked), 20)
            _check_received(p, room, acked)
        await resumed.wait_messages(room, len(acked) - k, 20)
        assert [int(f["seq"]) for f in resumed.messages(room)] == list(range(k + 1, len(acked) + 1))
        assert resumed.joins[0][1] == k
        for p in on_victim:
            assert p.urls_used[0] == urls[2] and urls[2] not in p.urls_used[1:], p.urls_used
            last = int(p.clients[0].messages(room)[-1]["seq"])
            assert [since for _, since, _ in p.joins[1:]] == [last], f"{p.name} resumed with {p.joins[1:]}"
        print(
            f"\nSIGTERM: exit 0 after {t_exit:.2f}s; {before} acked before it, {len(acked)} in all; "
            f"the stalled member read {k} then 1012; the sender on the gateway retried after the "
            f"close: {sorted(doomed.retried_after_close)}"
        )
    finally:
        await stalled.close()
        await _stop_all(peers, tasks)


# --------------------------------------------------------------------------- 6. embedded SIGTERM


@pytest.fixture
def embedded_alone(tmp_path: Path) -> Iterator[Deployment]:
    dep = Deployment.start(tmp_path, count=1)
    yield dep
    dep.stop()


async def test_embedded_sigterm_flushes_then_1012(embedded_alone: Deployment) -> None:
    """Embedded mode (one process, no Redis): SIGTERM mid-flow closes every client with 1012
    after it was shown every message acked before the signal -- in fact every message whose
    ack went out at all -- including a member that had stopped reading with a backlog queued
    for it; the process exits 0 in time."""
    dep = embedded_alone
    gw = dep.gateways[0]
    name, phrase, (room, _, _) = dep.new_org()
    m = _registered(dep, (name, phrase), 4)
    sender = Sender("sender", m[0], [gw.ws_url], room)
    members = [Peer("member-a", m[1], [gw.ws_url], [room]), Peer("member-b", m[2], [gw.ws_url], [room], JSON)]
    peers: list[Peer] = [sender, *members]
    tasks: list[asyncio.Task[Any]] = []
    stalled = await Backlogged.join(gw, m[3], room)
    try:
        for p in peers:
            await p.open()
        await _post_backlog(sender, BACKLOG)
        enough = asyncio.Event()

        async def flow() -> None:
            # Unlike Sender.post, no retry: there is nowhere to go once the process is gone.
            i = 0
            with contextlib.suppress(ConnectionError, websockets.ConnectionClosed):
                while True:
                    client = sender.client
                    cid = f"emb-{i}"
                    start = len(client.frames)
                    await client.send({"type": "send", "room": room, "body": f"emb {i}", "cid": cid})
                    await client.wait_until(
                        lambda f, s=start, c=cid: any(x.get("cid") == c for x in f[s:]), ACK_TIMEOUT_S, cid
                    )
                    i += 1
                    if i == 20:
                        enough.set()
                    await asyncio.sleep(0.005)  # pace

        tasks.append(asyncio.create_task(flow()))
        await asyncio.wait_for(enough.wait(), 30 * TIMEOUT_SCALE)
        acks_before = len(sender.all_acks())
        t0 = time.monotonic()
        terminating = asyncio.create_task(asyncio.to_thread(gw.terminate))
        tasks.append(terminating)
        backlog, backlog_close, reason = await stalled.read_to_close()
        exit_code = await terminating
        t_exit = time.monotonic() - t0
        await asyncio.wait_for(tasks[0], 10 * TIMEOUT_SCALE)
        acks = sender.all_acks()
        assert [a["seq"] for a in acks] == list(range(1, len(acks) + 1))
        assert len(acks) >= acks_before >= BACKLOG + 20
        assert backlog_close == CLOSE_RESTART, (
            f"stalled member: {backlog_close} {reason} after reading {len(backlog)} of {len(acks)} acked, "
            f"exit {exit_code} after {t_exit:.1f}s\n{gw.log_tail()}"
        )
        shown = {"stalled member": backlog}
        for p in [sender, *members]:
            code = await p.client.wait_closed(5)
            assert code == CLOSE_RESTART, f"{p.name}: {code} {p.client.close_reason}"
            shown[p.name] = p.messages(room)
        for who, got in shown.items():
            # Every acked message, in order, once; at most the one being posted as the drain
            # began may follow (fanned out once committed, its ack then refused by the drain).
            seqs = [int(f["seq"]) for f in got]
            expected = [int(a["seq"]) for a in acks]
            assert seqs[: len(acks)] == expected, f"{who}: {_describe(seqs, expected)}"
            assert [f["id"] for f in got[: len(acks)]] == [a["id"] for a in acks], who
            assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) <= len(acks) + 1, who
        assert exit_code == 0, f"exit code {exit_code}:\n{gw.log_tail()}"
        assert t_exit <= SHUTDOWN_GRACE_S + 5, f"exit took {t_exit:.1f}s"
        print(
            f"\nembedded SIGTERM: exit 0 after {t_exit:.2f}s; {acks_before} acked before it, "
            f"{len(acks)} in all; the stalled member read {len(backlog)} then 1012"
        )
    finally:
        await stalled.close()
        await _stop_all(peers, tasks)
