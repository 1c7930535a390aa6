"""Which unique key a refused write clashed on, read from the database's own error.

A caller that expects one clash (a handle taken by a registration that raced this one, the
pair's live conversation made first by another request) must tell it from every other
refusal (a row a foreign key names that does not exist, a NOT NULL, another unique key) and
raise those: reporting them as the expected clash would hide a bug behind a polite answer.
PostgreSQL says which key in the error's table and detail (``Key (a, b)=(...)``), SQLite in
its message (``UNIQUE constraint failed: t.a, t.b``); both come out as the same names.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.exc import IntegrityError

_SQLITE_UNIQUE = "UNIQUE constraint failed: "
_PG_UNIQUE = "23505"  # unique_violation
_PG_KEY = re.compile(r"Key \(([^)]*)\)=")


def unique_clash(exc: IntegrityError) -> frozenset[str]:
    """The columns (``"table.column"``) of the unique key or primary key ``exc`` refused a
    write on; empty for any other refusal."""
    error = exc.orig
    # asyncpg's own error (with the table and the detail) is the cause of SQLAlchemy's
    # adapter's, which carries only the code.
    pg: Any = getattr(error, "__cause__", None) or error
    code = getattr(pg, "sqlstate", None)
    if code is not None:
        found = _PG_KEY.match(str(getattr(pg, "detail", "") or ""))
        if code != _PG_UNIQUE or found is None:
            return frozenset()
        table = getattr(pg, "table_name", "")
        return frozenset(f"{table}.{c.strip()}" for c in found.group(1).split(","))
    message = str(error)
    if not message.startswith(_SQLITE_UNIQUE):
        return frozenset()
    return frozenset(c.strip() for c in message.removeprefix(_SQLITE_UNIQUE).split(","))
