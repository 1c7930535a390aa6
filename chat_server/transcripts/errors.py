"""Telling a database outage (wait and retry) from a row the database refuses (set aside)."""

from __future__ import annotations

from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError


def is_bad_row(exc: BaseException) -> bool:
    """True when retrying the same rows cannot help; anything else is treated as an outage."""
    return isinstance(exc, IntegrityError | DataError | ProgrammingError | ValueError | KeyError)
