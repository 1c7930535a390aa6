"""Queries for communities (rooms): seeding the catalog, listing what a member may see."""

from __future__ import annotations

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.models import Community, Organization
from rooms.access import PRIVATE_KIND
from rooms.catalog import CommunitySpec
from rooms.model import Community as RoomCommunity
from rooms.model import Member
from rooms.roles import Role


async def seed(db: AsyncSession, specs: tuple[CommunitySpec, ...]) -> tuple[int, int]:
    """Insert missing national communities and refresh the names and descriptions of existing
    ones. Idempotent. Returns ``(added, updated)``."""
    existing = {
        c.slug: c
        for c in (await db.exec(select(Community).where(col(Community.org_id).is_(None)))).all()
    }
    added = updated = 0
    for spec in specs:
        row = existing.get(spec.slug)
        if row is None:
            db.add(Community(slug=spec.slug, name=spec.name, kind=spec.kind, description=spec.description))
            added += 1
        elif (row.name, row.kind, row.description) != (spec.name, spec.kind, spec.description):
            row.name, row.kind, row.description = spec.name, spec.kind, spec.description
            db.add(row)
            updated += 1
    await db.commit()
    return added, updated


def _domain(row: Community, org: Organization | None) -> RoomCommunity:
    return RoomCommunity(
        slug=row.slug, name=row.name, kind=row.kind, description=row.description,
        org_id=row.org_id, org_name=org.name if org else None,
    )


def _with_org() -> object:
    return select(Community, Organization).join(
        Organization, Community.org_id == Organization.id, isouter=True  # type: ignore[arg-type]
    )


async def visible_to(db: AsyncSession, member: Member) -> list[RoomCommunity]:
    """National communities, then the member's organization's local rooms, by name (never a
    private conversation's room: only its participants see it, rooms/access.py)."""
    query = _with_org().where(col(Community.kind) != PRIVATE_KIND)  # type: ignore[attr-defined]
    if member.role is not Role.ADMIN:
        query = query.where(
            or_(col(Community.org_id).is_(None), col(Community.org_id) == member.org_id)
        )
    query = query.order_by(col(Community.org_id).is_not(None), Community.name)
    return [_domain(row, org) for row, org in (await db.exec(query)).all()]


async def by_slug(db: AsyncSession, slug: str) -> RoomCommunity | None:
    query = _with_org().where(Community.slug == slug)  # type: ignore[attr-defined]
    found = (await db.exec(query)).first()
    return _domain(*found) if found else None


async def by_slugs(db: AsyncSession, slugs: list[str]) -> list[RoomCommunity]:
    """The communities of these slugs that exist, by slug."""
    if not slugs:
        return []
    query = _with_org().where(col(Community.slug).in_(slugs)).order_by(Community.slug)  # type: ignore[attr-defined]
    return [_domain(row, org) for row, org in (await db.exec(query)).all()]


async def set_retention(db: AsyncSession, slug: str, days: int | None) -> bool:
    row = (await db.exec(select(Community).where(Community.slug == slug))).first()
    if row is None:
        return False
    row.retention_days = days
    db.add(row)
    await db.commit()
    return True


async def retention(db: AsyncSession) -> list[tuple[str, int]]:
    """``(slug, days)`` of every community with a retention period."""
    query = select(Community.slug, Community.retention_days).where(
        col(Community.retention_days).is_not(None)
    )
    return [(slug, int(days)) for slug, days in (await db.exec(query)).all() if days is not None]
