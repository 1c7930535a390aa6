"""A freshly migrated database with an organization, members and open questions, for the
tests that write votes straight through ``persistence/question_votes.py``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence import accounts
from persistence.db import make_engine, session_factory
from persistence.question_models import QuestionRow
from support.sqlite_db import migrated_database

# (engine, members' storage keys, open questions' storage keys, the database's URL)
VoteSite = tuple[AsyncEngine, list[int], list[int], str]


async def vote_site(request: pytest.FixtureRequest, tmp_path: Path, members: int, questions: int,
                    tag: str) -> AsyncIterator[VoteSite]:
    """The database of ``request.param`` ("sqlite" or "postgres") with ``members`` members of
    one organization and ``questions`` open questions by the first of them; disposed after."""
    url = await migrated_database(request, tmp_path)
    engine = make_engine(url)
    now = datetime.now(UTC).replace(tzinfo=None)
    async with session_factory(engine)() as session:
        org = await accounts.add_org(session, tag.title(), tag, uuid.uuid4().hex, [], now)
        assert org.id is not None
        member_ids = []
        for i in range(members):
            user = await accounts.create_user(session, org.id, f"{tag}{i}", f"{tag}{i}", f"{tag}{i}@example.org",
                                              "x", now)
            assert user.id is not None
            member_ids.append(user.id)
        question_ids = []
        for i in range(questions):
            row = QuestionRow(public_id=uuid.uuid4().hex, venue="event:0123456789abcdef", room="live-room",
                              author_id=member_ids[0], body=f"question {i}", status="open", cid=f"c{i}",
                              created_ms=1)
            session.add(row)
            await session.commit()
            assert row.id is not None
            question_ids.append(row.id)
    yield engine, member_ids, question_ids, url
    await engine.dispose()


async def stored_counts(engine: AsyncEngine, question: int) -> tuple[int, int, int]:
    """(the votes column, the vote rows, the version) of a question as stored."""
    async with engine.connect() as conn:
        votes, version = (await conn.execute(
            text("SELECT votes, version FROM questions WHERE id = :q"), {"q": question})).one()
        rows = (await conn.execute(
            text("SELECT count(*) FROM question_votes WHERE question_id = :q"), {"q": question})).scalar_one()
    return int(votes), int(rows), int(version)
