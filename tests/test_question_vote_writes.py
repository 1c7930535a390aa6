"""Votes written on the drivers (persistence/question_votes.py), on SQLite and PostgreSQL:
each vote row counted exactly once, a second vote and a withdrawal of no vote changing
nothing, a vote on a question no longer open refused, and on SQLite the votes that arrive
together written in one commit, one vote's failure leaving the others. Real databases.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.question_votes import VOTES_A_COMMIT, Vote, VoteWrites
from support.vote_sites import stored_counts as _stored
from support.vote_sites import vote_site

MEMBERS = 40


@pytest.fixture(params=["sqlite", "postgres"])
async def site(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, list[int], list[int]]]:
    """(engine, members' storage keys, two open questions' storage keys)."""
    async for engine, members, questions, _ in vote_site(request, tmp_path, MEMBERS, 2, "voter"):
        yield engine, members, questions


async def test_votes_at_once_are_each_counted_once(site: tuple[AsyncEngine, list[int], list[int]]) -> None:
    engine, members, (q1, q2) = site
    writes = VoteWrites(engine, at_once=8)
    votes = [Vote(q, m, True, 5) for m in members for q in (q1, q2)]
    votes += [Vote(q1, members[3], True, 5), Vote(q2, members[4], True, 5)]  # a second vote each
    outcomes = await asyncio.gather(*(writes.cast(v) for v in votes))
    changed = [o for o in outcomes if o is not None and o[0]]
    unchanged = [o for o in outcomes if o is not None and not o[0]]
    assert len(changed) == 2 * MEMBERS and len(unchanged) == 2
    for q in (q1, q2):
        counts = sorted(o[1] for o, v in zip(outcomes, votes, strict=True) if v.question_id == q and o and o[0])
        assert counts == list(range(1, MEMBERS + 1))  # each accepted vote saw its own count
        votes_col, rows, version = await _stored(engine, q)
        assert votes_col == rows == MEMBERS and version == MEMBERS
    if engine.dialect.name == "sqlite":
        # Together: far fewer commits than votes (the first alone, then the rest in batches).
        assert writes.commits <= 1 + -(-len(votes) // VOTES_A_COMMIT) + 1, writes.commits
    else:
        # A connection is kept from vote to vote while votes keep coming (no pool ping each
        # time), and every one is back in the pool once they stop.
        assert writes.checkouts <= 8, writes.checkouts
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_withdrawal_and_a_withdrawal_of_no_vote(site: tuple[AsyncEngine, list[int], list[int]]) -> None:
    engine, members, (q1, _) = site
    writes = VoteWrites(engine, at_once=8)
    assert await writes.cast(Vote(q1, members[1], True, 5)) == (True, 1, 1, False)
    assert await writes.cast(Vote(q1, members[2], False, 5)) == (False, 1, 1, False)  # had not voted
    assert await writes.cast(Vote(q1, members[1], False, 5)) == (True, 0, 2, False)
    assert await writes.cast(Vote(q1, members[1], False, 5)) == (False, 0, 2, False)
    assert await _stored(engine, q1) == (0, 0, 2)


async def test_a_vote_on_a_question_no_longer_open_changes_nothing(
    site: tuple[AsyncEngine, list[int], list[int]],
) -> None:
    engine, members, (q1, q2) = site
    writes = VoteWrites(engine, at_once=8)
    await writes.cast(Vote(q1, members[1], True, 5))
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE questions SET status = 'dismissed' WHERE id = :q"), {"q": q1})
    outcomes = await asyncio.gather(writes.cast(Vote(q1, members[2], True, 5)),
                                    writes.cast(Vote(q1, members[1], False, 5)),
                                    writes.cast(Vote(q2, members[2], True, 5)))
    assert list(outcomes) == [None, None, (True, 1, 1, False)]
    assert await _stored(engine, q1) == (1, 1, 1)


async def test_one_vote_refused_by_the_database_leaves_the_others(
    site: tuple[AsyncEngine, list[int], list[int]],
) -> None:
    """A vote row the database refuses (here a member who does not exist: a foreign key) fails
    that vote alone and leaves its question's count as it was; the votes written with it stand."""
    engine, members, (q1, q2) = site
    writes = VoteWrites(engine, at_once=8)
    if engine.dialect.name == "sqlite":
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
    results: list[Any] = list(await asyncio.gather(
        writes.cast(Vote(q1, members[1], True, 5)), writes.cast(Vote(q1, 10_000_000, True, 5)),
        writes.cast(Vote(q2, members[1], True, 5)), return_exceptions=True))
    assert results[0] == (True, 1, 1, False) and results[2] == (True, 1, 1, False)
    assert isinstance(results[1], Exception)
    assert await _stored(engine, q1) == (1, 1, 1)
    assert await writes.cast(Vote(q1, members[2], True, 5)) == (True, 2, 2, False)


async def test_a_voter_who_leaves_does_not_fail_the_others(site: tuple[AsyncEngine, list[int], list[int]]) -> None:
    engine, members, (q1, _) = site
    writes = VoteWrites(engine, at_once=8)
    tasks = [asyncio.create_task(writes.cast(Vote(q1, m, True, 5))) for m in members[:10]]
    await asyncio.sleep(0)
    tasks[0].cancel()
    done = await asyncio.gather(*tasks[1:])
    assert all(o is not None and o[0] for o in done)
    # The first vote was on its way with the others (or not yet): counted at most once either way.
    votes_col, rows, _ = await _stored(engine, q1)
    assert votes_col == rows in (9, 10)
