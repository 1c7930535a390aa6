"""The load generator's connections (``Peer``) and their owner (``Gen``): opening, joining,
posting and counting what arrives, with the server's CPU over a measured ``Window``."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from bench.dialects import Msgpack, SocketIO, dialect
from bench.measure import (
    _MSGPACK_MESSAGE,
    _SIO_MESSAGE,
    ProcStat,
    Stats,
    client_cpu,
    stamp,
    unstamp,
)
from bench.wsclient import HandshakeFailed, WSClient, connect


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

    async def open_all(self, peers: Sequence[Peer], concurrency: int) -> tuple[float, int]:
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

