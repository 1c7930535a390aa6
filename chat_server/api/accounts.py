"""Registration and sessions.

Privacy: the handle is the only public identity. The email address is used to sign in and is
never in any payload another member can see. Unknown email and wrong password get the same
answer, after the same amount of work.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import msgpack
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import (
    SESSION_COOKIE,
    ApiError,
    caller,
    client_address,
    parse_body,
    runtime,
)
from chat_server.runtime import utcnow
from chat_server.security import key_digest, new_token, token_digest
from persistence import accounts, moderation
from rooms import handles
from rooms.errors import Unavailable

log = logging.getLogger(__name__)

_EMAIL_MAX = 254


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key_phrase: str = Field(min_length=1, max_length=200)
    handle: str = Field(min_length=1, max_length=64)
    email: str = Field(min_length=3, max_length=_EMAIL_MAX)
    password: str = Field(min_length=10, max_length=256)


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=1, max_length=_EMAIL_MAX)
    password: str = Field(min_length=1, max_length=256)


def _plausible_email(email: str) -> bool:
    local, at, domain = email.partition("@")
    printable = all(ch.isprintable() and not ch.isspace() for ch in email)
    return bool(at and local and "." in domain and printable)


def _normalize_email(email: str) -> str:
    email = email.strip().lower()
    if not _plausible_email(email):
        raise ApiError(400, "invalid_email", "enter a valid email address")
    return email


def profile(member: Any, org_name: str | None = None) -> dict[str, Any]:
    out = dict(member.public())
    if org_name is not None:
        out["organization"] = org_name
    return out


async def register(request: Request) -> Response:
    """Create an account; the answer never tells whether the email already had one.

    A taken email and a new one get the same 202 and body, after the same work (one argon2
    hash, the same lookups, one commit): an email address having an account here is health
    information. No mail is sent (Kindred has no SMTP), so registering and then signing in
    still tells someone who holds a key phrase whether the account was new; the throttles per
    client address and per key phrase bound how fast that can be asked (docs/operations.md).
    """
    rt = runtime(request)
    body = await parse_body(request, RegisterIn)
    address = client_address(request)
    settings = rt.settings
    if await rt.key_failures.count(address) >= settings.key_phrase_attempts:
        raise ApiError(429, "too_many_attempts", "too many wrong key phrases; try again later",
                       {"Retry-After": str(settings.key_phrase_window_s)})
    try:
        handle = handles.validate(body.handle)
    except handles.HandleRejected as exc:
        raise ApiError(400, "invalid_handle", str(exc)) from None
    email = _normalize_email(body.email)
    key = key_digest(rt.secret, body.key_phrase)
    async with rt.db() as db:
        org = await accounts.org_by_key(db, key)
    if org is None or org.id is None:
        await rt.key_failures.add(address)
        raise ApiError(403, "invalid_key_phrase", "that key phrase is not right; ask your care team")
    by_address, by_key = f"address|{token_digest(address)[:24]}", f"key|{key[:24]}"
    if (await rt.registrations.count(by_address) >= settings.register_attempts
            or await rt.registrations.count(by_key) >= settings.register_key_attempts):
        raise ApiError(429, "too_many_attempts", "too many new accounts; try again later",
                       {"Retry-After": str(settings.register_window_s)})
    await rt.registrations.add(by_address)
    await rt.registrations.add(by_key)
    password_hash = await rt.passwords.hash(body.password)  # on both paths: the same time
    async with rt.db() as db:
        try:
            await accounts.create_user(
                db, org.id, handle, handles.normalize(handle), email, password_hash, utcnow()
            )
        except accounts.Conflict as exc:
            if exc.field == "handle":  # handles are public: saying so tells nothing private
                raise ApiError(409, "handle_taken", "that handle is taken; choose another") from None
            # The email has an account: nothing is created or changed, and the answer is the
            # one a new account gets. The commit matches the new account's.
            await accounts.touch_user_by_email(db, email)
    return JSONResponse(
        {"status": "accepted", "organization": org.name,
         "detail": "If this email address is new here, your account is ready: sign in with it. "
                   "If it already has an account, sign in with that account's password."},
        status_code=202,
    )


async def open_session(request: Request) -> Response:
    rt = runtime(request)
    body = await parse_body(request, SessionIn)
    email = body.email.strip().lower()
    # Keyed by address and a digest of the email, and by address alone across emails (one
    # password tried against many emails: spraying).
    address = token_digest(client_address(request))[:24]  # the counters never hold an address
    throttle_key = f"{address}|{token_digest(email)[:24]}"
    if (await rt.login_failures.count(throttle_key) >= rt.settings.login_attempts
            or await rt.login_failures.count(address) >= rt.settings.login_address_attempts):
        raise ApiError(429, "too_many_attempts", "too many attempts; try again later",
                       {"Retry-After": str(rt.settings.key_phrase_window_s)})
    found = None
    if _plausible_email(email):  # no account has any other kind, and it keeps NUL from SQL
        async with rt.db() as db:
            found = await accounts.credentials(db, email)
    ok = await rt.passwords.verify(found.password_hash if found else None, body.password)
    if not ok or found is None:
        await rt.login_failures.add(throttle_key)
        await rt.login_failures.add(address)
        raise ApiError(401, "invalid_credentials", "that email and password do not match")
    async with rt.db() as db:
        if await moderation.platform_banned(db, found.user_id, int(time.time() * 1000)):
            raise ApiError(403, "banned", "this account is suspended; contact your care team")
    token = new_token()
    now = utcnow()
    ttl = timedelta(days=rt.settings.session_ttl_days)
    async with rt.db() as db:
        if rt.passwords.needs_rehash(found.password_hash):
            await accounts.update_password_hash(db, found.user_id, await rt.passwords.hash(body.password))
        await accounts.open_session(db, found.user_id, token_digest(token), now, now + ttl)
    member = await rt.member_for_token(token)
    assert member is not None
    response = JSONResponse({"token": token, "user": profile(member)})
    response.set_cookie(
        SESSION_COOKIE, token, max_age=int(ttl.total_seconds()), httponly=True, samesite="strict",
        secure=rt.settings.cookie_secure or request.url.scheme == "https", path="/",
    )
    return response


async def close_session(request: Request) -> Response:
    rt = runtime(request)
    _, token = await caller(request)
    digest = token_digest(token)
    async with rt.db() as db:
        await accounts.close_session(db, digest)
    # Close this session's sockets on every gateway, this one included.
    try:
        await rt.broker.publish_control(msgpack.packb({"op": "close_session", "session": digest}))
    except Unavailable:
        # The other gateways close them at their next session check (about a minute).
        log.warning("sign-out could not reach the other gateways")
        rt.hub.close_session(digest)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def me(request: Request) -> Response:
    member, _ = await caller(request)
    return JSONResponse(profile(member))
