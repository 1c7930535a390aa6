"""`kindred serve` processes (and other `kindred` commands) forked from one that has imported
the server already.

Most of a gateway's start (about 1.3 s of CPU) is importing the server's modules. A test
process starts hundreds of gateways, so it keeps one helper process (the zygote) that has
imported them once and forks a child for each gateway: the child sets the gateway's
environment, working directory and log file, then runs ``chat_server.cli.main(["serve"])``
and exits the way ``python -m chat_server serve`` would. Nothing of the server is built at
import time (settings are read in ``main``), so the child is that command, started faster.

The test process talks to the zygote over a socket pair: a request is the gateway's
environment, directory and log path; the answer is the child's pid and a pidfd for it (which
signals only that process, even after its pid is reused, and becomes readable when it exits).
The zygote reaps its children and tells the exit status when asked. It exits, killing any
child left, when the test process closes its end (or dies).

``Forked`` looks like the part of ``subprocess.Popen`` that ``gateways.Gateway`` uses.
``KINDRED_TEST_FORK=0`` turns it off (every gateway a ``python -m chat_server serve``).
"""

from __future__ import annotations

import array
import atexit
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

ENABLED = os.environ.get("KINDRED_TEST_FORK", "1") != "0"

# Runs in the zygote: import the server, then serve requests (one JSON line each) until EOF.
_ZYGOTE = r"""
import array, json, os, signal, socket, sys

import importlib

import chat_server.cli  # noqa

# The expensive part: what `serve` imports, up front or lazily (uvicorn's loop and protocols,
# the database drivers SQLAlchemy loads with its first engine).
for name in ("chat_server.serve", "chat_server.app", "chat_server.runtime", "uvloop",
             "uvicorn.loops.auto", "uvicorn.loops.uvloop", "uvicorn.protocols.http.auto",
             "uvicorn.protocols.http.h11_impl", "uvicorn.protocols.http.httptools_impl",
             "uvicorn.protocols.websockets.auto", "uvicorn.lifespan.on",
             "sqlalchemy.dialects.sqlite.aiosqlite", "sqlalchemy.dialects.postgresql.asyncpg",
             "aiosqlite", "asyncpg", "redis.asyncio"):
    try:
        importlib.import_module(name)
    except ImportError:
        pass

sock = socket.socket(fileno=int(sys.argv[1]))
reader = sock.makefile("rb")
statuses, children = {}, set()

def reap():
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        statuses[pid] = os.waitstatus_to_exitcode(status)

def child(req):
    reader.close()
    sock.close()
    os.environ.clear()
    os.environ.update(req["env"])
    os.chdir(req["cwd"])
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for fd, path in ((1, req["log"]), (2, req.get("err") or req["log"])):
        log = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(log, fd)
        os.close(log)
    sys.argv = [sys.argv[0], *req["args"]]
    raise SystemExit(chat_server.cli.main(req["args"]))

def serve():
    for line in reader:
        req = json.loads(line)
        reap()
        if req["op"] == "spawn":
            pid = os.fork()
            if pid == 0:
                child(req)  # never returns: the interpreter exits with the gateway's code
            children.add(pid)
            pidfd = os.pidfd_open(pid)
            sock.sendmsg([json.dumps({"pid": pid}).encode() + b"\n"],
                         [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [pidfd]))])
            os.close(pidfd)
        elif req["op"] == "status":
            pid = req["pid"]
            if pid in children:
                try:
                    got, status = os.waitpid(pid, 0 if req.get("block") else os.WNOHANG)
                except ChildProcessError:
                    got, status = 0, 0
                if got == pid:
                    children.discard(pid)
                    statuses[pid] = os.waitstatus_to_exitcode(status)
            sock.sendall(json.dumps({"code": statuses.pop(pid, None)}).encode() + b"\n")
    for pid in list(children):  # the test process is gone: nothing of ours outlives it
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    reap()

serve()
"""


