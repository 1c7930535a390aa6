"""Queries for changing a password and for one-time reset codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.models import PasswordReset, Session, User


async def password_hash(db: AsyncSession, user_id: int) -> str | None:
    user = await db.get(User, user_id)
    return user.password_hash if user else None


async def set_password(db: AsyncSession, user_id: int, new_hash: str, keep_session: str | None) -> list[str]:
    """Store the new hash and end every session of the member but ``keep_session`` (a token
    digest), in one transaction. Returns the digests of the sessions ended."""
    ended = list(
        (await db.exec(
            select(Session.token_digest).where(Session.user_id == user_id)
        )).all()
    )
    ended = [d for d in ended if d != keep_session]
    await db.exec(update(User).where(col(User.id) == user_id).values(password_hash=new_hash))
    if ended:
        await db.exec(delete(Session).where(col(Session.token_digest).in_(ended)))
    await db.commit()
    return ended


async def issue_reset(db: AsyncSession, user_id: int, code_digest: str, now: datetime, expires: datetime) -> None:
    """Record a new reset code for the member (commits); earlier unused codes stop working."""
    await db.exec(
        update(PasswordReset)
        .where(col(PasswordReset.user_id) == user_id, col(PasswordReset.used_at).is_(None))
        .values(used_at=now)
    )
    db.add(PasswordReset(user_id=user_id, code_digest=code_digest, created_at=now, expires_at=expires))
    await db.commit()


async def redeem_reset(db: AsyncSession, email: str, code_digest: str, now: datetime) -> int | None:
    """Use the code if it is live and belongs to the member with ``email``; the member's
    storage key, or None. Marks it used (does not commit: the caller commits it together
    with the new password)."""
    query = (
        select(PasswordReset)
        .join(User, col(User.id) == col(PasswordReset.user_id))
        .where(
            PasswordReset.code_digest == code_digest, User.email == email,
            col(PasswordReset.used_at).is_(None), PasswordReset.expires_at > now,
        )
    )
    found = (await db.exec(query)).first()
    if found is None:
        return None
    # Conditional, so two redemptions racing for one code cannot both win.
    claimed = await db.exec(
        update(PasswordReset)
        .where(col(PasswordReset.id) == found.id, col(PasswordReset.used_at).is_(None))
        .values(used_at=now)
    )
    return found.user_id if claimed.rowcount == 1 else None
