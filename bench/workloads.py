"""The load generator's workloads (``workload`` in its config; see ``bench/loadgen.py``)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

from bench.gen import Gen, Peer
from bench.measure import Stats, percentile
from bench.wsclient import HandshakeFailed


async def _drain(stats: Stats, phase: int, max_s: float, idle_s: float = 2.0) -> None:
    """Wait until every expected delivery of ``phase`` arrived, or nothing came for ``idle_s``,
    or ``max_s`` passed."""
    deadline = time.perf_counter() + max_s
    last, last_change = -1, time.perf_counter()
    while time.perf_counter() < deadline:
        got = stats.delivered[phase]
        if got >= stats.expected[phase]:
            return
        now = time.perf_counter()
        if got != last:
            last, last_change = got, now
        elif now - last_change > idle_s:
            return
        await asyncio.sleep(0.02)


async def pace(senders: list[tuple[Peer, str]], rate_each: float, seconds: float, phase: int,
                gen: Gen, room_size: Callable[[str], int]) -> int:
    """Each sender posts ``rate_each`` messages a second, phases spread at random; returns
    the number sent."""
    period = 1.0 / rate_each
    start = time.perf_counter()
    due = [start + random.random() * period for _ in senders]
    sent = 0
    end = start + seconds
    stats = gen.stats
    while True:
        now = time.perf_counter()
        if now >= end:
            return sent
        for i, (peer, room) in enumerate(senders):
            while due[i] <= now and due[i] < end:
                peer.post(room, phase, gen.cid())
                stats.expected[phase] += room_size(room)
                sent += 1
                due[i] += period
        await asyncio.sleep(min(0.002, max(0.0, min(due) - now)))


def announce(cfg: dict[str, Any], word: str = "MEASURING") -> None:
    """Tell a profiler waiting on our stdout that the measured part begins (or, with
    ``MEASURED``, that it ended)."""
    if cfg.get("announce"):
        print(word, flush=True)


def _latency(values: list[float]) -> dict[str, float | None]:
    return {
        "p50_ms": percentile(values, 50), "p95_ms": percentile(values, 95),
        "p99_ms": percentile(values, 99), "max_ms": max(values) if values else None,
    }


# --------------------------------------------------------------------------- workloads


async def rooms(gen: Gen, cfg: dict[str, Any]) -> dict[str, Any]:
    slugs: list[str] = cfg["rooms"]
    size, per_room, rate = cfg["members"], cfg["senders"], cfg["rate"]
    peers = [gen.peer(i) for i in range(len(slugs) * size)]
    setup_s, failed = await gen.open_all(peers, cfg.get("concurrency", 100))
    join_s = await gen.join_all([(p, slugs[p.index // size]) for p in peers], 100)
    counts = {s: 0 for s in slugs}
    for p in peers:
        if p.client is not None:
            counts[slugs[p.index // size]] += 1
    settle_s = await gen.quiet()
    senders = [(peers[r * size + k], slugs[r]) for r in range(len(slugs)) for k in range(per_room)]
    await pace(senders, rate, cfg["warmup_s"], 0, gen, counts.__getitem__)
    announce(cfg)
    await gen.loop_lag()  # starts the probes over for the measured part
    window = gen.window()
    sent = await pace(senders, rate, cfg["seconds"], 1, gen, counts.__getitem__)
    measured = window.close()
    lag = await gen.loop_lag()
    await _drain(gen.stats, 1, 5.0)
    st = gen.stats
    delivered = st.delivered[1]
    for p in peers:
        p.close()
    return {
        "connections": len(peers) - failed, "connect_failures": failed,
        "connections_per_s": (len(peers) - failed) / setup_s,
        "join_s": join_s, "settle_s": settle_s, "sent": sent, "expected": st.expected[1], "delivered": delivered,
        "delivery_ratio": delivered / st.expected[1] if st.expected[1] else None,
        "deliveries_per_s": delivered / measured["seconds"],
        **_latency(st.latencies[1]), **measured,
        # The same percentile over the warm-up seconds too: a fresh server's first messages
        # (issue 18 asks for small-room tails with and without a warm-up).
        "p99_with_warmup_ms": percentile(st.latencies[0] + st.latencies[1], 99),
        "server_cpu_per_1k": 1000 * measured["server_cpu_s"] / max(delivered, 1),
        "backing_cpu_per_1k": 1000 * measured["backing_cpu_s"] / max(delivered, 1),
        "server_hwm_kib": gen.server.hwm_kib(), "errors": st.errors, **(lag or {}),
    }


async def webinar(gen: Gen, cfg: dict[str, Any]) -> dict[str, Any]:
    room: str = cfg["room"]
    peers = [gen.peer(i) for i in range(cfg["members"])]
    setup_s, failed = await gen.open_all(peers, cfg.get("concurrency", 100))
    join_s = await gen.join_all([(p, room) for p in peers], 100)
    members = sum(1 for p in peers if p.client is not None)
    settle_s = await gen.quiet()
    sender = peers[0]
    steps: list[dict[str, Any]] = []
    held: dict[str, Any] | None = None
    for phase, rate in enumerate(cfg["rates"], start=1):
        if phase >= 26:
            break
        if phase == 1:
            announce(cfg)
        await gen.loop_lag()  # starts the probes over for this step
        window = gen.window()
        sent = await pace([(sender, room)], rate, cfg["step_s"], phase, gen, lambda _r: members)
        measured = window.close()
        lag = await gen.loop_lag()
        await _drain(gen.stats, phase, cfg.get("drain_s", 3.0))
        st = gen.stats
        delivered = st.delivered[phase]
        lat = _latency(st.latencies[phase])
        step = {
            "rate": rate, "sent": sent, "expected": st.expected[phase], "delivered": delivered,
            "delivery_ratio": delivered / st.expected[phase] if st.expected[phase] else None,
            "deliveries_per_s": delivered / measured["seconds"], **lat, **measured,
            "server_cpu_per_1k": 1000 * measured["server_cpu_s"] / max(delivered, 1),
            "backing_cpu_per_1k": 1000 * measured["backing_cpu_s"] / max(delivered, 1),
            **(lag or {}),
        }
        steps.append(step)
        st.latencies[phase] = []  # free them: a saturated step holds millions
        ok = (lat["p99_ms"] is not None and lat["p99_ms"] <= cfg.get("p99_limit_ms", 100)
              and delivered >= st.expected[phase])
        if not ok:
            break
        held = step
    for p in peers:
        p.close()
    return {
        "connections": members, "connect_failures": failed,
        "connections_per_s": members / setup_s, "join_s": join_s, "settle_s": settle_s,
        "highest_rate": held["rate"] if held else 0, "held": held, "steps": steps,
        "server_hwm_kib": gen.server.hwm_kib(), "errors": gen.stats.errors,
    }


async def idle(gen: Gen, cfg: dict[str, Any]) -> dict[str, Any]:
    slugs: list[str] = cfg["rooms"]
    await asyncio.sleep(0.5)
    rss0 = gen.server.rss_kib()
    peers = [gen.peer(i) for i in range(cfg["connections"])]
    announce(cfg)
    window, connect_window = gen.window(), gen.window()
    start = time.perf_counter()
    setup_s, failed = await gen.open_all(peers, cfg.get("concurrency", 200))
    connect = connect_window.close()
    # A profiler of one phase (bench.profile --phase) starts or stops here; it asks for a
    # pause so that its sampler is attached before the joins begin, left out of the rates.
    announce(cfg, "JOINING")
    paused_s = cfg.get("join_pause_s", 0.0)
    if paused_s:
        await asyncio.sleep(paused_s)
    join_s = await gen.join_all([(p, slugs[p.index % len(slugs)]) for p in peers], 200)
    total_s = time.perf_counter() - start - paused_s
    setup = window.close()
    announce(cfg, "MEASURED")
    await asyncio.sleep(cfg.get("settle_s", 2.0))
    idle_window = gen.window()
    await asyncio.sleep(cfg.get("idle_s", 3.0))
    idle_cpu = idle_window.close()
    rss1 = gen.server.rss_kib()
    n = len(peers) - failed
    for p in peers:
        p.close()
    return {
        "connections": n, "connect_failures": failed,
        "connections_per_s": n / setup_s, "joined_per_s": n / total_s, "join_s": join_s,
        "rss_before_kib": rss0, "rss_after_kib": rss1,
        "rss_per_connection_kib": (rss1 - rss0) / max(n, 1),
        "setup_server_cpu_s": setup["server_cpu_s"], "setup_client_cpu_s": setup["client_cpu_s"],
        "connect_server_cpu_s": connect["server_cpu_s"],
        "idle_server_cpu_s": idle_cpu["server_cpu_s"], "idle_seconds": idle_cpu["seconds"],
        "server_hwm_kib": gen.server.hwm_kib(), "errors": gen.stats.errors,
    }


async def storm(gen: Gen, cfg: dict[str, Any]) -> dict[str, Any]:
    slugs: list[str] = cfg["rooms"]
    n, per_room_before, per_room_missed = cfg["connections"], cfg["before"], cfg["missed"]
    peers = [gen.peer(i + 1) for i in range(n)]
    poster = gen.peer(0)
    await poster.open()
    for room in slugs:
        await poster.join(room)
    await gen.open_all(peers, cfg.get("concurrency", 200))
    await gen.join_all([(p, slugs[p.index % len(slugs)]) for p in peers], 200)

    def post_all(count: int) -> None:
        for room in slugs:
            for _ in range(count):
                poster.post(room, 0, gen.cid())

    post_all(per_room_before)
    target = {room: poster.heads[room] + per_room_before for room in slugs}
    await asyncio.gather(*(p.caught_up(slugs[p.index % len(slugs)], target[slugs[p.index % len(slugs)]], 30)
                           for p in peers if p.client is not None and cfg.get("resumes", True)),
                         return_exceptions=True)
    if not cfg.get("resumes", True):
        await asyncio.sleep(1.0)
    for p in peers:
        p.drop()
    post_all(per_room_missed)
    heads = {room: target[room] + per_room_missed for room in slugs}
    await asyncio.sleep(cfg.get("away_s", 0.2))
    announce(cfg)
    window = gen.window()
    times: list[float] = []
    failures = 0

    async def resume(p: Peer) -> None:
        nonlocal failures
        room = slugs[p.index % len(slugs)]
        since = p.seqs.get(room)
        t0 = time.perf_counter()
        try:
            await p.open(timeout_s=30)
            if cfg.get("resumes", True):
                await p.join(room, since=since, timeout_s=30)
                await p.caught_up(room, heads[room], 30)
            else:
                await p.join(room, timeout_s=30)
        except (OSError, HandshakeFailed, TimeoutError, RuntimeError):
            failures += 1
            return
        times.append(time.perf_counter() - t0)

    await asyncio.gather(*(resume(p) for p in peers))
    measured = window.close()
    announce(cfg, "MEASURED")
    for p in [*peers, poster]:
        p.close()
    return {
        "connections": n, "resumed": len(times), "failures": failures,
        "resume_p50_s": percentile(times, 50), "resume_p99_s": percentile(times, 99),
        "resume_max_s": max(times) if times else None, **measured,
        "server_hwm_kib": gen.server.hwm_kib(), "errors": gen.stats.errors,
    }


WORKLOADS = {"rooms": rooms, "webinar": webinar, "idle": idle, "storm": storm}
