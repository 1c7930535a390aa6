"""Private conversations over HTTP (docs/social.md, "Private messages"): start one, list
mine, read one, accept or decline a request, and the member's setting for who may write to
them first. The messages themselves travel over the socket like any room's (``join`` the
conversation's ``room``), and its history and search are the rooms' endpoints."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import caller, parse_body, service
from chat_server.conversations.service import Conversations
from rooms.conversations import MAX_PARTICIPANTS, Allow

UserId = Annotated[str, StringConstraints(min_length=1, max_length=17)]


class StartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    with_: list[UserId] = Field(alias="with", min_length=1, max_length=MAX_PARTICIPANTS - 1)


class AllowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    allow: str = Field(min_length=1, max_length=16)


def _service(request: Request) -> Conversations:
    return service(request, "conversations", Conversations)


async def start(request: Request) -> Response:
    """``POST /api/conversations {with: [public ids]}``: 201 with a new conversation, 200 with
    the one the pair already has. A member who does not take messages from the caller is
    ``403 dm_refused``, and nothing is recorded."""
    body = await parse_body(request, StartIn)
    member, _ = await caller(request)
    view, created = await _service(request).start(member, body.with_)
    return JSONResponse(view, status_code=201 if created else 200)


async def mine(request: Request) -> Response:
    """``GET /api/conversations``: most recently active first."""
    member, _ = await caller(request)
    return JSONResponse({"conversations": await _service(request).mine(member)})


async def one(request: Request) -> Response:
    """``GET /api/conversations/{id}``."""
    member, _ = await caller(request)
    return JSONResponse(await _service(request).get(member, request.path_params["id"]))


async def accept(request: Request) -> Response:
    """``POST /api/conversations/{id}/accept``: the request's messages are delivered now."""
    member, _ = await caller(request)
    return JSONResponse(await _service(request).answer(member, request.path_params["id"], True))


async def decline(request: Request) -> Response:
    """``POST /api/conversations/{id}/decline``: it ends; nobody writes in it any more."""
    member, _ = await caller(request)
    return JSONResponse(await _service(request).answer(member, request.path_params["id"], False))


def _allow_view(allow: str) -> dict[str, object]:
    return {"allow": allow, "choices": [a.value for a in Allow]}


async def get_allow(request: Request) -> Response:
    """``GET /api/me/dm``: who may write to me first."""
    member, _ = await caller(request)
    return JSONResponse(_allow_view(await _service(request).allow(member)))


async def put_allow(request: Request) -> Response:
    """``PUT /api/me/dm {allow}``: ``nobody``, ``staff``, ``friends`` or ``communities``."""
    body = await parse_body(request, AllowIn)
    member, _ = await caller(request)
    return JSONResponse(_allow_view(await _service(request).set_allow(member, body.allow)))
