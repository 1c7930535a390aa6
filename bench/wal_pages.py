"""Which pages a small commit of the embedded mode writes: WAL frames per commit, by b-tree.

    python -m bench.wal_pages [--commits 1000] [--before 3000] [--rows 1]

Migrates a fresh SQLite file, commits ``--before`` messages (so the indexes have some depth),
checkpoints, then commits ``--commits`` transactions of ``--rows`` rows each as the writer
thread does (``insert_sqlite``, the connection pragmas of persistence/db.py, no checkpoint
meanwhile) and reads the frames of the WAL: each frame is one page written by a commit, and
``dbstat`` names the table or index that page belongs to. Every frame is written to the WAL
(a page header and a page: two ``pwrite``s) and synced at COMMIT, so frames per commit is
what a commit costs in I/O; the checkpoint later copies each distinct page once more. A
count, not a timing: it does not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sqlite3
import struct
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench.writer import _author  # noqa: E402
from persistence.db import SQLITE_PRAGMAS  # noqa: E402
from persistence.transcripts import NewMessage, insert_sqlite  # noqa: E402
from support.sqlite_db import migrated_sqlite  # noqa: E402

ROOMS = 50
BODY = "Thank you all for sharing today. The waiting is the hardest part for me."


def _frames(wal: Path) -> tuple[collections.Counter[int], int]:
    """Pages written (page number: frames) and commits, from the WAL's frame headers."""
    data = wal.read_bytes()
    page_size = struct.unpack(">I", data[8:12])[0]
    pages: collections.Counter[int] = collections.Counter()
    commits, offset = 0, 32
    while offset + 24 + page_size <= len(data):
        page, size_after_commit = struct.unpack(">II", data[offset:offset + 8])
        pages[page] += 1
        commits += size_after_commit != 0
        offset += 24 + page_size
    return pages, commits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--before", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kindred.db"
        url = migrated_sqlite(path)
        author = asyncio.run(_author(url))
        con = sqlite3.connect(path, isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            con.execute(pragma)
        con.execute("PRAGMA temp_store=MEMORY")  # as the writer thread's connection

        def commit(first: int, n: int) -> None:
            insert_sqlite(con, [
                NewMessage(uuid.uuid4().hex, f"room-{i % ROOMS}", i // ROOMS + 1, author, f"c{i}",
                           BODY, None, 1_700_000_000_000 + i) for i in range(first, first + n)])
            con.execute("COMMIT")

        for i in range(0, args.before, args.rows):
            commit(i, args.rows)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("PRAGMA wal_autocheckpoint=0")  # every frame of the measured commits stays
        first = args.before
        for _ in range(args.commits):
            commit(first, args.rows)
            first += args.rows
        pages, commits = _frames(Path(f"{path}-wal"))
        owner = {page: f"{name} ({kind})" for page, name, kind in
                 con.execute("SELECT pageno, name, pagetype FROM dbstat")}
        con.close()
    by_tree: collections.Counter[str] = collections.Counter()
    for page, frames in pages.items():
        by_tree[owner.get(page, f"page {page} (freed)")] += frames
    total = sum(pages.values())
    print(f"{commits} commits of {args.rows} row(s) after {args.before}: {total / commits:.2f} WAL "
          f"frames a commit, {len(pages)} distinct pages")
    for tree, frames in by_tree.most_common():
        print(f"  {frames / commits:6.2f}  {tree}")


if __name__ == "__main__":
    main()
