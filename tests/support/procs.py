"""Start real server processes (redis-server, PostgreSQL, `kindred serve`) for tests.

Everything here is synchronous and standard-library only so it can be used from
plain fixtures, from async tests (the waits are short), and from ad-hoc scripts.

Rules followed throughout:
* child output goes to files, never pipes: nobody drains a pipe while a server
  runs, and a full pipe would block the server mid-test;
* every wait is multiplied by TIMEOUT_SCALE so slow CI can stretch them;
* every started process is remembered and SIGKILLed at interpreter exit, so a
  failing or interrupted test never leaves servers behind.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol, Self

from support import zygote

TIMEOUT_SCALE: float = float(os.environ.get("KINDRED_TEST_TIMEOUT_SCALE", "1"))

REDIS_SERVER = "/usr/bin/redis-server"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_OS_USER = "postgres"


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


# --------------------------------------------------------------------------- cleanup


class _Killable(Protocol):
    def kill(self) -> None: ...


# Servers with a live process. Strong references on purpose: a server object that
# is garbage-collected while its process still runs must still be killed at exit.
_LIVE: set[_Killable] = set()


@atexit.register
def _kill_everything_still_running() -> None:
    for server in list(_LIVE):
        # Best effort at interpreter exit: one failure must not spare the rest.
        with contextlib.suppress(Exception):
            server.kill()


def _wait_exit(
    proc: subprocess.Popen[bytes] | zygote.Forked, timeout_s: float, what: str, before_kill: Callable[[], None] | None = None
) -> int:
    try:
        return proc.wait(timeout=timeout_s * TIMEOUT_SCALE)
    except subprocess.TimeoutExpired:
        if before_kill is not None:
            before_kill()
        proc.kill()
        proc.wait()
        raise TimeoutError(f"{what} did not exit within {timeout_s * TIMEOUT_SCALE}s") from None


def _tail(path: Path, n: int) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    return "\n".join(lines[-n:])


def _bind_failed(log_path: Path) -> bool:
    # Both redis ("bind: Address already in use") and uvicorn ("[Errno 98] ...
    # address already in use") say this when a free_port() race was lost.
    return "address already in use" in _tail(log_path, 40).lower()


def _open_log(path: Path) -> IO[bytes]:
    # Append, so restarts keep the earlier run's output for post-mortems.
    return path.open("ab")


# --------------------------------------------------------------------------- redis


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            # While loading the AOF redis answers "-LOADING ...", which is not ready.
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A throwaway redis-server with AOF persistence in `workdir`."""

    def __init__(self, workdir: Path, appendonly: bool = True, unixsocket: bool = False) -> None:
        self.workdir = Path(workdir)
        self.appendonly = appendonly
        # Also listening on a unix socket (``socket_url``), for clients that connect by path.
        self.socket_path = self.workdir / "redis.sock" if unixsocket else None
        self.port = free_port()
        self.log_path = self.workdir / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_once = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def socket_url(self) -> str:
        assert self.socket_path is not None, "started without unixsocket=True"
        return f"unix://{self.socket_path}?db=0"

    def _spawn(self) -> subprocess.Popen[bytes]:
        argv = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.workdir),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--save", "",  # no RDB snapshots: the AOF is the only persistence under test
            "--daemonize", "no",
            "--protected-mode", "no",
            "--logfile", "",  # log to stdout, i.e. our log file
        ]  # fmt: skip
        if self.socket_path is not None:
            argv += ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        with _open_log(self.log_path) as log:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"redis on port {self.port} is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Retrying with a new port is only allowed before anyone saw our URL;
        # after that, restart() must come back on the same port or fail loudly.
        attempts = 1 if self._started_once else 5
        for attempt in range(attempts):
            proc = self._spawn()
            self._proc = proc
            _LIVE.add(self)

            def up(proc: subprocess.Popen[bytes] = proc) -> bool:
                # Stop waiting as soon as it exits: a lost port race (bind error)
                # shows up as an early exit, not as a missing PONG.
                return proc.poll() is not None or _redis_ping(self.port)

            wait_for(up, 10, f"redis-server on port {self.port} answering PING")
            if proc.poll() is None:
                self._started_once = True
                return
            _LIVE.discard(self)
            if attempt + 1 < attempts and _bind_failed(self.log_path):
                self.port = free_port()
                continue
            raise RuntimeError(
                f"redis-server exited with {proc.returncode}:\n{_tail(self.log_path, 30)}"
            )

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: simulates a crash. Data acknowledged before it is still in the
        AOF because redis write()s the AOF before replying (only fsync is deferred)."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            _wait_exit(self._proc, 10, "redis-server after SIGKILL")
        _LIVE.discard(self)

    def stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
            _wait_exit(self._proc, 10, "redis-server after SIGTERM")
        _LIVE.discard(self)

    def restart(self) -> None:
        """Start again on the same port and dir; data is reloaded from the AOF."""
        if self.running:
            self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------- postgres


