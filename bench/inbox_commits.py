"""What a one-row commit costs the embedded writer, as today and with a bare inbox before it.

    python -m bench.inbox_commits [--commits 2000] [--batch 100] [--modes A,B,C,A,B,C]

A: a one-row commit to ``messages`` as the writer thread makes it today (``insert_sqlite``,
the connection pragmas of persistence/db.py: WAL, ``synchronous=FULL``; five indexes and the
FTS5 trigger). B: a one-row commit to a bare table (``n INTEGER PRIMARY KEY, row BLOB``) in a
database of its own, also ``synchronous=FULL``. C: B, plus the same rows written to
``messages`` every ``--batch`` rows with ``synchronous=NORMAL`` and the inbox emptied after.
Each mode on a fresh migrated file after 3,000 rows. Prints the process's CPU (user + system:
the fsync's kernel work included) and wall time per commit; figures only (bench/notes.md,
Still to do 21).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

import msgpack

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench.writer import _author  # noqa: E402
from persistence.db import SQLITE_PRAGMAS  # noqa: E402
from persistence.transcripts import NewMessage, insert_sqlite  # noqa: E402
from support.sqlite_db import migrated_sqlite  # noqa: E402

BODY = "Thank you all for sharing today. The waiting is the hardest part for me."


def _rows(first: int, n: int, author: int) -> list[NewMessage]:
    return [NewMessage(uuid.uuid4().hex, f"room-{i % 50}", i // 50 + 1, author, f"c{i}", BODY, None,
                       1_700_000_000_000 + i) for i in range(first, first + n)]


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        con.execute(pragma)
    con.execute(f"PRAGMA synchronous={synchronous}")
    con.execute("PRAGMA temp_store=MEMORY")  # as the writer thread's connection
    return con


def run(mode: str, tmp: Path, commits: int, batch: int) -> tuple[float, float]:
    """CPU and wall seconds per commit of ``mode``."""
    path = tmp / f"{mode}-{time.time_ns()}.db"
    author = asyncio.run(_author(migrated_sqlite(path)))
    main = _connect(path, "FULL" if mode == "A" else "NORMAL")
    for i in range(0, 3000, 50):
        insert_sqlite(main, _rows(i, 50, author))
        main.execute("COMMIT")
    inbox = None
    if mode != "A":
        inbox = _connect(tmp / f"inbox-{time.time_ns()}.db", "FULL")
        inbox.execute("CREATE TABLE inbox (n INTEGER PRIMARY KEY, row BLOB NOT NULL)")
    pending: list[NewMessage] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for k in range(commits):
        (row,) = _rows(3000 + k, 1, author)
        if inbox is None:
            insert_sqlite(main, [row])
            main.execute("COMMIT")
            continue
        inbox.execute("INSERT INTO inbox (row) VALUES (?)", (msgpack.packb(tuple(row)),))
        pending.append(row)
        if mode == "C" and len(pending) >= batch:
            insert_sqlite(main, pending)
            main.execute("COMMIT")
            inbox.execute("DELETE FROM inbox")
            pending = []
    return (time.process_time() - cpu0) / commits, (time.perf_counter() - wall0) / commits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--modes", default="A,B,C,A,B,C")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes.split(","):
            cpu, wall = run(mode, Path(tmp), args.commits, args.batch)
            print(f"{mode}: {cpu * 1e6:7.1f} µs CPU a commit, {wall * 1e6:7.1f} µs wall", flush=True)


if __name__ == "__main__":
    main()
