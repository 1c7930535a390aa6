"""The room counts of ``GET /api/me/unread`` (``unread.room_counts_at``) in long rooms:
before (``support.unread_join``, the join whose read mark filters every message of each
room) and after (the mark bounds an index range, the count stops at ``MAX_COUNTED``).

A member sees ``--rooms`` rooms of ``--messages`` messages each, from others, with a read
mark ``--unread`` messages before each room's end (``--unread -1``: never visited, no mark).
Both forms answer the same (checked every round); each round times ``--calls`` calls of each,
alternated, the first round a warm-up. Prints the plans and ms per call (median and range of
the rounds' medians); never fails on a number.

    python -m bench.unread_counts [--dialect sqlite|postgres] [--rooms 20] [--messages 20000]
                                  [--unread 5] [--rounds 5] [--calls 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from persistence import accounts, migrate, transcripts, unread  # noqa: E402
from persistence.db import make_engine, session_factory  # noqa: E402
from persistence.transcripts import NewMessage  # noqa: E402
from support.procs import Postgres  # noqa: E402
from support.sqlite_db import migrated_sqlite  # noqa: E402
from support.unread_join import joined_room_counts  # noqa: E402

BODY = "Thank you all for sharing today. The waiting is the hardest part for me."
Counts = Callable[[AsyncSession, int, Sequence[str]], Awaitable[dict[str, unread.Counted]]]
FORMS: dict[str, Counts] = {"before (join)": joined_room_counts, "after (bounded)": unread.room_counts_at}


async def fill(engine: AsyncEngine, rooms: list[str], messages: int, unread_n: int) -> int:
    """The rooms' messages (from one author) and the reader's marks; the reader's storage key."""
    now = datetime.now(UTC).replace(tzinfo=None)
    async with session_factory(engine)() as db:
        org = await accounts.add_org(db, "Bench", "bench", uuid.uuid4().hex, [], now)
        assert org.id is not None
        author, reader = [await accounts.create_user(db, org.id, n, n, f"{n}@example.org", "x", now)
                          for n in ("author", "reader")]
        assert author.id is not None and reader.id is not None
        for room in rooms:
            for start in range(1, messages + 1, 5000):
                await transcripts.store(db, [
                    NewMessage(uuid.uuid4().hex, room, seq, author.id, f"{room}-{seq}", BODY, None,
                               1_700_000_000_000 + seq, None)
                    for seq in range(start, min(start + 5000, messages + 1))])
            if unread_n >= 0:
                await unread.mark_room(db, reader.id, room, messages - unread_n)
    return reader.id


async def statement_of(engine: AsyncEngine, form: Counts, reader: int, rooms: list[str]) -> str:
    """The SQL ``form`` runs for ``rooms``, the values inline (ints and room names of ours)."""
    captured: list[Any] = []
    async with session_factory(engine)() as db:
        real = db.exec

        async def capture(statement: Any, **kw: Any) -> Any:
            captured.append(statement)
            return await real(statement, **kw)

        db.exec = capture  # type: ignore[method-assign]
        await form(db, reader, rooms)
    return str(captured[0].compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


async def plans(engine: AsyncEngine, reader: int, rooms: list[str]) -> None:
    """The plan of each form (EXPLAIN QUERY PLAN / EXPLAIN) for two rooms."""
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    for name, form in FORMS.items():
        sql = await statement_of(engine, form, reader, rooms[:2])
        async with engine.connect() as conn:
            raw = await conn.exec_driver_sql(explain + sql)
            print(f"\n{name}, two rooms:")
            for row in raw.all():
                print("   ", row[-1])


async def measure(engine: AsyncEngine, reader: int, rooms: list[str], rounds: int, calls: int) -> None:
    runs: dict[str, list[float]] = {name: [] for name in FORMS}
    for r in range(rounds + 1):  # the first round warms up
        answers = []
        order = list(FORMS.items()) if r % 2 == 0 else list(FORMS.items())[::-1]
        for name, form in order:
            times = []
            async with session_factory(engine)() as db:
                for _ in range(calls):
                    start = time.perf_counter()
                    answer = await form(db, reader, rooms)
                    times.append((time.perf_counter() - start) * 1000)
                    await db.rollback()  # each call its own transaction, as each request's
            answers.append(answer)
            if r:
                runs[name].append(statistics.median(times))
        assert answers[0] == answers[1], "the two forms disagree"
    print(f"\nms per call, {len(rooms)} rooms; median of {rounds} rounds (each the median of {calls} calls)"
          f" [range]; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for name, ms in runs.items():
        print(f"  {name:16} {statistics.median(ms):8.2f} [{min(ms):.2f}-{max(ms):.2f}]  "
              f"{' / '.join(f'{m:.2f}' for m in ms)}")


async def run(url: str, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    rooms = [f"room-{i}" for i in range(args.rooms)]
    started = time.perf_counter()
    reader = await fill(engine, rooms, args.messages, args.unread)
    print(f"{engine.dialect.name}: {args.rooms} rooms of {args.messages} messages, "
          f"{'no mark' if args.unread < 0 else f'marks {args.unread} before the end'} "
          f"(filled in {time.perf_counter() - started:.0f} s)")
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:  # committed: a rolled back ANALYZE keeps no statistics
            await conn.exec_driver_sql("ANALYZE")
    await plans(engine, reader, rooms)
    await measure(engine, reader, rooms, args.rounds, args.calls)
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dialect", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--unread", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    with TemporaryDirectory() as tmp:
        if args.dialect == "sqlite":
            url = migrated_sqlite(Path(tmp) / "kindred.db")
            asyncio.run(run(url, args))
            return
        with Postgres(Path(tmp) / "pg") as server:
            migrate.upgrade(server.url)
            asyncio.run(run(server.url, args))


if __name__ == "__main__":
    main()