class Postgres:
    """A throwaway PostgreSQL 15 cluster with role and database `kindred`.

    The cluster files live in a private temp dir owned by the `postgres` OS user,
    NOT inside `workdir`: PostgreSQL refuses to run as root, and pytest's tmp_path
    sits under 0700 root-owned directories that the postgres user cannot even
    traverse. `workdir` gets the server log (written through a file descriptor we
    open as root). The cluster dir is removed by `__exit__` / at interpreter exit.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.port = free_port()
        self.log_path = self.workdir / "postgres.log"
        self._home = tempfile.TemporaryDirectory(prefix="kindred-pg-")
        home = Path(self._home.name)
        self.data_dir = home / "data"
        self.socket_dir = home / "sock"  # short path: unix socket paths max ~107 bytes
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_once = False

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://kindred:kindred@127.0.0.1:{self.port}/kindred"

    @property
    def dsn(self) -> str:
        return f"postgresql://kindred:kindred@127.0.0.1:{self.port}/kindred"

    def _as_postgres(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        # group/extra_groups drop root's groups too, not just the uid.
        proc = subprocess.run(
            argv,
            user=PG_OS_USER,
            group=PG_OS_USER,
            extra_groups=[],
            cwd=self._home.name,  # root's cwd may be unreadable for postgres
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=60 * TIMEOUT_SCALE,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def _initdb(self) -> None:
        home = Path(self._home.name)
        self.socket_dir.mkdir(exist_ok=True)
        pg = pwd.getpwnam(PG_OS_USER)
        for path in (home, self.socket_dir):
            os.chown(path, pg.pw_uid, pg.pw_gid)
        self._as_postgres(
            [
                str(PG_BIN / "initdb"),
                "-D", str(self.data_dir),
                "-A", "trust",
                "-U", "postgres",
                "-E", "UTF8",
                "--locale=C",  # independent of the caller's LANG; UTF8 + C always works
                "--no-sync",  # initdb's final sync only; the server itself keeps fsync=on
            ]
        )  # fmt: skip

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the postgres superuser over the unix socket; return stdout."""
        return self._as_postgres(
            [
                "/usr/bin/psql",
                "-X",  # ignore ~/.psqlrc (HOME may still be root's)
                "-v", "ON_ERROR_STOP=1",
                "-h", str(self.socket_dir),
                "-p", str(self.port),
                "-U", "postgres",
                "-d", database,
                "-At",
                "-c", sql,
            ]
        ).stdout  # fmt: skip

    def _ready(self) -> bool:
        # pg_isready says 0 only once connections are accepted, i.e. after crash
        # recovery, whereas a bare TCP connect succeeds during recovery too.
        r = subprocess.run(
            [str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        return r.returncode == 0

    def _spawn(self) -> subprocess.Popen[bytes]:
        argv = [
            str(PG_BIN / "postgres"),
            "-D", str(self.data_dir),
            "-p", str(self.port),
            "-h", "127.0.0.1",
            "-k", str(self.socket_dir),
            "-c", "max_connections=200",
            "-c", "shared_buffers=16MB",
            "-c", "logging_collector=off",  # keep logging on stderr -> our log file
        ]  # fmt: skip
        with _open_log(self.log_path) as log:
            return subprocess.Popen(
                argv,
                user=PG_OS_USER,
                group=PG_OS_USER,
                extra_groups=[],
                cwd=self._home.name,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                # Own process group, so kill() can take the backends down together
                # with the postmaster, like a host crash, and none linger afterwards.
                start_new_session=True,
            )

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"postgres on port {self.port} is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        first = not self._started_once
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        attempts = 5 if first else 1
        for attempt in range(attempts):
            proc = self._spawn()
            self._proc = proc
            _LIVE.add(self)

            def up(proc: subprocess.Popen[bytes] = proc) -> bool:
                return proc.poll() is not None or self._ready()

            wait_for(up, 30, f"postgres on port {self.port} accepting connections")
            if proc.poll() is None:
                break
            _LIVE.discard(self)
            if attempt + 1 < attempts and _bind_failed(self.log_path):
                self.port = free_port()
                continue
            raise RuntimeError(
                f"postgres exited with {proc.returncode}:\n{_tail(self.log_path, 30)}"
            )
        self._started_once = True
        if first:
            self.psql("CREATE ROLE kindred LOGIN SUPERUSER PASSWORD 'kindred'")
            self.psql("CREATE DATABASE kindred OWNER kindred")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Fast shutdown. SIGINT to the postmaster is exactly what
        `pg_ctl stop -m fast` sends; doing it ourselves lets us reap the child."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGINT)
            _wait_exit(self._proc, 30, "postgres after fast shutdown")
        _LIVE.discard(self)

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends (crash; recovery runs on start)."""
        if self._proc is not None:
            if self._proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
            _wait_exit(self._proc, 10, "postgres after SIGKILL")
        _LIVE.discard(self)

    def restart(self) -> None:
        if self.running:
            self.stop()
        self.start()

    def reset_database(self) -> None:
        """Give tests an empty `kindred` database; FORCE drops open connections."""
        self.psql("DROP DATABASE IF EXISTS kindred WITH (FORCE)")
        self.psql("CREATE DATABASE kindred OWNER kindred")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            self._home.cleanup()
