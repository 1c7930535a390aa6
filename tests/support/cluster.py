"""A Kindred deployment for end-to-end tests: real processes, a real database, real Redis.

``Deployment`` prepares the database (migrations, catalog, two organizations) and starts
``gateways`` ``kindred serve`` processes sharing it. In embedded mode there is one gateway on
SQLite with the in-process broker; in Redis mode they share PostgreSQL and redis-server.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import string
import subprocess
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import redis as redis_sync

from support.gateways import Gateway, run_cli, run_cli_steps, start_together
from support.http import TLS
from support.procs import TIMEOUT_SCALE, Postgres, RedisServer

if TYPE_CHECKING:  # bench/ imports this module and runs without pytest
    import pytest

ORG_A = ("Riverside Cancer Center", "riverside lantern maple 11")
ORG_B = ("Hillcrest Oncology", "hillcrest willow stone 22")
PASSWORD = "a long enough password"

# Fast but real: argon2id with smaller parameters, generous send limits, quick heartbeats.
TEST_ENV = {
    "KINDRED_ARGON2_TIME_COST": "1",
    "KINDRED_ARGON2_MEMORY_KIB": "8192",
    "KINDRED_SEND_RATE": "60000",
    "KINDRED_SEND_BURST": "5000",
    "KINDRED_HEARTBEAT_INTERVAL_S": "1",
    "KINDRED_PRESENCE_TTL_S": "4",
    "KINDRED_PRESENCE_LINGER_S": "1",
    "KINDRED_SUBSCRIPTION_CHECK_S": "0.5",
    # Long enough for a stalled member's backlog (test_faults_shutdown) to flush on a loaded
    # 2-core machine running two test workers; a drain that goes well takes well under 1 s.
    "KINDRED_SHUTDOWN_GRACE_S": "6",
    "KINDRED_KEY_PHRASE_ATTEMPTS": "1000",
    "KINDRED_LOGIN_ATTEMPTS": "1000",
    "KINDRED_LOGIN_ADDRESS_ATTEMPTS": "100000",
    "KINDRED_REGISTER_ATTEMPTS": "100000",  # every test registers from 127.0.0.1
    "KINDRED_REGISTER_KEY_ATTEMPTS": "100000",
    "KINDRED_LOG_LEVEL": "warning",
    # Sessions: a live session ends 1 s after ends_at, its archive is published 2 s later.
    "KINDRED_EVENT_GRACE_S": "1",
    "KINDRED_EVENT_ARCHIVE_AFTER_S": "2",
    "KINDRED_EVENT_TICK_S": "0.25",
    "KINDRED_VIDEO_EMBED_HOSTS": "video.example.org",
    # A room's frames go out at most 3 sockets a turn of the loop (production: 64), so every
    # test with more than three members of a room on a gateway runs through the turns
    # (chat_server/gateway/fanout.py), not only the tests written for them.
    "KINDRED_FAN_OUT_TURN": "3",
}


# --------------------------------------------------------------------------- set-up

# A deployment's database set-up: the real CLI, four commands in one process (most of each
# command's second is importing the server, paid once rather than four times).
SETUP_STEPS: list[list[str]] = [
    ["db", "upgrade"], ["seed"],
    *(["org", "add", name, "--key-phrase", phrase, "--if-missing"] for name, phrase in (ORG_A, ORG_B)),
]

# Where a deployment keeps its state, as opposed to how it behaves: two environments that
# differ only in these set up the same database.
_LOCATION = ("KINDRED_DATA_DIR", "KINDRED_DATABASE_URL", "KINDRED_REDIS_URL")


@dataclass
class _SetUps:
    """What this test process did to set databases up: the CLI runs, and the copies of their
    results (a SQLite data directory per kind of environment, kept in ``root``)."""

    cli_runs: int = 0
    copies: int = 0
    sqlite: dict[str, Path] = field(default_factory=dict)
    _root: tempfile.TemporaryDirectory[str] | None = None

    def root(self) -> Path:
        if self._root is None:  # made by the first deployment, removed at interpreter exit
            self._root = tempfile.TemporaryDirectory(prefix="kindred-setup-")
        return Path(self._root.name)


SET_UPS = _SetUps()


def _kind(env: dict[str, str]) -> str:
    """A name for everything in ``env`` except where the state lives (the set-up's result
    depends on the rest: settings, the secret, the catalog)."""
    behaviour = sorted((k, v) for k, v in {**os.environ, **env}.items()
                       if k.startswith("KINDRED_") and k not in _LOCATION)
    return hashlib.sha256(repr(behaviour).encode()).hexdigest()[:16]


def _run_setup(env: dict[str, str], workdir: Path) -> None:
    SET_UPS.cli_runs += 1
    run_cli_steps(SETUP_STEPS, env, workdir)


def set_up(env: dict[str, str], workdir: Path) -> None:
    """The database of a deployment about to start, migrated, seeded and with ORG_A and ORG_B.

    The set-up runs once per kind of environment in a test process; a later deployment of
    the same kind whose database is still empty starts from a copy of the state taken right
    after that set-up, before any gateway or test touched it: a copy of the SQLite data
    directory, or a PostgreSQL database created from a template. A database that holds
    something already (a deployment sharing another's) is set up by the CLI, as before."""
    url = {**os.environ, **env}.get("KINDRED_DATABASE_URL", "")
    if not url:
        _set_up_sqlite(env, workdir)
    elif url.startswith("postgresql"):
        _set_up_postgres(env, workdir, url)
    else:
        _run_setup(env, workdir)


def _set_up_sqlite(env: dict[str, str], workdir: Path) -> None:
    data = Path({**os.environ, **env}.get("KINDRED_DATA_DIR", "kindred-data"))
    if not data.is_absolute():
        data = workdir / data
    if data.exists() and any(data.iterdir()):
        _run_setup(env, workdir)  # not a new deployment's: set up over what is there
        return
    kind = _kind(env)
    copy = SET_UPS.sqlite.get(kind)
    if copy is not None:
        shutil.copytree(copy, data, dirs_exist_ok=True)
        SET_UPS.copies += 1
        return
    _run_setup(env, workdir)
    # The CLI has exited: the files are closed and consistent (-wal and -shm, if any, go too).
    copy = SET_UPS.root() / kind
    shutil.copytree(data, copy)
    SET_UPS.sqlite[kind] = copy


def _psql(dsn: str, *sql: str) -> list[str]:
    """Each statement on its own (CREATE and DROP DATABASE cannot run in a transaction block)
    over TCP as the URL's role; the output's lines."""
    argv = ["/usr/bin/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", dsn]
    for statement in sql:
        argv += ["-c", statement]
    out = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         check=False, timeout=60 * TIMEOUT_SCALE, env={**os.environ, "PGCONNECT_TIMEOUT": "10"})
    if out.returncode != 0:
        raise AssertionError(f"psql {sql} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out.stdout.splitlines()


# True when the connected database has no relations or extensions of its own: just created.
_EMPTY = (
    "SELECT NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%')"
    " AND NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname <> 'plpgsql')"
)


def _set_up_postgres(env: dict[str, str], workdir: Path, url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    database = parts.path.lstrip("/")
    dsn = urllib.parse.urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, ""))
    admin = urllib.parse.urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, ""))
    template = f"kindred_setup_{_kind(env)}"
    # The template lives in the cluster itself, so a new cluster (another test module's own
    # PostgreSQL, even on a reused port) never finds one and is set up by the CLI first.
    empty, found, owner = _psql(dsn, (
        f"SELECT ({_EMPTY})::text || '|' || EXISTS (SELECT 1 FROM pg_database WHERE datname = '{template}')::text"
        " || '|' || pg_get_userbyid(d.datdba) FROM pg_database d WHERE d.datname = current_database()"
    ))[0].split("|")
    if empty != "true":
        _run_setup(env, workdir)  # not a new deployment's: set up over what is there
        return
    if found == "true":
        _psql(admin, f'DROP DATABASE "{database}" WITH (FORCE)',
              f'CREATE DATABASE "{database}" TEMPLATE "{template}" OWNER "{owner}"')
        SET_UPS.copies += 1
        return
    _run_setup(env, workdir)
    # Nothing is connected to it now (the CLI has exited): copy it while it is as set up.
    _psql(admin, f'CREATE DATABASE "{template}" TEMPLATE "{database}"',
          f'ALTER DATABASE "{template}" ALLOW_CONNECTIONS false')


