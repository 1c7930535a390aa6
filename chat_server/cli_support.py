"""What every ``kindred`` command shares: settings read once, the schema checked, a database
session for one piece of work."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from chat_server.config import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"kindred: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _with_db(settings: Settings, work: Callable[[Any, str], Awaitable[int]]) -> int:
    """Run ``work(session, secret)`` against the configured database."""
    from chat_server.security import new_secret
    from persistence import accounts
    from persistence.db import make_engine, session_factory

    async def main() -> int:
        engine = make_engine(settings.effective_database_url)
        try:
            async with session_factory(engine)() as db:
                secret = settings.secret_key or await accounts.server_secret(db, new_secret())
                return await work(db, secret)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _ensure_schema(settings: Settings) -> None:
    from persistence import migrate

    current = migrate.current_revision(settings.effective_database_url)
    if current == migrate.head_revision():
        return
    if settings.is_sqlite:
        migrate.upgrade(settings.effective_database_url)  # one process owns the file
        return
    where = "empty" if current is None else f"at revision {current}"
    print(
        f"kindred: the database is {where}; this release needs revision "
        f"{migrate.head_revision()}: run `kindred db upgrade` first",
        file=sys.stderr,
    )
    raise SystemExit(2)
