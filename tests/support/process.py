"""What every server a test starts has in common: a process on a port of its own, started and
waited for until it answers, stopped within a bound, and killed at exit if a test forgot it.

``ServerProcess`` is the base of RedisServer and Postgres (procs.py) and Gateway
(gateways.py); a subclass says how to spawn its process and how to tell that it is ready.

Rules followed throughout:
* child output goes to files, never pipes: nobody drains a pipe while a server
  runs, and a full pipe would block the server mid-test;
* every wait is multiplied by TIMEOUT_SCALE so slow CI can stretch them;
* every started process is remembered and SIGKILLed at interpreter exit, so a
  failing or interrupted test never leaves servers behind.

Everything here is synchronous and standard-library only so it can be used from plain
fixtures, from async tests (the waits are short), and from ad-hoc scripts.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Self

from support import zygote

TIMEOUT_SCALE: float = float(os.environ.get("KINDRED_TEST_TIMEOUT_SCALE", "1"))

# A server's process: spawned, or forked from the zygote (support/zygote.py).
Proc = subprocess.Popen[bytes] | zygote.Forked


def free_port() -> int:
    """Ask the kernel for a currently unused TCP port on 127.0.0.1.

    The port is released before returning, so another process can grab it
    before ours binds; callers that pick ports this way retry on a bind error.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(
    predicate: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.05
) -> None:
    """Poll `predicate` until it returns True; raise TimeoutError otherwise.

    `timeout_s` is multiplied by TIMEOUT_SCALE; the message names the scaled value.
    """
    timeout_s *= TIMEOUT_SCALE
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not true within {timeout_s}s")
        time.sleep(interval_s)


def tail(path: Path, n: int) -> str:
    """The last ``n`` lines of a log file ("" if there is none yet)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    return "\n".join(lines[-n:])


def open_log(path: Path) -> IO[bytes]:
    # Append, so restarts keep the earlier run's output for post-mortems.
    return path.open("ab")


def _bind_failed(log_path: Path) -> bool:
    # Both redis ("bind: Address already in use") and uvicorn ("[Errno 98] ...
    # address already in use") say this when a free_port() race was lost.
    return "address already in use" in tail(log_path, 40).lower()


def _wait_exit(proc: Proc, timeout_s: float, what: str, before_kill: Callable[[], None]) -> int:
    try:
        return proc.wait(timeout=timeout_s * TIMEOUT_SCALE)
    except subprocess.TimeoutExpired:
        before_kill()
        proc.kill()
        proc.wait()
        raise TimeoutError(f"{what} did not exit within {timeout_s * TIMEOUT_SCALE}s") from None


# Servers with a live process. Strong references on purpose: a server object that
# is garbage-collected while its process still runs must still be killed at exit.
_LIVE: set[ServerProcess] = set()


@atexit.register
def _kill_everything_still_running() -> None:
    for server in list(_LIVE):
        # Best effort at interpreter exit: one failure must not spare the rest.
        with contextlib.suppress(Exception):
            server.kill()


class ServerProcess:
    """One server process on ``port``, its output appended to ``workdir/log_name``.

    A port picked here (``port=None``) may be swapped for another while the first start loses
    a free_port() race; after that, and for a port the caller chose, a start comes back on the
    same port or fails, since clients were told the URL. Subclasses set the class attributes
    and define ``what``, ``_spawn`` and ``_ready``.
    """

    ready_means = "ready"  # what _ready checks, for messages
    ready_timeout_s: float = 10
    stop_signal = signal.SIGTERM
    stop_timeout_s: float = 10

    def __init__(self, workdir: Path, log_name: str, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self._port_was_picked = port is None
        self.port = free_port() if port is None else port
        self.log_path = self.workdir / log_name
        self._proc: Proc | None = None
        self._started_once = False

    @property
    def what(self) -> str:
        """The server, for messages."""
        raise NotImplementedError

    def _spawn(self) -> Proc:
        """Start the process on ``self.port``, its output appended to ``self.log_path``."""
        raise NotImplementedError

    def _ready(self) -> bool:
        """True once the server serves (called while its process runs)."""
        raise NotImplementedError

    def _send(self, proc: Proc, sig: signal.Signals) -> None:
        proc.send_signal(sig)

    def _before_kill(self) -> None:
        """Called before SIGKILLing a process that would not stop: a chance to learn why."""

    def start(self) -> None:
        """Spawn and wait until ready; on a timeout the process is killed and TimeoutError
        raised, on an early exit RuntimeError, each with the log's tail."""
        if self.running:
            raise RuntimeError(f"{self.what} is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        attempts = 5 if self._port_was_picked and not self._started_once else 1
        for attempt in range(attempts):
            proc = self._proc = self._spawn()
            _LIVE.add(self)

            def up(proc: Proc = proc) -> bool:
                # Stop waiting as soon as it exits: a lost port race (bind error)
                # shows up as an early exit, not as a server that never answers.
                return proc.poll() is not None or self._ready()

            try:
                wait_for(up, self.ready_timeout_s, f"{self.what} {self.ready_means}")
            except TimeoutError as e:
                self.kill()
                raise TimeoutError(f"{e}; log tail:\n{self.log_tail()}") from None
            if proc.poll() is None:
                self._started_once = True
                return
            _LIVE.discard(self)
            if attempt + 1 < attempts and _bind_failed(self.log_path):
                self.port = free_port()
                continue
            raise RuntimeError(f"{self.what} exited with {proc.returncode}; log tail:\n{self.log_tail()}")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _end(self, sig: signal.Signals, timeout_s: float) -> int | None:
        """Send ``sig`` and reap the process; SIGKILL it after ``timeout_s`` and raise
        TimeoutError with the log's tail. The exit code, None if never started."""
        if self._proc is None:
            return None
        how = f"{self.what} after {sig.name}"
        try:
            if self._proc.poll() is None:
                self._send(self._proc, sig)
            before_kill = self._before_kill if sig != signal.SIGKILL else lambda: None
            return _wait_exit(self._proc, timeout_s, how, before_kill)
        except TimeoutError as e:  # _wait_exit has SIGKILLed it by now
            raise TimeoutError(f"{e}; log tail:\n{self.log_tail(250)}") from None
        finally:
            _LIVE.discard(self)

    def stop(self) -> int | None:
        """Graceful shutdown (``stop_signal``); the exit code, None if never started."""
        return self._end(self.stop_signal, self.stop_timeout_s)

    def kill(self) -> None:
        """SIGKILL: a crash."""
        self._end(signal.SIGKILL, 10)

    def restart(self) -> None:
        """Start again on the same port (clients reconnect to the same URL)."""
        if self.running:
            self.stop()
        self.start()

    def log_tail(self, n: int = 60) -> str:
        return tail(self.log_path, n)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
