"""The async engine: SQLite (WAL) by default, PostgreSQL when configured."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from sqlalchemy import URL, event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

# Every SQLite connection of the process runs with these: the engine's, and the embedded
# mode's writer thread's own (persistence/sqlite_writer.py), so the two cannot drift apart.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL: a commit survives power loss too, and an ack means the row is on disk.
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)


def make_engine(url: str, *, plain_local: bool = False) -> AsyncEngine:
    """Create the engine for ``url``. SQLite gets WAL, a busy timeout and foreign keys, so
    several readers and one writer (the gateway, the CLI) do not trip over each other."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: a failed statement's parameters (message bodies, emails, search
        # words) never reach an exception message or a log line.
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

        return engine
    return create_async_engine(
        url, pool_size=10, max_overflow=20, pool_pre_ping=True, hide_parameters=True,
        connect_args=postgres_connect_args(url, plain_local=plain_local),
    )


def _loopback(host: str) -> bool:
    if host == "localhost" or host.startswith("/"):  # "/...": a unix socket
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def postgres_connect_args(url: str | URL, *, plain_local: bool = False) -> dict[str, Any]:
    """asyncpg's default is libpq's ``sslmode=prefer``: every new TCP connection first asks
    for TLS, one more round trip, and takes plain text if the server says no. To a database on
    this machine (a URL naming loopback or a unix socket) the bytes never leave the host, so
    with ``plain_local`` (the settings say no ``PGSSLMODE`` was set; nothing here reads the
    environment) and no ``ssl``/``sslmode`` in the URL it connects in plain text at once.
    Anything configured is left as it is, and so is a URL that names no host."""
    parsed = make_url(url)
    if not plain_local or "ssl" in parsed.query or "sslmode" in parsed.query:
        return {}
    host = parsed.host or str(parsed.query.get("host", "") or "")
    if not host or not _loopback(host):
        return {}
    return {"ssl": False}


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
