"""Changing a password, and resetting a forgotten one with a one-time code, over HTTP: parse,
call the password service (chat_server/accounts/passwords.py, which says how resets work),
shape the answer."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.accounts.passwords import PasswordService
from chat_server.api.accounts import accounts
from chat_server.api.common import caller, client_address, parse_body


class ChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=10, max_length=256)


class ResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=254)
    code: str = Field(min_length=1, max_length=100)
    new_password: str = Field(min_length=10, max_length=256)


def _passwords(request: Request) -> PasswordService:
    return accounts(request).passwords


async def change(request: Request) -> Response:
    """``POST /api/password``: ``{current_password, new_password}``; 204. Other sessions end."""
    member, token = await caller(request)
    body = await parse_body(request, ChangeIn)
    await _passwords(request).change(member, token, client_address(request), body.current_password,
                                     body.new_password)
    return Response(status_code=204)


async def reset(request: Request) -> Response:
    """``POST /api/password/reset``: ``{email, code, new_password}``; 204, then sign in."""
    body = await parse_body(request, ResetIn)
    await _passwords(request).reset(client_address(request), body.email, body.code, body.new_password)
    return Response(status_code=204)


async def issue_code(request: Request) -> Response:
    """``POST /api/users/{id}/reset-code``: an org admin for a member of their organization
    (an admin for anyone), never for someone of equal or higher rank. ``{code, expires}``."""
    admin, _ = await caller(request)
    code, expires = await _passwords(request).issue_code(admin, request.path_params["id"])
    return JSONResponse({"code": code, "expires": expires.isoformat() + "Z"}, status_code=201)
