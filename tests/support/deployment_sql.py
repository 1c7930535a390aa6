"""A query on a running deployment's own database, whichever it is: its SQLite file
(embedded) or its PostgreSQL database (Redis mode). ``?`` placeholders in both."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import asyncpg

from support.cluster import Deployment


def is_redis(dep: Deployment) -> bool:
    return "KINDRED_REDIS_URL" in dep.env


async def sql(dep: Deployment, query: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of ``query`` (committed, for a write) on the deployment's own database."""
    if is_redis(dep):
        dsn = dep.env["KINDRED_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
        parts = query.split("?")
        pg = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))
        conn = await asyncpg.connect(dsn)
        try:
            return [tuple(r) for r in await conn.fetch(pg, *args)]
        finally:
            await conn.close()
    db = sqlite3.connect(Path(dep.env["KINDRED_DATA_DIR"]) / "kindred.db", timeout=30)
    try:
        rows = list(db.execute(query, args).fetchall())
        db.commit()
        return rows
    finally:
        db.close()
