"""Telling a database outage (wait and retry) from a row the database refuses (set aside)."""

from __future__ import annotations

import sqlite3

import asyncpg
from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError

# persistence.transcripts.store talks to the drivers directly on its hot path (COPY through
# asyncpg, a temporary table through aiosqlite), so their own errors arrive unwrapped too.
_BAD_ROW = (
    IntegrityError, DataError, ProgrammingError, ValueError, KeyError,
    sqlite3.IntegrityError, sqlite3.DataError, sqlite3.ProgrammingError,
    asyncpg.IntegrityConstraintViolationError, asyncpg.DataError,
)


def is_bad_row(exc: BaseException) -> bool:
    """True when retrying the same rows cannot help; anything else is treated as an outage."""
    return isinstance(exc, _BAD_ROW)
