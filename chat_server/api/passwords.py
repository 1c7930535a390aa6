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
from datetime import timedelta

import msgpack
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import ApiError, caller, client_address, parse_body, runtime
from chat_server.readers import utcnow
from chat_server.runtime import Runtime
from chat_server.security import new_key_phrase, normalize_key_phrase, token_digest
from persistence import moderation, passwords
from rooms import ids
from rooms.errors import Unavailable
from rooms.roles import Role

log = logging.getLogger(__name__)

RESET_CODE_TTL = timedelta(hours=24)


class ChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=10, max_length=256)


class ResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=254)
    code: str = Field(min_length=1, max_length=100)
    new_password: str = Field(min_length=10, max_length=256)


def code_digest(code: str) -> str:
    """Codes are read aloud or typed from paper: case, spaces and hyphens do not matter."""
    return token_digest(normalize_key_phrase(code))


async def _end_sessions(rt: Runtime, digests: list[str]) -> None:
    for digest in digests:
        try:
            await rt.broker.publish_control(msgpack.packb({"op": "close_session", "session": digest}))
        except Unavailable:
            rt.hub.close_session(digest)  # the others close it at their next session check


async def change(request: Request) -> Response:
    """``POST /api/password``: ``{current_password, new_password}``; 204. Other sessions end."""
    rt = runtime(request)
    member, token = await caller(request)
    body = await parse_body(request, ChangeIn)
    throttle_key = f"{client_address(request)}|pw|{member.id}"
    if await rt.login_failures.count(throttle_key) >= rt.settings.login_attempts:
        raise ApiError(429, "too_many_attempts", "too many attempts; try again later",
                       {"Retry-After": str(rt.settings.key_phrase_window_s)})
    async with rt.db() as db:
        stored = await passwords.password_hash(db, member.db_id)
    if not await rt.passwords.verify(stored, body.current_password):
        await rt.login_failures.add(throttle_key)
        raise ApiError(403, "wrong_password", "the current password is not right")
    new_hash = await rt.passwords.hash(body.new_password)
    async with rt.db() as db:
        ended = await passwords.set_password(db, member.db_id, new_hash, keep_session=token_digest(token))
    await _end_sessions(rt, ended)
    return Response(status_code=204)


async def reset(request: Request) -> Response:
    """``POST /api/password/reset``: ``{email, code, new_password}``; 204, then sign in."""
    rt = runtime(request)
    body = await parse_body(request, ResetIn)
    email = body.email.strip().lower()
    if "@" not in email or not email.isprintable():
        raise ApiError(403, "invalid_code", "that code is not right or has expired; ask for a new one")
    # Per address and per account: guessing one member's code from many addresses is
    # limited too (a code lives 24 hours).
    throttle_keys = (f"{client_address(request)}|reset", f"reset|{token_digest(email)[:24]}")
    for key in throttle_keys:
        if await rt.login_failures.count(key) >= rt.settings.login_attempts:
            raise ApiError(429, "too_many_attempts", "too many attempts; try again later",
                           {"Retry-After": str(rt.settings.key_phrase_window_s)})
    new_hash = await rt.passwords.hash(body.new_password)  # before the lookup: same time either way
    ended: list[str] = []
    async with rt.db() as db:
        user_id = await passwords.redeem_reset(db, email, code_digest(body.code), utcnow())
        if user_id is None:
            await db.rollback()
        else:
            ended = await passwords.set_password(db, user_id, new_hash, keep_session=None)
    if user_id is None:
        for key in throttle_keys:
            await rt.login_failures.add(key)
        raise ApiError(403, "invalid_code", "that code is not right or has expired; ask for a new one")
    await _end_sessions(rt, ended)
    return Response(status_code=204)


async def issue_code(request: Request) -> Response:
    """``POST /api/users/{id}/reset-code``: an org admin for a member of their organization
    (an admin for anyone), never for someone of equal or higher rank. ``{code, expires}``."""
    rt = runtime(request)
    admin, _ = await caller(request)
    if admin.role.rank < Role.ORG_ADMIN.rank:
        raise ApiError(403, "forbidden", "only organization admins may issue reset codes")
    public_id = request.path_params["id"]
    if not ids.is_user_id(public_id):
        raise ApiError(404, "no_such_member", "no such member")
    async with rt.db() as db:
        target = await moderation.member_by_public_id(db, public_id)
    if target is None or (admin.role is not Role.ADMIN and target.org_id != admin.org_id):
        raise ApiError(404, "no_such_member", "no such member")
    if target.role.rank >= admin.role.rank:
        raise ApiError(403, "forbidden", "you cannot reset the password of equal or higher rank")
    code, expires = new_key_phrase(), utcnow() + RESET_CODE_TTL
    async with rt.db() as db:
        await moderation.audit(db, int(time.time() * 1000), admin.db_id, "reset_code", "*", target.db_id)
        await passwords.issue_reset(db, target.db_id, code_digest(code), utcnow(), expires)
    log.info("a password reset code was issued")
    return JSONResponse({"code": code, "expires": expires.isoformat() + "Z"}, status_code=201)
