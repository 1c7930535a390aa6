"""Queries for organizations, users, sessions and the server secret."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.models import Community, Organization, ServerSecret, Session, User
from persistence.refusals import unique_clash
from rooms.catalog import CommunitySpec
from rooms.model import Member
from rooms.roles import Role


class Conflict(Exception):
    """A unique value is taken; ``field`` says which (``handle``, ``email``, ``name``)."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


@dataclass(frozen=True, slots=True)
class Credentials:
    user_id: int
    password_hash: str


def to_member(user: User) -> Member:
    return Member(
        id=user.public_id, handle=user.handle, role=Role(user.role), org_id=user.org_id,
        db_id=user.id or 0,
    )


async def server_secret(db: AsyncSession, generate: str) -> str:
    """The stored secret, storing ``generate`` first if there is none (race-safe: whoever
    inserts first wins and everyone reads that one back)."""
    found = await db.get(ServerSecret, "main")
    if found is None:
        db.add(ServerSecret(name="main", value=generate))
        try:
            await db.commit()
        except IntegrityError:
            await db.rollback()
            found = await db.get(ServerSecret, "main")
            if found is None:  # refused for another reason than a secret stored first
                raise
            return found.value
        found = await db.get(ServerSecret, "main")
    assert found is not None
    return found.value


async def add_org(
    db: AsyncSession, name: str, slug: str, key_digest: str, rooms: list[CommunitySpec], now: datetime
) -> Organization:
    for field, clause in (
        ("name", Organization.name == name),
        ("slug", Organization.slug == slug),
        ("key_phrase", Organization.key_digest == key_digest),
    ):
        if (await db.exec(select(Organization.id).where(clause))).first() is not None:
            raise Conflict(field)
    taken = (
        await db.exec(select(Community.slug).where(col(Community.slug).in_([r.slug for r in rooms])))
    ).first()
    if taken is not None:
        raise Conflict("slug")
    org = Organization(name=name, slug=slug, key_digest=key_digest, created_at=now)
    db.add(org)
    await db.flush()
    for spec in rooms:
        db.add(
            Community(
                slug=spec.slug, name=spec.name, kind=spec.kind,
                description=spec.description, org_id=org.id,
            )
        )
    await db.commit()
    return org


async def org_by_name(db: AsyncSession, name: str) -> Organization | None:
    return (await db.exec(select(Organization).where(Organization.name == name))).first()


async def org_by_key(db: AsyncSession, key_digest: str) -> Organization | None:
    return (await db.exec(select(Organization).where(Organization.key_digest == key_digest))).first()


async def list_orgs(db: AsyncSession) -> list[tuple[Organization, int]]:
    counts = (
        select(Organization, func.count(User.id))  # type: ignore[arg-type]
        .join(User, User.org_id == Organization.id, isouter=True)  # type: ignore[arg-type]
        .group_by(Organization.id)  # type: ignore[arg-type]
        .order_by(Organization.name)
    )
    return [(org, n) for org, n in (await db.exec(counts)).all()]


async def set_org_key(db: AsyncSession, org: Organization, key_digest: str) -> None:
    org.key_digest = key_digest
    db.add(org)
    await db.commit()


async def create_user(
    db: AsyncSession, org_id: int, handle: str, handle_key: str, email: str,
    password_hash: str, now: datetime,
) -> User:
    if (await db.exec(select(User.id).where(User.handle_key == handle_key))).first() is not None:
        raise Conflict("handle")
    if (await db.exec(select(User.id).where(User.email == email))).first() is not None:
        raise Conflict("email")
    user = User(
        public_id="u" + secrets.token_hex(8), org_id=org_id, handle=handle, handle_key=handle_key,
        email=email, password_hash=password_hash, role=Role.MEMBER.value, created_at=now,
    )
    db.add(user)
    try:
        await db.commit()
    except IntegrityError as exc:
        # Two registrations raced for the same handle or email: report the one taken. Any
        # other refusal (an organization that does not exist) is not a taken name.
        await db.rollback()
        clash = unique_clash(exc)
        for field, column in (("handle", "users.handle_key"), ("email", "users.email")):
            if clash == {column}:
                raise Conflict(field) from None
        raise
    return user


async def touch_user_by_email(db: AsyncSession, email: str) -> None:
    """Rewrite the account's row unchanged and commit: the work a new account's insert does,
    so a registration for a taken email takes as long as one for a new email."""
    await db.exec(update(User).where(col(User.email) == email).values(email=col(User.email)))
    await db.commit()


async def credentials(db: AsyncSession, email: str) -> Credentials | None:
    row = (await db.exec(select(User.id, User.password_hash).where(User.email == email))).first()
    return Credentials(row[0], row[1]) if row else None  # type: ignore[arg-type]


async def update_password_hash(db: AsyncSession, user_id: int, password_hash: str) -> None:
    user = await db.get(User, user_id)
    if user is not None:
        user.password_hash = password_hash
        db.add(user)
        await db.commit()


async def open_session(
    db: AsyncSession, user_id: int, token_digest: str, now: datetime, expires: datetime
) -> None:
    db.add(Session(token_digest=token_digest, user_id=user_id, created_at=now, expires_at=expires))
    await db.commit()


async def live_sessions(db: AsyncSession, digests: list[str], now: datetime) -> set[str]:
    """The subset of ``digests`` that are sessions still open at ``now``."""
    found: set[str] = set()
    for start in range(0, len(digests), 500):
        chunk = digests[start:start + 500]
        query = select(Session.token_digest).where(
            col(Session.token_digest).in_(chunk), Session.expires_at > now
        )
        found.update((await db.exec(query)).all())
    return found


async def close_session(db: AsyncSession, token_digest: str) -> bool:
    result = await db.exec(delete(Session).where(col(Session.token_digest) == token_digest))
    await db.commit()
    return bool(result.rowcount)


async def close_sessions_of(db: AsyncSession, user_id: int, commit: bool = True) -> int:
    """End every session of the member (a platform ban); how many there were."""
    result = await db.exec(delete(Session).where(col(Session.user_id) == user_id))
    if commit:
        await db.commit()
    return int(result.rowcount or 0)


async def set_role(db: AsyncSession, handle_key: str, role: Role) -> User | None:
    user = (await db.exec(select(User).where(User.handle_key == handle_key))).first()
    if user is None:
        return None
    user.role = role.value
    db.add(user)
    await db.commit()
    return user
