"""A freshly migrated SQLite database for tests that need the schema and nothing else: the
migrations run once per test process, and each caller gets its own copy of the file as the
migrations left it (what ``persistence.migrate.upgrade`` would have made in its place)."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

from persistence.migrate import upgrade

# The migrated file, made by the first caller; removed at interpreter exit.
_MIGRATED: tempfile.TemporaryDirectory[str] | None = None


def _migrated_file() -> Path:
    global _MIGRATED
    if _MIGRATED is None:
        made = tempfile.TemporaryDirectory(prefix="kindred-migrated-")
        path = Path(made.name) / "kindred.db"
        upgrade(f"sqlite+aiosqlite:///{path}")
        # Everything into the main file (WAL mode): then the file alone is the database.
        con = sqlite3.connect(path)
        try:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            con.close()
        _MIGRATED = made
    return Path(_MIGRATED.name) / "kindred.db"


def migrated_sqlite(path: Path) -> str:
    """The database file at ``path`` migrated to head (a copy when there is none yet, else the
    migrations run on it); its URL. Blocking: call it through ``asyncio.to_thread`` inside an
    event loop."""
    url = f"sqlite+aiosqlite:///{path}"
    if path.exists():
        upgrade(url)
    else:
        shutil.copyfile(_migrated_file(), path)
    return url


async def migrated_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a freshly migrated database for a fixture parametrized "sqlite" or "postgres":
    a copy of the migrated SQLite file, or the session's PostgreSQL emptied and migrated."""
    import asyncio

    if request.param == "sqlite":
        return await asyncio.to_thread(migrated_sqlite, tmp_path / "kindred.db")
    pg = request.getfixturevalue("postgres")
    await asyncio.to_thread(pg.reset_database)
    await asyncio.to_thread(upgrade, pg.url)
    return str(pg.url)
