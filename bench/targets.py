"""The servers the benchmark measures, started for real on 127.0.0.1.

Kindred runs as ``kindred serve`` processes started by tests/support (the same code the
end-to-end tests use): embedded (SQLite, in-process broker) or Redis mode (PostgreSQL,
redis-server, one or more gateways). The references are the small servers in
``bench/peers``. Every target reports the process ids the generator reads CPU and memory
from: ``server`` (the processes serving WebSockets) and ``backing`` (redis-server,
PostgreSQL and its backends).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.seed import seed_members
from support.cluster import ORG_A, TEST_ENV, Deployment
from support.procs import Postgres, RedisServer, free_port

# Production defaults except what a benchmark must lift: the per-member send rate (a bench
# sender posts hundreds a second), the connection cap (storm: old and new socket overlap),
# and argon2 cost (nobody signs in with a password here, but the server builds a hasher).
KINDRED_ENV = {
    "KINDRED_SEND_RATE": "6000000",
    "KINDRED_SEND_BURST": "100000",
    "KINDRED_MAX_CONNECTIONS_PER_MEMBER": "100",
    "KINDRED_ARGON2_TIME_COST": "1",
    "KINDRED_ARGON2_MEMORY_KIB": "8192",
    "KINDRED_HEARTBEAT_INTERVAL_S": "5",
    "KINDRED_PRESENCE_TTL_S": "20",
    "KINDRED_SUBSCRIPTION_CHECK_S": "1",
    "KINDRED_LOG_LEVEL": "warning",
    # The loop-lag probe (GET /debug/loop-lag), read by the generator around each measured
    # part; about 100 wake-ups a second, a few tenths of a percent of a core.
    "KINDRED_LOOP_LAG_PROBE_MS": "10",
    # Kindred is measured as it ships (KINDRED_WS_IMPL's default, the direct write path);
    # uvicorn's own implementations are measured beside it in the implementation table.
}


def kindred_env(extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """What the bench hands ``Deployment.start``, which lays the tests' ``TEST_ENV`` under
    it: quick ticks and loose throttles, for tests. Each of those the bench does not set
    itself (above) is set empty, which ``Settings`` reads as unset: production's default.
    Inherited, the tests' 0.25 s session-scheduler tick (production: a 30 s backstop) had
    every gateway read the sessions through the ORM four times a second, a millisecond or
    so of the loop thread each time, in the middle of the small rooms' deliveries
    (bench/notes.md, issue 18: "Small-room tails, one gateway")."""
    return {**dict.fromkeys(TEST_ENV, ""), **KINDRED_ENV, **(extra_env or {})}


@dataclass
class Running:
    name: str
    kind: str  # kindred | raw | socketio | channels
    urls: list[str]
    server_pids: list[int]
    backing_pids: list[int] = field(default_factory=list)
    backing_parents: list[int] = field(default_factory=list)
    tokens_file: str | None = None
    _stop: list[Any] = field(default_factory=list)

    def config(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "urls": self.urls, "server_pids": self.server_pids,
            "backing_pids": self.backing_pids, "backing_parents": self.backing_parents,
            "tokens_file": self.tokens_file,
        }

    def stop(self) -> None:
        for stop in reversed(self._stop):
            with contextlib.suppress(Exception):
                stop()


class Backing:
    """One redis-server and one PostgreSQL for the whole run, emptied between targets."""

    def __init__(self, workdir: Path) -> None:
        self.redis = RedisServer(workdir / "redis", appendonly=True)
        self.pg = Postgres(workdir / "pg")
        self._up = False

    def ensure(self) -> None:
        if not self._up:
            self.redis.start()
            self.pg.start()
            self._up = True

    def reset(self) -> None:
        self.ensure()
        with socket.create_connection(("127.0.0.1", self.redis.port), timeout=5) as s:
            s.sendall(b"FLUSHALL\r\n")
            s.recv(64)
        self.pg.reset_database()

    def stop(self) -> None:
        if self._up:
            with contextlib.suppress(Exception):
                self.redis.stop()
            with contextlib.suppress(Exception):
                self.pg.stop()

    @property
    def pids(self) -> list[int]:
        return [p for p in (_pid(self.redis), ) if p]

    @property
    def parents(self) -> list[int]:
        return [p for p in (_pid(self.pg), ) if p]


def _pid(server: Any) -> int | None:
    proc = getattr(server, "_proc", None)
    return proc.pid if proc is not None else None


def start_kindred(name: str, workdir: Path, backing: Backing | None, gateways: int,
                  members: int, extra_env: dict[str, str] | None = None) -> Running:
    env = kindred_env()
    if backing is not None:
        backing.reset()
        env["KINDRED_REDIS_URL"] = backing.redis.url
        env["KINDRED_DATABASE_URL"] = backing.pg.url
    env.update(extra_env or {})
    workdir.mkdir(parents=True, exist_ok=True)
    dep = Deployment.start(workdir, gateways, env)
    url = backing.pg.url if backing is not None else f"sqlite+aiosqlite:///{workdir / 'data' / 'kindred.db'}"
    tokens = seed_members(url, ORG_A[0], members)
    tokens_file = workdir / "tokens.json"
    tokens_file.write_text(json.dumps(tokens))
    return Running(
        name, "kindred", [gw.ws_url for gw in dep.gateways],
        [gw._proc.pid for gw in dep.gateways if gw._proc is not None],
        backing.pids if backing else [], backing.parents if backing else [],
        str(tokens_file), [dep.stop],
    )


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    proc.kill()
    raise TimeoutError(f"server on port {port} did not listen within {timeout_s}s")


def start_peer(name: str, kind: str, module: str, workdir: Path, backing: Backing | None,
               extra: list[str] | None = None) -> Running:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [sys.executable, "-m", module, str(port)]
    if backing is not None:
        backing.reset()
        args.append(backing.redis.url)
    args.extend(extra or [])
    log = workdir / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                cwd=Path(__file__).resolve().parent.parent, env=os.environ.copy())
    try:
        _wait_port(port, proc, log)
    except BaseException:
        proc.kill()
        raise

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    return Running(name, kind, [f"ws://127.0.0.1:{port}/ws"], [proc.pid],
                   backing.pids if backing else [], backing.parents if backing else [], None, [stop])
