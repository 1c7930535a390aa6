"""Registering, signing in and out: the orchestration behind ``/api/register``,
``/api/session`` and ``/api/me``.

Privacy: the handle is the only public identity. The email address is used to sign in and is
never in any payload another member can see. Unknown email and wrong password get the same
answer, after the same amount of work (one argon2 verification on both paths).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.accounts.errors import (
    HandleTaken,
    InvalidCredentials,
    InvalidEmail,
    InvalidHandle,
    InvalidKeyPhrase,
    Suspended,
)
from chat_server.accounts.sessions import SessionEnder
from chat_server.accounts.throttles import Throttles, refuse_if_full
from chat_server.config import Settings
from chat_server.readers import utcnow
from chat_server.security import Passwords, key_digest, new_token, token_digest
from persistence import accounts, moderation
from rooms import handles
from rooms.model import Member

log = logging.getLogger(__name__)

MemberLookup = Callable[[str], Awaitable[Member | None]]  # a live session's member, by token


def plausible_email(email: str) -> bool:
    local, at, domain = email.partition("@")
    printable = all(ch.isprintable() and not ch.isspace() for ch in email)
    return bool(at and local and "." in domain and printable)


def normalize_email(email: str) -> str:
    """Trimmed and lower-cased; ``InvalidEmail`` if it cannot be an address."""
    email = email.strip().lower()
    if not plausible_email(email):
        raise InvalidEmail("enter a valid email address")
    return email


def profile(member: Member, org_name: str | None = None) -> dict[str, Any]:
    """A member as they see themselves (``GET /api/me``)."""
    out = dict(member.public())
    if org_name is not None:
        out["organization"] = org_name
    return out


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str  # handed to the member once; only its digest is stored
    member: Member
    ttl: timedelta


class AccountService:
    """Registering, signing in and out. ``address`` is the client's address: it keys the
    throttles (as a digest where the counter is shared) and is never stored with an account."""

    def __init__(
        self, settings: Settings, db: async_sessionmaker[AsyncSession], secret: str,
        passwords: Passwords, throttles: Throttles, member_for_token: MemberLookup,
        ender: SessionEnder,
    ) -> None:
        self._settings, self._db, self._secret = settings, db, secret
        self._passwords, self._throttles = passwords, throttles
        self._member_for_token, self._ender = member_for_token, ender

    @property
    def cookie_secure(self) -> bool:
        """The session cookie is ``Secure`` even over plain HTTP (behind a TLS proxy)."""
        return self._settings.cookie_secure

    async def register(self, address: str, key_phrase: str, handle: str, email: str, password: str) -> str:
        """Create an account; the organization's name. Whether the email already had one is
        never told.

        A taken email and a new one get the same answer after the same work (one argon2
        hash, the same lookups, one commit): an email address having an account here is
        health information. The throttles per client address and per key phrase bound how
        fast someone holding a key phrase can ask (docs/operations.md).
        """
        settings, throttles = self._settings, self._throttles
        await refuse_if_full(throttles.key_failures, address, settings.key_phrase_attempts,
                             "too many wrong key phrases; try again later", settings.key_phrase_window_s)
        try:
            handle = handles.validate(handle)
        except handles.HandleRejected as exc:
            raise InvalidHandle(str(exc)) from None
        email = normalize_email(email)
        key = key_digest(self._secret, key_phrase)
        async with self._db() as db:
            org = await accounts.org_by_key(db, key)
        if org is None or org.id is None:
            await throttles.key_failures.add(address)
            raise InvalidKeyPhrase("that key phrase is not right; ask your care team")
        by_address, by_key = f"address|{token_digest(address)[:24]}", f"key|{key[:24]}"
        too_many = "too many new accounts; try again later"
        await refuse_if_full(throttles.registrations, by_address, settings.register_attempts,
                             too_many, settings.register_window_s)
        await refuse_if_full(throttles.registrations, by_key, settings.register_key_attempts,
                             too_many, settings.register_window_s)
        await throttles.registrations.add(by_address)
        await throttles.registrations.add(by_key)
        password_hash = await self._passwords.hash(password)  # on both paths: the same time
        async with self._db() as db:
            try:
                await accounts.create_user(
                    db, org.id, handle, handles.normalize(handle), email, password_hash, utcnow()
                )
            except accounts.Conflict as exc:
                if exc.field == "handle":  # handles are public: saying so tells nothing private
                    raise HandleTaken("that handle is taken; choose another") from None
                # The email has an account: nothing is created or changed, and the answer is
                # the one a new account gets. The commit matches the new account's.
                await accounts.touch_user_by_email(db, email)
        return org.name

    async def sign_in(self, address: str, email: str, password: str) -> SignedIn:
        """Open a session. Unknown email and wrong password: ``InvalidCredentials`` alike,
        after one argon2 verification either way; a platform ban: ``Suspended``."""
        settings, failures = self._settings, self._throttles.login_failures
        email = email.strip().lower()
        # Keyed by address and a digest of the email, and by address alone across emails
        # (one password tried against many emails: spraying).
        address = token_digest(address)[:24]  # the counters never hold an address
        throttle_key = f"{address}|{token_digest(email)[:24]}"
        too_many = "too many attempts; try again later"
        await refuse_if_full(failures, throttle_key, settings.login_attempts, too_many,
                             settings.key_phrase_window_s)
        await refuse_if_full(failures, address, settings.login_address_attempts, too_many,
                             settings.key_phrase_window_s)
        found = None
        if plausible_email(email):  # no account has any other kind, and it keeps NUL from SQL
            async with self._db() as db:
                found = await accounts.credentials(db, email)
        ok = await self._passwords.verify(found.password_hash if found else None, password)
        if not ok or found is None:
            await failures.add(throttle_key)
            await failures.add(address)
            raise InvalidCredentials("that email and password do not match")
        async with self._db() as db:
            if await moderation.platform_banned(db, found.user_id, int(time.time() * 1000)):
                raise Suspended("this account is suspended; contact your care team")
        token = new_token()
        now = utcnow()
        ttl = timedelta(days=settings.session_ttl_days)
        async with self._db() as db:
            if self._passwords.needs_rehash(found.password_hash):
                await accounts.update_password_hash(db, found.user_id, await self._passwords.hash(password))
            await accounts.open_session(db, found.user_id, token_digest(token), now, now + ttl)
        member = await self._member_for_token(token)
        assert member is not None, "the session was just opened"
        return SignedIn(token, member, ttl)

    async def sign_out(self, token: str) -> None:
        """End the session and close its sockets on every gateway, this one included."""
        digest = token_digest(token)
        async with self._db() as db:
            await accounts.close_session(db, digest)
        if not await self._ender.end(digest):
            # The other gateways close them at their next session check (about a minute).
            log.warning("sign-out could not reach the other gateways")
