"""What every ``kindred`` command shares: settings read once, the schema checked, a database
session for one piece of work."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
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
    return asyncio.run(_with_resources(settings, lambda res: _in_session(res, work)))


async def _in_session(resources: Any, work: Callable[[Any, str], Awaitable[int]]) -> int:
    async with resources.db() as db:
        return await work(db, resources.secret)


def _with_resources(
    settings: Settings, work: Callable[[Any], Awaitable[int]]
) -> Coroutine[Any, Any, int]:
    """``work(resources)`` inside ``open_resources(settings)`` (resources.py), the same
    ``async with`` that ``kindred serve`` builds everything in."""
    from chat_server.resources import open_resources

    async def main() -> int:
        async with open_resources(settings) as resources:
            return await work(resources)

    return main()


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
