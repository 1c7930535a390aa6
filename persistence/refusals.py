"""Which unique key a refused write clashed on, read from the database's own error.

A caller that expects one clash (a handle taken by a registration that raced this one, the
pair's live conversation made first by another request) must tell it from every other
refusal (a row a foreign key names that does not exist, a NOT NULL, another unique key) and
raise those: reporting them as the expected clash would hide a bug behind a polite answer.

PostgreSQL names the constraint or unique index that refused the write; the names are the
models' (the migrations create the same ones: tests/test_storage.py compares them, and
tests/test_integrity_refusals.py checks each name below exists in a migrated database), so
they are turned into columns here. The error's detail (``Key (a, b)=(...)``) is not used
first: PostgreSQL translates it into the server's ``lc_messages`` language and leaves it out
under row-level security. SQLite says which columns in its message (``UNIQUE constraint
failed: t.a, t.b``), which it never translates. Both come out as the same names.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from sqlalchemy import Index, PrimaryKeyConstraint, Table, UniqueConstraint
from sqlalchemy.exc import IntegrityError

_SQLITE_UNIQUE = "UNIQUE constraint failed: "
_PG_UNIQUE = "23505"  # unique_violation
_PG_KEY = re.compile(r"Key \(([^)]*)\)=")


def unique_clash(exc: IntegrityError) -> frozenset[str]:
    """The columns (``"table.column"``) of the unique key or primary key ``exc`` refused a
    write on; empty for any other refusal."""
    error = exc.orig
    # asyncpg's own error (with the table, the constraint and the detail) is the cause of
    # SQLAlchemy's adapter's, which carries only the code.
    pg: Any = getattr(error, "__cause__", None) or error
    code = getattr(pg, "sqlstate", None)
    if code is not None:
        if code != _PG_UNIQUE:
            return frozenset()
        named = postgres_keys().get(str(getattr(pg, "constraint_name", "") or ""))
        if named is not None:
            return named
        # A key the models do not declare (none today): the English detail, where there is one.
        found = _PG_KEY.match(str(getattr(pg, "detail", "") or ""))
        if found is None:
            return frozenset()
        table = getattr(pg, "table_name", "")
        return frozenset(f"{table}.{c.strip()}" for c in found.group(1).split(","))
    message = str(error)
    if not message.startswith(_SQLITE_UNIQUE):
        return frozenset()
    return frozenset(c.strip() for c in message.removeprefix(_SQLITE_UNIQUE).split(","))


@cache
def postgres_keys() -> dict[str, frozenset[str]]:
    """Every unique key of the models by the name PostgreSQL gives it: the declared name, or
    PostgreSQL's own default for an unnamed one (``<table>_pkey``, ``<table>_<cols>_key``)."""
    from persistence.models import SQLModel  # type: ignore[attr-defined]  # the full metadata

    keys: dict[str, frozenset[str]] = {}
    table: Table
    for table in SQLModel.metadata.tables.values():
        for item in (*table.constraints, *table.indexes):
            if isinstance(item, Index) and not item.unique:
                continue
            if not isinstance(item, Index | UniqueConstraint | PrimaryKeyConstraint):
                continue
            cols = [c.name for c in item.columns]
            if not cols:
                continue
            name = item.name if isinstance(item.name, str) else None
            if name is None:
                suffix = "pkey" if isinstance(item, PrimaryKeyConstraint) else "_".join(cols) + "_key"
                name = f"{table.name}_{suffix}"
            keys[name] = frozenset(f"{table.name}.{c}" for c in cols)
    return keys
