"""A write the database refuses is reported as the clash a caller expects (a handle taken,
already assigned, blocked twice, the pair's conversation made first, the same item queued
first) only when it is that clash: any other refusal (here a member who does not exist, so a
foreign key, or a missing value) is raised as it is. On real SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence import accounts, conversations, moderation, questions, refusals, safety_queue
from persistence.db import make_engine, session_factory
from persistence.models import User
from persistence.question_models import QuestionRow
from support.sqlite_db import migrated_database
from support.stored import org_members

NOBODY = 999_999  # a storage key no member has


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    found = make_engine(await migrated_database(request, tmp_path))
    try:
        yield found
    finally:
        await found.dispose()


@pytest.fixture
async def db(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


async def _org(db: async_sessionmaker[AsyncSession]) -> int:
    async with db() as s:
        org = await accounts.add_org(s, "Refusals", "r", uuid.uuid4().hex, [], _now())
    assert org.id is not None
    return org.id


async def test_a_registration_for_an_organization_that_is_gone_is_not_a_taken_handle(
    db: async_sessionmaker[AsyncSession],
) -> None:
    async with db() as s:
        with pytest.raises(IntegrityError):
            await accounts.create_user(s, NOBODY, "wren", "wren", "wren@example.org", "x", _now())


async def test_a_server_secret_refused_for_a_missing_value_is_raised(
    db: async_sessionmaker[AsyncSession],
) -> None:
    async with db() as s:
        with pytest.raises(IntegrityError):
            await accounts.server_secret(s, None)  # type: ignore[arg-type]
        assert await accounts.server_secret(s, "kept") == "kept"


async def test_assigning_a_member_who_does_not_exist_is_not_already_assigned(
    db: async_sessionmaker[AsyncSession],
) -> None:
    [navigator] = await org_members(db, ["heron"])
    async with db() as s:
        assert await moderation.assign(s, navigator, "lung-cancer")
        assert not await moderation.assign(s, navigator, "lung-cancer")
        with pytest.raises(IntegrityError):
            await moderation.assign(s, NOBODY, "lung-cancer")


async def test_blocking_a_member_who_does_not_exist_is_raised(
    db: async_sessionmaker[AsyncSession],
) -> None:
    [me] = await org_members(db, ["robin"])
    async with db() as s:
        with pytest.raises(IntegrityError):
            await moderation.set_block(s, me, NOBODY, True, int(time.time() * 1000))


async def test_a_conversation_with_a_member_who_does_not_exist_is_not_the_pairs_own(
    db: async_sessionmaker[AsyncSession],
) -> None:
    me, other = await org_members(db, ["lark", "teal"])
    now_ms = int(time.time() * 1000)
    async with db() as s:
        made = await conversations.create(s, uuid.uuid4().hex[:16], me, [other], "open", now_ms)
        assert made is not None
        # The pair's live conversation exists: that clash is the one answered with None.
        assert await conversations.create(s, uuid.uuid4().hex[:16], me, [other], "open", now_ms) is None
        with pytest.raises(IntegrityError):
            await conversations.create(s, uuid.uuid4().hex[:16], me, [NOBODY], "open", now_ms)


async def test_a_question_refused_for_its_author_is_raised(
    db: async_sessionmaker[AsyncSession],
) -> None:
    row = QuestionRow(public_id=uuid.uuid4().hex[:16], venue="topic:t1", room="lung-cancer",
                      author_id=NOBODY, body="?", status="open", cid="c-1",
                      created_ms=int(time.time() * 1000))
    async with db() as s:
        with pytest.raises(IntegrityError):
            await questions.add(s, row)


async def test_a_report_by_a_member_who_does_not_exist_is_raised_not_taken_for_a_duplicate(
    db: async_sessionmaker[AsyncSession],
) -> None:
    [reporter] = await org_members(db, ["plover"])
    subject = safety_queue.Subject(message_id="m" * 32)
    now_ms = int(time.time() * 1000)
    async with db() as s:
        first = await safety_queue.queue_add(s, "report", "lung-cancer", subject, reporter, None, now_ms)
        assert first[1]
        assert await safety_queue.queue_add(s, "report", "lung-cancer", subject, reporter, None,
                                            now_ms) == (first[0], False)
        with pytest.raises(IntegrityError):
            await safety_queue.queue_add(s, "report", "lung-cancer", subject, NOBODY, None, now_ms)


# -- the races: a session whose snapshot was taken before the other's commit -----------------
# PostgreSQL at REPEATABLE READ: the session's checks read its snapshot (nothing there), and
# its insert meets the row committed since, as a racing request's would.


def _behind(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine.execution_options(isolation_level="REPEATABLE READ"))


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
async def test_a_registration_that_lost_the_race_for_an_email_is_told_the_email(
    engine: AsyncEngine,
) -> None:
    db = session_factory(engine)
    org = await _org(db)
    async with _behind(engine)() as late:
        assert await accounts.org_by_name(late, "Refusals") is not None  # the snapshot
        async with db() as s:
            await accounts.create_user(s, org, "finch", "finch", "finch@example.org", "x", _now())
        with pytest.raises(accounts.Conflict) as refused:
            await accounts.create_user(late, org, "finch2", "finch2", "finch@example.org", "x", _now())
    assert refused.value.field == "email"


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
async def test_a_block_made_twice_at_once_is_made(engine: AsyncEngine) -> None:
    db = session_factory(engine)
    me, other = await org_members(db, ["robin", "wren"])
    now_ms = int(time.time() * 1000)
    async with _behind(engine)() as late:
        assert await moderation.blocked_by(late, me) == []  # the snapshot
        async with db() as s:
            assert await moderation.set_block(s, me, other, True, now_ms) is None
        assert await moderation.set_block(late, me, other, True, now_ms) is None
    async with db() as s:
        assert [m.db_id for m in await moderation.blocked_by(s, me)] == [other]


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
async def test_every_unique_key_the_refusals_name_exists_in_a_migrated_postgres(engine: AsyncEngine) -> None:
    """`unique_clash` reads PostgreSQL's constraint name; each name it knows must be one the
    migrations created, on the same columns."""
    query = text(
        "SELECT c.relname, array_agg(a.attname ORDER BY a.attname) FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
        " JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()"
        " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indisunique GROUP BY c.relname, t.relname"
    )
    async with engine.connect() as conn:
        found = {name: sorted(cols) for name, cols in (await conn.execute(query)).all()}
    # A unique constraint's index carries the constraint's name.
    for name, cols in refusals.postgres_keys().items():
        assert name in found, name
        assert sorted(c.split(".", 1)[1] for c in cols) == found[name], name


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
async def test_a_clash_is_told_without_postgres_english_detail(engine: AsyncEngine) -> None:
    """PostgreSQL writes the error's detail in the server's `lc_messages` language, and
    leaves it out under row-level security: the clash is read from the constraint's name."""
    db = session_factory(engine)
    org = await _org(db)
    async with db() as s:
        await accounts.create_user(s, org, "linnet", "linnet", "linnet@example.org", "x", _now())
    async with db() as s:
        with pytest.raises(IntegrityError) as refused:
            s.add(User(public_id=uuid.uuid4().hex[:24], org_id=org, handle="Linnet", handle_key="linnet", email="other@example.org",
                       password_hash="x", created_at=_now()))
            await s.flush()
    asyncpg_error = refused.value.orig.__cause__  # type: ignore[union-attr]
    assert refusals.unique_clash(refused.value) == {"users.handle_key"}
    for detail in ("Schlüssel »(handle_key)=(linnet)« existiert bereits.", None):
        asyncpg_error.detail = detail
        assert refusals.unique_clash(refused.value) == {"users.handle_key"}
