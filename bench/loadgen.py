"""The load generator: one process, asyncio (uvloop when available), the real protocol.

    python -m bench.loadgen CONFIG.json      # prints one JSON object with the figures

It is started by ``bench.run`` once per workload and run, and stops by itself: every phase
has a fixed length and every wait a deadline. It measures the server from outside: server
CPU and RSS are read from ``/proc`` for the process ids it is given (same machine), client
CPU from its own rusage. Latency is send-to-receive, from a timestamp the sender writes into
the message body (same process, same monotonic clock).

Workloads (``workload`` in the config):
  rooms    many small rooms, a few senders each at a fixed rate
  webinar  one big room, one sender stepping its rate up until p99 > 100 ms or a loss
  idle     many connections joined to rooms and left idle: RSS per connection, setup rate
  storm    connections dropped at once and resuming at once: time to resume
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import resource
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from bench.dialects import Msgpack, SocketIO, dialect
from bench.wsclient import HandshakeFailed, WSClient, connect

# Timestamps travel in message bodies as letters only: a run of digits could look like a
# phone number to Kindred's PHI check, which would hold the message instead of posting it.
_ALPHA = "abcdefghijklmnopqrstuvwxyz"
_BODY = "Thank you all for sharing today, it really helps to hear from people who get it ~"


_STAMP_LETTERS = 12  # 26**12 ns is over 3,000 years of perf_counter_ns
_BYTES_TO_BASE26 = bytes.maketrans(_ALPHA.encode(), b"0123456789abcdefghijklmnop")
# Every message frame of every target starts with a map header, then "type": "message"
# (msgpack), or is a Socket.IO event named "message" (text).
_MSGPACK_MESSAGE = b"\xa4type\xa7message"
_SIO_MESSAGE = b'42["message"'


def stamp(phase: int, now_ns: int) -> str:
    """The body: some words, then " ~", the phase letter and the send time in letters."""
    letters = []
    n = now_ns
    for _ in range(_STAMP_LETTERS):
        n, d = divmod(n, 26)
        letters.append(_ALPHA[d])
    return _BODY + _ALPHA[phase] + "".join(reversed(letters))


def unstamp(payload: bytes) -> tuple[int, int]:
    """(phase, send time in ns) from the raw bytes of a message frame, without decoding the
    frame: the generator must spend less per received frame than the server per sent one,
    or it would measure itself. " ~" occurs in no frame before the body."""
    i = payload.find(b" ~") + 2
    phase = payload[i] - 97
    sent = int(payload[i + 1:i + 1 + _STAMP_LETTERS].translate(_BYTES_TO_BASE26), 26)
    return phase, sent


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[k]


# --------------------------------------------------------------------------- /proc


class ProcStat:
    """CPU seconds and RSS of a set of server processes (and, for CPU, their reaped
    children: PostgreSQL backends that came and went)."""

    _tick = os.sysconf("SC_CLK_TCK")

    def __init__(self, pids: list[int], parents: list[int] | None = None) -> None:
        self.pids = pids
        self.parents = parents or []

    def _all(self) -> list[int]:
        if not self.parents:
            return self.pids
        found = list(self.pids) + list(self.parents)
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if ppid in self.parents:
                    found.append(int(entry))
        return found

    def cpu(self) -> float:
        total = 0
        for pid in self._all():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        return total / self._tick

    def _status(self, key: str) -> int:
        total = 0
        for pid in self._all():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith(key):
                            total += int(line.split()[1])
            except OSError:
                continue
        return total

    def rss_kib(self) -> int:
        return self._status("VmRSS:")

    def hwm_kib(self) -> int:
        return self._status("VmHWM:")


def client_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# --------------------------------------------------------------------------- peers


class Stats:
    """Deliveries and latencies, per phase (a phase letter travels in each body)."""

    def __init__(self) -> None:
        self.delivered = [0] * 26
        self.expected = [0] * 26
        self.latencies: list[list[float]] = [[] for _ in range(26)]
        self.errors: dict[str, int] = {}
        self.acks = 0

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1


class Peer:
    """One connection of the generator."""

    def __init__(self, gen: Gen, index: int, url: str, token: str | None) -> None:
        self.gen = gen
        self.index = index
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.token = token
        self.client: WSClient | None = None
        self.seqs: dict[str, int] = {}
        self.heads: dict[str, int] = {}
        self._joined: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._open: asyncio.Future[None] | None = None
        self._waiting_seq: tuple[str, int, asyncio.Future[None]] | None = None

    async def open(self, timeout_s: float = 30.0) -> None:
        d = self.gen.dialect
        loop = asyncio.get_running_loop()
        self._open = loop.create_future()
        def created(client: WSClient) -> None:
            self.client = client

        await connect(self.host, self.port, d.path, d.headers(self.token), d.subprotocol,
                      self._on_frame, timeout_s, created)
        if d.needs_open():
            await asyncio.wait_for(self._open, timeout_s)

    def _on_frame(self, opcode: int, payload: bytes) -> None:
        gen = self.gen
        if gen.fast and (payload.startswith(_MSGPACK_MESSAGE, 1) or payload.startswith(_SIO_MESSAGE)):
            # The hot path of the rooms and webinar workloads: count and time, decode nothing.
            phase, sent = unstamp(payload)
            stats = gen.stats
            stats.delivered[phase] += 1
            stats.latencies[phase].append((time.perf_counter_ns() - sent) / 1e6)
            return
        assert self.client is not None
        frame = gen.dialect.decode(self.client, opcode, payload)
        if frame is None:
            return
        kind = frame.get("type")
        if kind == "message":
            stats = gen.stats
            body: str = frame["body"]
            phase = ord(body[body.rfind(" ~") + 2]) - 97
            stats.delivered[phase] += 1
            seq = frame.get("seq")
            if seq is not None:
                room = frame["room"]
                self.seqs[room] = seq
                w = self._waiting_seq
                if w is not None and w[0] == room and seq >= w[1] and not w[2].done():
                    w[2].set_result(None)
        elif kind == "ack":
            gen.stats.acks += 1
        elif kind == "joined":
            room = frame["room"]
            self.heads[room] = frame.get("seq") or 0
            fut = self._joined.pop(room, None)
            if fut is not None and not fut.done():
                fut.set_result(frame)
        elif kind == "error":
            gen.stats.error(str(frame.get("code")))
            room = frame.get("room")
            fut = self._joined.pop(room, None) if isinstance(room, str) else None
            if fut is not None and not fut.done():
                fut.set_exception(RuntimeError(f"join refused: {frame}"))
        elif kind == "_open" and self._open is not None and not self._open.done():
            self._open.set_result(None)

    def send_frame(self, frame: dict[str, Any]) -> None:
        assert self.client is not None
        opcode, data = self.gen.dialect.encode(frame)
        self.client.send(opcode, data)

    async def join(self, room: str, since: int | None = None, timeout_s: float = 30.0) -> dict[str, Any]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._joined[room] = fut
        frame: dict[str, Any] = {"type": "join", "room": room}
        if since is not None:
            frame["since"] = since
        self.send_frame(frame)
        return await asyncio.wait_for(fut, timeout_s)

    async def caught_up(self, room: str, seq: int, timeout_s: float) -> None:
        """Wait until a message with ``seq`` or later has arrived in ``room``."""
        if self.seqs.get(room, 0) >= seq:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting_seq = (room, seq, fut)
        try:
            await asyncio.wait_for(fut, timeout_s)
        finally:
            self._waiting_seq = None

    def post(self, room: str, phase: int, cid: str) -> None:
        body = stamp(phase, time.perf_counter_ns())
        self.send_frame({"type": "send", "room": room, "body": body, "cid": cid})

    def drop(self) -> None:
        if self.client is not None:
            self.client.abort()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client.abort()


class Gen:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.dialect: Msgpack | SocketIO = dialect(cfg["kind"])
        self.urls: list[str] = cfg["urls"]
        tokens: list[str | None] = [None]
        if cfg.get("tokens_file"):
            with open(cfg["tokens_file"]) as f:
                tokens = json.load(f)
        self.tokens = tokens
        self.server = ProcStat(cfg.get("server_pids", []))
        self.backing = ProcStat(cfg.get("backing_pids", []), cfg.get("backing_parents", []))
        self.stats = Stats()
        # Count and time message frames from their raw bytes (rooms, webinar); the other
        # workloads decode every frame, as they need the seqs.
        self.fast = cfg["workload"] in ("rooms", "webinar")
        self._cid = 0

    def peer(self, index: int) -> Peer:
        token = self.tokens[index % len(self.tokens)]
        return Peer(self, index, self.urls[index % len(self.urls)], token)

    def cid(self) -> str:
        self._cid += 1
        return f"b{os.getpid()}x{self._cid}"

    async def open_all(self, peers: list[Peer], concurrency: int) -> tuple[float, int]:
        """Open every connection, ``concurrency`` at a time; (seconds taken, failures)."""
        sem = asyncio.Semaphore(concurrency)
        failures = 0

        async def one(p: Peer) -> None:
            nonlocal failures
            async with sem:
                for attempt in range(3):
                    try:
                        await p.open()
                        return
                    except (OSError, HandshakeFailed, TimeoutError):
                        if attempt == 2:
                            failures += 1
                            return
                        await asyncio.sleep(0.2)

        start = time.perf_counter()
        await asyncio.gather(*(one(p) for p in peers))
        return time.perf_counter() - start, failures

    async def join_all(self, pairs: list[tuple[Peer, str]], concurrency: int) -> float:
        sem = asyncio.Semaphore(concurrency)

        async def one(p: Peer, room: str) -> None:
            async with sem:
                await p.join(room)

        start = time.perf_counter()
        await asyncio.gather(*(one(p, r) for p, r in pairs if p.client is not None))
        return time.perf_counter() - start

    async def quiet(self, max_s: float = 60.0, idle_share: float = 0.05) -> float:
        """Wait until the server processes are nearly idle (the presence announcements of a
        big join have all gone out), at most ``max_s``; returns the seconds waited."""
        start = time.perf_counter()
        last = self.server.cpu() + self.backing.cpu()
        while time.perf_counter() - start < max_s:
            await asyncio.sleep(0.5)
            now = self.server.cpu() + self.backing.cpu()
            if now - last <= idle_share * 0.5:
                break
            last = now
        return time.perf_counter() - start

    def window(self) -> Window:
        return Window(self)

    async def loop_lag(self) -> dict[str, float | None] | None:
        """The servers' loop-lag probes since the last call (each GET resets its probe): the
        worst p99 and longest lag over the server processes, in ms. None for a server
        without a probe (the Python peers) or when one does not answer."""
        if self.cfg["kind"] not in ("kindred", "raw"):
            return None
        found = []
        for url in dict.fromkeys(self.urls):
            parts = urlsplit(url)
            try:
                found.append(await _get_json(parts.hostname or "127.0.0.1", parts.port or 80,
                                             "/debug/loop-lag?reset=1"))
            except (OSError, ValueError, TimeoutError):
                return None
        if not found or any(f.get("samples", 0) == 0 for f in found):
            return None
        shares = [f["long_lags_on_cpu"] for f in found if f.get("long_lags_on_cpu") is not None]
        return {"loop_lag_p99_ms": max(f["p99_ms"] for f in found),
                "loop_lag_max_ms": max(f["max_ms"] for f in found),
                "long_lags": sum(f.get("long_lags", 0) for f in found),
                "long_lags_on_cpu": max(shares) if shares else None,
                "gc_max_ms": max((g["max_ms"] for f in found for g in (f.get("gc") or {}).values()),
                                 default=None),
                "gc_full": sum((f.get("gc") or {}).get("gen2", {}).get("count", 0) for f in found)}


async def _get_json(host: str, port: int, path: str) -> dict[str, Any]:
    """One HTTP/1.1 GET, the body read to the end and parsed as JSON."""
    async with asyncio.timeout(5):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = await reader.read()
        finally:
            writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if head.split(b" ", 2)[1:2] != [b"200"]:
        raise ValueError(f"{path}: {head[:40]!r}")
    found: dict[str, Any] = json.loads(body)
    return found


class Window:
    """CPU of the server, its backing services and this client over a measured interval."""

    def __init__(self, gen: Gen) -> None:
        self.gen = gen
        self.t0 = time.perf_counter()
        self.s0, self.b0, self.c0 = gen.server.cpu(), gen.backing.cpu(), client_cpu()

    def close(self) -> dict[str, float]:
        g = self.gen
        return {
            "seconds": time.perf_counter() - self.t0,
            "server_cpu_s": g.server.cpu() - self.s0,
            "backing_cpu_s": g.backing.cpu() - self.b0,
            "client_cpu_s": client_cpu() - self.c0,
        }


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


async def _pace(senders: list[tuple[Peer, str]], rate_each: float, seconds: float, phase: int,
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


def announce(cfg: dict[str, Any]) -> None:
    """Tell a profiler waiting on our stdout that the measured part begins."""
    if cfg.get("announce"):
        print("MEASURING", flush=True)


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
    await _pace(senders, rate, cfg["warmup_s"], 0, gen, counts.__getitem__)
    announce(cfg)
    await gen.loop_lag()  # starts the probes over for the measured part
    window = gen.window()
    sent = await _pace(senders, rate, cfg["seconds"], 1, gen, counts.__getitem__)
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
        sent = await _pace([(sender, room)], rate, cfg["step_s"], phase, gen, lambda _r: members)
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
    window = gen.window()
    start = time.perf_counter()
    setup_s, failed = await gen.open_all(peers, cfg.get("concurrency", 200))
    join_s = await gen.join_all([(p, slugs[p.index % len(slugs)]) for p in peers], 200)
    total_s = time.perf_counter() - start
    setup = window.close()
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
    for p in [*peers, poster]:
        p.close()
    return {
        "connections": n, "resumed": len(times), "failures": failures,
        "resume_p50_s": percentile(times, 50), "resume_p99_s": percentile(times, 99),
        "resume_max_s": max(times) if times else None, **measured,
        "server_hwm_kib": gen.server.hwm_kib(), "errors": gen.stats.errors,
    }


WORKLOADS = {"rooms": rooms, "webinar": webinar, "idle": idle, "storm": storm}


def main() -> None:
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    with contextlib.suppress(ValueError, OSError):
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:
        runner = asyncio.run
    gen = Gen(cfg)
    result = runner(asyncio.wait_for(WORKLOADS[cfg["workload"]](gen, cfg), cfg.get("deadline_s", 600)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
