"""Real redis-server and PostgreSQL servers for tests (the gateways are in gateways.py).

How they are started, waited for and stopped, and the rules that holds to (output to files,
every wait scaled by TIMEOUT_SCALE, every live process killed at exit) are in process.py,
whose ``TIMEOUT_SCALE``, ``free_port`` and ``wait_for`` tests and bench import from here.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from support.process import TIMEOUT_SCALE as TIMEOUT_SCALE
from support.process import Proc, ServerProcess, open_log
from support.process import free_port as free_port
from support.process import wait_for as wait_for

REDIS_SERVER = "/usr/bin/redis-server"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_OS_USER = "postgres"


# --------------------------------------------------------------------------- redis


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            # While loading the AOF redis answers "-LOADING ...", which is not ready.
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(ServerProcess):
    """A throwaway redis-server with AOF persistence in `workdir`.

    kill() is a crash: data acknowledged before it is still in the AOF because redis
    write()s the AOF before replying (only fsync is deferred); restart() reloads it."""

    ready_means = "answering PING"

    def __init__(self, workdir: Path, appendonly: bool = True, unixsocket: bool = False) -> None:
        super().__init__(workdir, "redis.log")
        self.appendonly = appendonly
        # Also listening on a unix socket (``socket_url``), for clients that connect by path.
        self.socket_path = self.workdir / "redis.sock" if unixsocket else None

    @property
    def what(self) -> str:
        return f"redis-server on port {self.port}"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def socket_url(self) -> str:
        assert self.socket_path is not None, "started without unixsocket=True"
        return f"unix://{self.socket_path}?db=0"

    def _ready(self) -> bool:
        return _redis_ping(self.port)

    def _spawn(self) -> Proc:
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
        with open_log(self.log_path) as log:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)


# --------------------------------------------------------------------------- postgres


class Postgres(ServerProcess):
    """A throwaway PostgreSQL 15 cluster with role and database `kindred`.

    The cluster files live in a private temp dir owned by the `postgres` OS user,
    NOT inside `workdir`: PostgreSQL refuses to run as root, and pytest's tmp_path
    sits under 0700 root-owned directories that the postgres user cannot even
    traverse. `workdir` gets the server log (written through a file descriptor we
    open as root). The cluster dir is removed by `__exit__` / at interpreter exit.

    stop() is a fast shutdown: SIGINT to the postmaster is exactly what `pg_ctl stop -m fast`
    sends, and sending it ourselves lets us reap the child. kill() takes the postmaster and
    its backends down together, like a host crash; recovery runs on the next start.
    """

    ready_means = "accepting connections"
    ready_timeout_s = 30
    stop_signal = signal.SIGINT
    stop_timeout_s = 30

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, "postgres.log")
        self._home = tempfile.TemporaryDirectory(prefix="kindred-pg-")
        home = Path(self._home.name)
        self.data_dir = home / "data"
        self.socket_dir = home / "sock"  # short path: unix socket paths max ~107 bytes

    @property
    def what(self) -> str:
        return f"postgres on port {self.port}"

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

    def _spawn(self) -> Proc:
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
        with open_log(self.log_path) as log:
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

    def _send(self, proc: Proc, sig: signal.Signals) -> None:
        if sig != signal.SIGKILL:
            proc.send_signal(sig)
            return
        with contextlib.suppress(ProcessLookupError):  # the whole group: no backend lingers
            os.killpg(proc.pid, sig)

    def start(self) -> None:
        first = not self._started_once
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        super().start()
        if first:
            self.psql("CREATE ROLE kindred LOGIN SUPERUSER PASSWORD 'kindred'")
            self.psql("CREATE DATABASE kindred OWNER kindred")

    def reset_database(self) -> None:
        """Give tests an empty `kindred` database; FORCE drops open connections."""
        self.psql("DROP DATABASE IF EXISTS kindred WITH (FORCE)")
        self.psql("CREATE DATABASE kindred OWNER kindred")

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self._home.cleanup()
