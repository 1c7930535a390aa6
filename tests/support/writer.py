"""A standalone transcript writer process (``python -m chat_server writer``) for tests, and
``eventually``: polling an async condition under a deadline."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from support.procs import TIMEOUT_SCALE


class WriterProcess:
    """One ``python -m chat_server writer`` (standalone transcript writer), output to a file."""

    def __init__(self, env: Mapping[str, str], workdir: Path, name: str) -> None:
        self.env = dict(env)
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "chat_server", "writer"],
                env={**os.environ, **self.env},
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    @property
    def consumer(self) -> str:
        """Its consumer name in the group (RedisWriter's default: host-pid)."""
        assert self._proc is not None
        return f"{socket.gethostname()}-{self._proc.pid}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait(timeout=10)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout_s: float, what: str, interval_s: float = 0.05
) -> float:
    """Poll ``check`` until it is true; return how long that took (s). Bounded by a deadline
    (scaled by KINDRED_TEST_TIMEOUT_SCALE)."""
    timeout_s *= TIMEOUT_SCALE
    start = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - start
        if time.monotonic() - start >= timeout_s:
            raise TimeoutError(f"{what} not true within {timeout_s}s")
        await asyncio.sleep(interval_s)
