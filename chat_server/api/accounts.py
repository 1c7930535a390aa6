"""Registration and sign-in sessions over HTTP: parse, call the account service
(chat_server/accounts), shape the answer. Its refusals are answered by the app's one error
map (api/common.api_error).

Privacy: the handle is the only public identity; the email address is never in any payload
another member can see.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.accounts.service import profile
from chat_server.accounts.wiring import Accounts
from chat_server.api.common import caller, client_address, parse_body, service
from chat_server.security import SESSION_COOKIE

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


def accounts(request: Request) -> Accounts:
    return service(request, "accounts", Accounts)


async def register(request: Request) -> Response:
    """Create an account; the answer never tells whether the email already had one: a taken
    email and a new one get the same 202 and body, after the same work (AccountService.register)."""
    body = await parse_body(request, RegisterIn)
    org_name = await accounts(request).service.register(
        client_address(request), body.key_phrase, body.handle, body.email, body.password)
    return JSONResponse(
        {"status": "accepted", "organization": org_name,
         "detail": "If this email address is new here, your account is ready: sign in with it. "
                   "If it already has an account, sign in with that account's password."},
        status_code=202,
    )


async def open_session(request: Request) -> Response:
    """Sign in: ``{token, user}`` and the session cookie (HttpOnly, SameSite=Strict)."""
    body = await parse_body(request, SessionIn)
    account_service = accounts(request).service
    signed_in = await account_service.sign_in(client_address(request), body.email, body.password)
    response = JSONResponse({"token": signed_in.token, "user": profile(signed_in.member)})
    response.set_cookie(
        SESSION_COOKIE, signed_in.token, max_age=int(signed_in.ttl.total_seconds()), httponly=True,
        samesite="strict", secure=account_service.cookie_secure or request.url.scheme == "https",
        path="/",
    )
    return response


async def close_session(request: Request) -> Response:
    """Sign out: the session ends and its sockets close on every gateway."""
    _, token = await caller(request)
    await accounts(request).service.sign_out(token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def me(request: Request) -> Response:
    member, _ = await caller(request)
    return JSONResponse(profile(member))