class _Zygote:
    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _ZYGOTE, str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            # Its own errors only (a gateway's output goes to its log): rare and short.
            stdout=subprocess.DEVNULL,
            stderr=None,
        )
        theirs.close()
        self._sock = ours
        self._buf = b""
        self._lock = threading.Lock()  # gateways are started from several threads at once

    def close(self) -> None:
        """Close our end: the zygote kills the children it still has, and exits."""
        self._sock.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def _readline(self, fds: list[int] | None = None) -> dict[str, object]:
        while b"\n" not in self._buf:
            data, ancdata, _, _ = self._sock.recvmsg(4096, socket.CMSG_SPACE(4))
            if not data:
                raise RuntimeError(f"the gateway zygote exited ({self._proc.poll()})")
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS and fds is not None:
                    fds.extend(array.array("i", payload[: len(payload) - len(payload) % 4]))
            self._buf += data
        line, _, self._buf = self._buf.partition(b"\n")
        answer: dict[str, object] = json.loads(line)
        return answer

    def spawn(self, args: list[str], env: Mapping[str, str], cwd: Path, log: Path, err: Path | None) -> Forked:
        request = {"op": "spawn", "args": args, "env": dict(env), "cwd": str(cwd), "log": str(log),
                   "err": None if err is None else str(err)}
        with self._lock:
            self._sock.sendall(json.dumps(request).encode() + b"\n")
            fds: list[int] = []
            answer = self._readline(fds)
        if len(fds) != 1:
            raise RuntimeError(f"the gateway zygote sent {len(fds)} pidfds")
        pid = answer["pid"]
        assert isinstance(pid, int)
        return Forked(self, pid, fds[0])

    def status(self, pid: int, block: bool) -> int | None:
        with self._lock:
            self._sock.sendall(json.dumps({"op": "status", "pid": pid, "block": block}).encode() + b"\n")
            code = self._readline()["code"]
        assert code is None or isinstance(code, int)
        return code


_ZYGOTES: list[_Zygote] = []
_ZYGOTE_LOCK = threading.Lock()


# Registered on import, before procs registers its own clean-up: runs after it (so the
# gateways procs kills are still ours to kill), and reaps the zygote, whose CPU time then
# counts in ours.
@atexit.register
def _close_zygotes() -> None:
    for z in _ZYGOTES:
        with contextlib.suppress(Exception):
            z.close()


def _zygote() -> _Zygote:
    with _ZYGOTE_LOCK:
        if not _ZYGOTES or not _ZYGOTES[-1].alive:
            _ZYGOTES.append(_Zygote())
        return _ZYGOTES[-1]


def usable(env: Mapping[str, str]) -> bool:
    """Whether a gateway with this environment can be forked: the interpreter's own settings
    (``PYTHON*``) are those the zygote started with."""
    if not ENABLED or not hasattr(os, "pidfd_open"):
        return False
    return all(os.environ.get(k) == v for k, v in env.items() if k.startswith("PYTHON")) and all(
        env.get(k) == v for k, v in os.environ.items() if k.startswith("PYTHON")
    )


def spawn(args: list[str], env: Mapping[str, str], cwd: Path, log: Path, err: Path | None = None) -> Forked:
    """``python -m chat_server ARGS`` with this environment and directory, forked from the
    zygote; its stdout appended to ``log``, its stderr to ``err`` (or ``log`` too)."""
    return _zygote().spawn(args, env, cwd, log, err)


class Forked:
    """A forked gateway, with the part of ``subprocess.Popen``'s interface Gateway uses."""

    def __init__(self, zygote: _Zygote, pid: int, pidfd: int) -> None:
        self._zygote = zygote
        self.pid = pid
        self._pidfd = pidfd
        self.returncode: int | None = None

    def _exited(self, timeout_s: float | None) -> bool:
        readable, _, _ = select.select([self._pidfd], [], [], timeout_s)
        return bool(readable)

    def _collect(self) -> int:
        try:
            code = self._zygote.status(self.pid, block=True)
        except (OSError, RuntimeError, ValueError, KeyError):
            # The zygote itself is gone (it kills its children when it goes): report the
            # gateway as killed rather than raise from a clean-up.
            code = None
        finally:
            os.close(self._pidfd)
        # None: the zygote had reaped it without being asked; only a zygote that died does.
        self.returncode = -signal.SIGKILL if code is None else code
        return self.returncode

    def poll(self) -> int | None:
        if self.returncode is None and self._exited(0):
            self._collect()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is not None:
            return self.returncode
        if not self._exited(timeout):
            raise subprocess.TimeoutExpired(f"gateway pid {self.pid}", timeout or 0)
        return self._collect()

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            # Exited, not yet collected: as with Popen, there is nothing to signal.
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)