@dataclass
class Member:
    handle: str
    email: str
    token: str
    id: str
    org: str


@dataclass
class Deployment:
    workdir: Path
    env: dict[str, str]
    gateways: list[Gateway] = field(default_factory=list)

    @classmethod
    def start(
        cls, workdir: Path, count: int, extra_env: dict[str, str] | None = None
    ) -> Deployment:
        env = {**TEST_ENV, "KINDRED_DATA_DIR": str(workdir / "data"), **(extra_env or {})}
        dep = cls(workdir, env)
        set_up(env, workdir)
        dep.gateways = [Gateway(env, workdir, name=f"gw{i}") for i in range(count)]
        start_together(dep.gateways)
        return dep

    def stop(self) -> None:
        for gw in self.gateways:
            with contextlib.suppress(Exception):
                gw.kill()

    def cli(self, *args: str) -> str:
        return run_cli(list(args), self.env, self.workdir).stdout

    def register(self, org: tuple[str, str] = ORG_A, gateway: int = 0, handle: str | None = None) -> Member:
        # Letters only: a handle with seven digits would be refused as a phone number.
        handle = handle or "m" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(11))
        email = f"{handle.lower()}@example.org"
        base = self.gateways[gateway].http_url
        with httpx.Client(verify=TLS, base_url=base, timeout=30) as http:
            r = http.post("/api/register", json={"key_phrase": org[1], "handle": handle, "email": email, "password": PASSWORD})
            assert r.status_code == 202, r.text
            r = http.post("/api/session", json={"email": email, "password": PASSWORD})
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
        return Member(handle, email, body["token"], body["user"]["id"], org[0])

    def new_org(self) -> tuple[str, str, list[str]]:
        """A fresh organization (name, key phrase, local room slugs): rooms no test used."""
        n = secrets.token_hex(3)
        name, phrase = f"Test Org {n}", f"test phrase {n}"
        self.cli("org", "add", name, "--key-phrase", phrase)
        slug = f"test-org-{n}"
        return name, phrase, [f"{slug}-lounge", f"{slug}-support-group", f"{slug}-caregivers-circle"]


# --------------------------------------------------------------------------- both modes


def shared_servers(redis_server: RedisServer, postgres: Postgres) -> dict[str, str]:
    """Empty the session's redis-server and PostgreSQL database for a new Redis-mode
    deployment, and return the settings that point one at them."""
    postgres.reset_database()
    redis_sync.Redis.from_url(redis_server.url).flushall()
    return {"KINDRED_REDIS_URL": redis_server.url, "KINDRED_DATABASE_URL": postgres.url}


def deployment_in_mode(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str,
    env: dict[str, str], redis_gateways: int = 2,
) -> Iterator[Deployment]:
    """The body of a fixture parametrized ``["embedded", "redis"]``: one gateway on SQLite,
    or ``redis_gateways`` on the session's redis-server and PostgreSQL (emptied first), each
    with ``env``; stopped when the fixture ends. ``yield from`` it."""
    env, count = dict(env), 1
    if request.param == "redis":
        servers = (request.getfixturevalue("redis_server"), request.getfixturevalue("postgres"))
        env |= shared_servers(*servers)
        count = redis_gateways
    dep = Deployment.start(tmp_path_factory.mktemp(f"{name}-{request.param}"), count, env)
    yield dep
    dep.stop()
