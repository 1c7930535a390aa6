"""Red team for persistence/question_votes.py (``VoteWrites.cast``), on real SQLite and
PostgreSQL. Attacks: more than ``VOTES_A_COMMIT`` votes at once (batches back to back) with
every outcome checked against a sequential model (casts, withdrawals, second votes, foreign
key refusals and votes on a dismissed question mixed in one batch); another connection
holding SQLite's write lock while votes queue, and dismissing the question under it; a
transaction killed by one vote (``RAISE(ROLLBACK)``) and the writer's state afterwards;
voters cancelled at every stage of their write (on PostgreSQL the pooled connection must not
come back inside a transaction); two ``VoteWrites`` (two gateways) on one PostgreSQL row.
The invariants: the ``votes`` column equals the vote rows, ``version`` grows by one per
accepted change, errors reach their voter only, nothing hangs.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from persistence import questions as store
from persistence.db import make_engine, session_factory
from persistence.question_models import QuestionRow
from persistence.question_votes import VOTES_A_COMMIT, Outcome, Vote, VoteWrites
from support.vote_sites import VoteSite, vote_site
from support.vote_sites import stored_counts as _stored

MEMBERS = 48
NOBODY = 10_000_000  # a storage key no member has: its vote row breaks the foreign key
Site = VoteSite


def _site(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Site]:
    return vote_site(request, tmp_path, MEMBERS, 3, "red")


@pytest.fixture(params=["sqlite", "postgres"])
async def site(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Site]:
    async for made in _site(request, tmp_path):
        yield made


@pytest.fixture(params=["sqlite"])
async def lite(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Site]:
    async for made in _site(request, tmp_path):
        yield made


@pytest.fixture(params=["postgres"])
async def pg(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Site]:
    async for made in _site(request, tmp_path):
        yield made


def _model(votes: list[Vote], closed: set[int]) -> list[Outcome | type[Exception]]:
    """The outcome of each vote written one after the other, as the docs define it."""
    rows: dict[int, set[int]] = {}
    version: dict[int, int] = {}
    out: list[Outcome | type[Exception]] = []
    for v in votes:
        have, ver = rows.setdefault(v.question_id, set()), version.get(v.question_id, 0)
        if v.question_id in closed:
            out.append(None)
        elif v.user_id >= NOBODY and v.up:
            out.append(sqlite3.IntegrityError)
        elif (v.user_id in have) == v.up:  # a second vote / a withdrawal of no vote
            out.append((False, len(have), ver, False))
        else:
            (have.add if v.up else have.discard)(v.user_id)
            version[v.question_id] = ver + 1
            out.append((True, len(have), ver + 1, False))
    return out


def _mixed_votes(members: list[int], q1: int, q2: int, closed: int) -> list[Vote]:
    """Over three commits' worth: casts, same-batch withdrawals and re-casts in both orders,
    second votes, refusals by the foreign key in the middle, votes on a closed question."""
    out: list[Vote] = []
    for i, m in enumerate(members):
        out.append(Vote(q1, m, True, 7))
        if i % 5 == 1:
            out += [Vote(q1, m, False, 7), Vote(q1, m, True, 7)]
        if i % 7 == 2:
            out += [Vote(q1, m, True, 7), Vote(q2, m, False, 7)]  # second vote; withdrawal of none
        if i % 6 == 3:
            out += [Vote(q1, NOBODY + i, True, 7), Vote(q2, m, True, 7), Vote(q1, m, False, 7)]
        if i % 9 == 4:
            out.append(Vote(closed, m, True, 7))
    return out


async def test_batches_back_to_back_match_the_sequential_model(lite: Site) -> None:
    """SQLite writes the votes in the order they were cast: every outcome is the one the same
    votes written one by one would give, across several batches of 16 at once."""
    engine, members, (q1, q2, q3), _ = lite
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE questions SET status = 'dismissed' WHERE id = :q"), {"q": q3})
    writes = VoteWrites(engine, at_once=8)
    votes = _mixed_votes(members, q1, q2, q3)
    assert len(votes) > 4 * VOTES_A_COMMIT
    results: list[Any] = await asyncio.wait_for(
        asyncio.gather(*(writes.cast(v) for v in votes), return_exceptions=True), 60)
    expected = _model(votes, {q3})
    for vote, got, want in zip(votes, results, expected, strict=True):
        if isinstance(want, type):
            assert isinstance(got, want), (vote, got)
        else:
            assert got == want, (vote, got, want)
    for q in (q1, q2):
        changes = [r for r, v in zip(results, votes, strict=True) if v.question_id == q and isinstance(r, tuple) and r[0]]
        votes_col, rows, version = await _stored(engine, q)
        assert votes_col == rows == (changes[-1][1] if changes else 0) and version == len(changes)
    assert await _stored(engine, q3) == (0, 0, 0)
    assert writes.commits <= 2 + -(-len(votes) // VOTES_A_COMMIT), writes.commits


async def _invariants(engine: AsyncEngine, question: int, results: list[Any], votes: list[Vote],
                      extra_versions: int = 0) -> None:
    """Whatever the interleaving: the column equals the rows, the rows equal the accepted
    casts minus the accepted withdrawals, and the version counts the accepted changes."""
    accepted = [(r, v) for r, v in zip(results, votes, strict=True)
                if v.question_id == question and isinstance(r, tuple) and r[0]]
    votes_col, rows, version = await _stored(engine, question)
    assert votes_col == rows == sum(1 if v.up else -1 for _, v in accepted)
    assert version == len(accepted) + extra_versions


async def test_votes_queued_behind_a_held_write_lock_all_land(lite: Site) -> None:
    """Another connection holds SQLite's write lock (BEGIN IMMEDIATE) and, while holding it,
    dismisses one question; votes keep arriving meanwhile (well over 16). When it commits,
    every vote lands exactly once; those on the dismissed question change nothing."""
    engine, members, (q1, q2, _), url = lite
    path = url.split("///", 1)[-1]
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        con = sqlite3.connect(path, timeout=30)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute("UPDATE questions SET status = 'dismissed' WHERE id = ?", (q2,))
            locked.set()
            release.wait(30)
            con.commit()
        finally:
            con.close()

    holder = asyncio.create_task(asyncio.to_thread(hold))
    assert await asyncio.to_thread(locked.wait, 30)
    writes = VoteWrites(engine, at_once=8)
    votes = [Vote(q, m, True, 7) for m in members[:20] for q in (q1, q2)]
    tasks = [asyncio.create_task(writes.cast(v)) for v in votes]
    for _ in range(50):  # the first batch waits for the lock, the rest queue
        await asyncio.sleep(0)
    late = [Vote(q1, m, True, 7) for m in members[15:]] + [Vote(q1, m, False, 7) for m in members[:3]]
    tasks += [asyncio.create_task(writes.cast(v)) for v in late]
    votes += late
    for _ in range(50):
        await asyncio.sleep(0)
    assert not any(t.done() for t in tasks)  # nothing written under another's lock
    release.set()
    await asyncio.wait_for(holder, 30)
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert all(r is None for r, v in zip(results, votes, strict=True) if v.question_id == q2)
    assert await _stored(engine, q1) == (len(members) - 3, len(members) - 3, len(members) + 3)
    await _invariants(engine, q1, results, votes)
    assert await _stored(engine, q2) == (0, 0, 0)


async def test_a_vote_that_kills_the_transaction_leaves_a_clean_writer(lite: Site) -> None:
    """A vote whose statement rolls the whole transaction back (a trigger's RAISE(ROLLBACK),
    standing in for an I/O error) fails at most its own batch; the counts stay exact and the
    votes after it, and the same votes again, are written."""
    engine, members, (q1, _, _), _ = lite
    async with engine.begin() as conn:
        await conn.execute(text(
            f"CREATE TRIGGER red_rollback BEFORE INSERT ON question_votes WHEN NEW.user_id = {members[5]} "
            "BEGIN SELECT RAISE(ROLLBACK, 'red team: transaction gone'); END"))
    writes = VoteWrites(engine, at_once=8)
    votes = [Vote(q1, m, True, 7) for m in members[:40]]
    results: list[Any] = await asyncio.wait_for(
        asyncio.gather(*(writes.cast(v) for v in votes), return_exceptions=True), 60)
    failed = [v for r, v in zip(results, votes, strict=True) if isinstance(r, BaseException)]
    assert Vote(q1, members[5], True, 7) in failed
    assert len(failed) <= VOTES_A_COMMIT, failed  # at most the one batch
    await _invariants(engine, q1, results, votes)
    async with engine.begin() as conn:
        await conn.execute(text("DROP TRIGGER red_rollback"))
    again = await asyncio.wait_for(asyncio.gather(*(writes.cast(v) for v in failed)), 30)
    assert all(r is not None and r[0] for r in again)
    assert (await _stored(engine, q1))[:2] == (40, 40)



async def test_many_voters_cancelled_mid_batch(site: Site) -> None:
    """Forty voters at once, every other one cancelled after a different number of loop
    turns (before, during or after its batch): the others are all answered, each cancelled
    vote counts at most once, and the same members can then withdraw exactly."""
    engine, members, (q1, _, _), _ = site
    writes = VoteWrites(engine, at_once=8)
    votes = [Vote(q1, m, True, 7) for m in members[:40]]
    tasks = [asyncio.create_task(writes.cast(v)) for v in votes]
    for turn in range(60):
        for i in range(1, 40, 2):
            if i * 3 // 2 == turn:
                tasks[i].cancel()
        await asyncio.sleep(0)
    done, _ = await asyncio.wait(tasks, timeout=30)
    assert len(done) == len(tasks)
    kept = [t.result() for i, t in enumerate(tasks) if i % 2 == 0]
    assert all(r is not None and r[0] for r in kept), kept
    votes_col, rows, version = await _stored(engine, q1)
    assert votes_col == rows == version and 20 <= rows <= 40
    back = await asyncio.wait_for(asyncio.gather(*(writes.cast(Vote(q1, m, False, 7)) for m in members[:40])), 30)
    assert sum(1 for r in back if r is not None and r[0]) == rows
    assert await _stored(engine, q1) == (0, 0, 2 * rows)


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


_IDLE_IN_TX = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
               "AND state LIKE 'idle in transaction%'")


# A product bug this found (fixed the same night): write_postgres's `async with
# pg.transaction()` cancelled during BEGIN left asyncpg's failed Transaction as the
# connection's _top_xact with the server's transaction begun, and SQLAlchemy's reset on return
# rolled nothing back (its adapter began nothing), so later transactions on that pooled
# connection were SAVEPOINTs of the open one, never committed. Now a vote whose connection's
# state is unknown (cancelled, lost) discards it (`VoteWrites._cast_postgres`).
async def test_pg_a_voter_cancelled_during_begin_leaves_no_transaction_open(pg: Site) -> None:
    """A voter cancelled at each point of its write in turn (as a socket's reader is when
    its client goes away mid-vote). Once it has returned, no connection of the pool may stay
    inside a transaction: later votes on it would be answered as counted yet never commit,
    and hold their question's row lock so another gateway's vote on it waits for ever."""
    engine, members, (q1, q2, q3), url = pg
    writes = VoteWrites(engine, at_once=8)
    observer = await asyncpg.connect(_dsn(url))
    problems: list[str] = []
    try:
        for k in [*range(0, 200), *range(0, 200)]:
            await writes.cast(Vote(q3, members[1], k % 2 == 0, 7))  # one warm pooled connection
            task = asyncio.create_task(writes.cast(Vote(q1, members[k % MEMBERS], True, 7)))
            for _ in range(k):
                await asyncio.sleep(0)
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            if await observer.fetchval(_IDLE_IN_TX):
                problems.append(f"cancelled after {k} loop turns: a pooled connection stays in a transaction")
                break
        if problems:
            said = await writes.cast(Vote(q2, members[2], True, 7))
            stored = await observer.fetchval("SELECT votes FROM questions WHERE id = $1", q2)
            if said is not None and said[0] and stored == 0:
                problems.append(f"a vote answered {said} is not committed (others read {stored})")
            async with session_factory(engine)() as db:  # any other write on the pool
                await db.exec(update(QuestionRow).where(col(QuestionRow.id) == q3).values(body="edited"))
                await db.commit()
            if await observer.fetchval("SELECT body FROM questions WHERE id = $1", q3) != "edited":
                problems.append("an ORM session's commit on that pooled connection is not committed")
            other_engine = make_engine(url)
            try:
                await asyncio.wait_for(VoteWrites(other_engine, 8).cast(Vote(q2, members[3], True, 7)), 5)
            except TimeoutError:
                problems.append("another gateway's vote on that question waits on its row lock for ever")
            finally:
                await other_engine.dispose()
    finally:
        await observer.close()
    assert not problems, problems


async def test_pg_a_voter_cancelled_while_waiting_for_the_row_lock(pg: Site) -> None:
    """Another transaction holds the question's row lock; a vote waits for it and its voter
    is cancelled: the vote is not written, no transaction stays open, the next votes land."""
    engine, members, (q1, _, _), url = pg
    writes = VoteWrites(engine, at_once=8)
    holder, observer = await asyncpg.connect(_dsn(url)), await asyncpg.connect(_dsn(url))
    try:
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT 1 FROM questions WHERE id = $1 FOR UPDATE", q1)
        task = asyncio.create_task(writes.cast(Vote(q1, members[1], True, 7)))
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        async with asyncio.timeout(30):
            while not await observer.fetchval(waiting):
                done, _ = await asyncio.wait([task], timeout=0.02)
                assert not done, task.result()  # written under another's row lock
        task.cancel()
        with suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
        await tx.rollback()
        assert await observer.fetchval(_IDLE_IN_TX) == 0
    finally:
        await holder.close()
        await observer.close()
    assert await _stored(engine, q1) == (0, 0, 0)
    assert await asyncio.wait_for(writes.cast(Vote(q1, members[1], True, 7)), 30) == (True, 1, 1, False)


async def test_pg_two_gateways_cast_and_withdraw_on_one_row(pg: Site) -> None:
    """Two VoteWrites on two engines (two gateways) on the same question, the same members
    casting on one and withdrawing on the other at once, three rounds: exact counts."""
    engine, members, (q1, _, _), url = pg
    other_engine = make_engine(url)
    try:
        a, b = VoteWrites(engine, 8), VoteWrites(other_engine, 8)
        votes: list[Vote] = []
        calls = []
        for rnd in range(3):
            for i, m in enumerate(members):
                first, second = (a, b) if (i + rnd) % 2 else (b, a)
                votes += [Vote(q1, m, True, 7), Vote(q1, m, rnd % 2 == 1, 7)]
                calls += [first.cast(votes[-2]), second.cast(votes[-1])]
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 60)
        assert not [r for r in results if isinstance(r, BaseException)], results
        await _invariants(engine, q1, results, votes)
    finally:
        await other_engine.dispose()


async def test_a_merge_between_votes_keeps_both_counts_exact(site: Site) -> None:
    """A merge (as the service does it: lock the source, close it, lock the target, move the
    votes, recount) while votes storm on both questions: both columns equal their rows, the
    source frozen after the merge, each version one per accepted change plus the merge's."""
    engine, members, (src, dst, _), _ = site
    writes = VoteWrites(engine, at_once=8)
    votes = [Vote(q, m, True, 7) for m in members for q in (src, dst)]
    votes += [Vote(dst, m, False, 7) for m in members[::4]]
    calls = [writes.cast(v) for v in votes]

    async def merge() -> None:
        for _ in range(20):
            await asyncio.sleep(0)
        async with session_factory(engine)() as db:
            row = await store.lock(db, src)
            assert row is not None
            target_public = (await store.get_by_row(db, dst))
            assert target_public is not None
            row.status, row.version = "merged", row.version + 1
            row.merged_into = target_public.row.public_id
            db.add(row)
            await db.flush()
            target = await store.lock(db, dst)
            assert target is not None
            await store.move_votes(db, row, target, 9)
            await db.commit()

    results = await asyncio.wait_for(asyncio.gather(*calls, merge(), return_exceptions=True), 60)
    assert not [r for r in results if isinstance(r, BaseException)], results
    await _invariants(engine, src, results[:-1], votes, extra_versions=1)
    votes_col, rows, _ = await _stored(engine, dst)
    assert votes_col == rows
