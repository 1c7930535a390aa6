"""Changing a password, and resetting a forgotten one with a one-time code.

Kindred sends no email (nothing leaves the server that the operator did not configure), so a
reset goes through people who know the member: an organization admin (``POST
/api/users/{id}/reset-code``) or the operator (``kindred user reset-password``) issues a code
and hands it over; the member sets a new password with it. Either way every other session of
the member ends, on every gateway.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.accounts.errors import InvalidCode, NotAllowed, WrongPassword
from chat_server.accounts.sessions import SessionEnder
from chat_server.accounts.throttles import Throttles, refuse_if_full
from chat_server.config import Settings
from chat_server.readers import utcnow
from chat_server.security import Passwords, new_key_phrase, normalize_key_phrase, token_digest
from persistence import moderation, passwords
from rooms import ids
from rooms.errors import NoSuchMember
from rooms.model import Member
from rooms.roles import Role

log = logging.getLogger(__name__)

RESET_CODE_TTL = timedelta(hours=24)
_TOO_MANY = "too many attempts; try again later"


def code_digest(code: str) -> str:
    """Codes are read aloud or typed from paper: case, spaces and hyphens do not matter."""
    return token_digest(normalize_key_phrase(code))


class PasswordService:
    """``address`` is the client's address: it keys the throttles only."""

    def __init__(
        self, settings: Settings, db: async_sessionmaker[AsyncSession], passwords: Passwords,
        throttles: Throttles, ender: SessionEnder,
    ) -> None:
        self._settings, self._db, self._passwords = settings, db, passwords
        self._failures, self._ender = throttles.login_failures, ender

    async def _end_sessions(self, digests: list[str]) -> None:
        for digest in digests:
            await self._ender.end(digest)  # unreachable: the others close it at their next check

    async def change(self, member: Member, token: str, address: str, current: str, new: str) -> None:
        """Every session of the member but ``token``'s ends. ``WrongPassword`` (counted)."""
        throttle_key = f"{address}|pw|{member.id}"
        await refuse_if_full(self._failures, throttle_key, self._settings.login_attempts, _TOO_MANY,
                             self._settings.key_phrase_window_s)
        async with self._db() as db:
            stored = await passwords.password_hash(db, member.db_id)
        if not await self._passwords.verify(stored, current):
            await self._failures.add(throttle_key)
            raise WrongPassword("the current password is not right")
        new_hash = await self._passwords.hash(new)
        async with self._db() as db:
            ended = await passwords.set_password(db, member.db_id, new_hash, keep_session=token_digest(token))
        await self._end_sessions(ended)

    async def reset(self, address: str, email: str, code: str, new: str) -> None:
        """Set a new password with a reset code; every session of the member ends.
        ``InvalidCode`` for a wrong, used, expired or other email's code (counted)."""
        email = email.strip().lower()
        if "@" not in email or not email.isprintable():
            raise InvalidCode("that code is not right or has expired; ask for a new one")
        # Per address and per account: guessing one member's code from many addresses is
        # limited too (a code lives 24 hours).
        throttle_keys = (f"{address}|reset", f"reset|{token_digest(email)[:24]}")
        for key in throttle_keys:
            await refuse_if_full(self._failures, key, self._settings.login_attempts, _TOO_MANY,
                                 self._settings.key_phrase_window_s)
        new_hash = await self._passwords.hash(new)  # before the lookup: same time either way
        ended: list[str] = []
        async with self._db() as db:
            user_id = await passwords.redeem_reset(db, email, code_digest(code), utcnow())
            if user_id is None:
                await db.rollback()
            else:
                ended = await passwords.set_password(db, user_id, new_hash, keep_session=None)
        if user_id is None:
            for key in throttle_keys:
                await self._failures.add(key)
            raise InvalidCode("that code is not right or has expired; ask for a new one")
        await self._end_sessions(ended)

    async def issue_code(self, admin: Member, public_id: str) -> tuple[str, datetime]:
        """A one-time code and when it expires, issued by an org admin for a member of their
        organization (an admin for anyone), never for someone of equal or higher rank.
        ``NotAllowed``; ``NoSuchMember`` also for another organization's member."""
        if admin.role.rank < Role.ORG_ADMIN.rank:
            raise NotAllowed("only organization admins may issue reset codes")
        if not ids.is_user_id(public_id):
            raise NoSuchMember("no such member")
        async with self._db() as db:
            target = await moderation.member_by_public_id(db, public_id)
        if target is None or (admin.role is not Role.ADMIN and target.org_id != admin.org_id):
            raise NoSuchMember("no such member")
        if target.role.rank >= admin.role.rank:
            raise NotAllowed("you cannot reset the password of equal or higher rank")
        code, expires = new_key_phrase(), utcnow() + RESET_CODE_TTL
        async with self._db() as db:
            await moderation.audit(db, int(time.time() * 1000), admin.db_id, "reset_code", "*", target.db_id)
            await passwords.issue_reset(db, target.db_id, code_digest(code), utcnow(), expires)
        log.info("a password reset code was issued")
        return code, expires
