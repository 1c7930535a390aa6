"""A private talk with the navigator on duty over HTTP (the socket frames' twins):
``GET /api/talks`` (one's own waiting request and, for staff, the queue), ``POST /api/talks
{room}``, ``DELETE /api/talks/{id}``, ``POST /api/talks/{id}/accept``. Refusals are answered by
the app's one error map (api/common.api_error)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import ApiError, caller, parse_body, service
from chat_server.callers import MemberContexts
from chat_server.private_talk.service import PrivateTalks
from rooms.ids import is_talk_id
from rooms.roles import Role


class TalkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room: str = Field(min_length=1, max_length=64)


def _talks(request: Request) -> PrivateTalks:
    return service(request, "talks", PrivateTalks)


def _id(request: Request) -> str:
    talk_id = request.path_params["id"]
    if not is_talk_id(talk_id):
        raise ApiError(400, "invalid_request", "id: not a request's id (t and 16 hex digits)")
    return str(talk_id)


def _fields(frame: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in frame.items() if k != "type"}


async def overview(request: Request) -> Response:
    member, _ = await caller(request)
    talks = _talks(request)
    mine = await talks.mine(member)
    queue: dict[str, Any] = {"requests": [], "count": 0}
    if member.role.rank >= Role.NAVIGATOR.rank:
        assigned = await service(request, "contexts", MemberContexts).assigned(member)
        queue = await talks.queue(member, assigned)
    return JSONResponse({"mine": None if mine is None else _fields(mine), "queue": queue["requests"],
                         "count": queue["count"], "wait_s": talks.wait_s})


async def ask(request: Request) -> Response:
    body = await parse_body(request, TalkIn)
    member, _ = await caller(request)
    assigned = await service(request, "contexts", MemberContexts).assigned(member)
    frame = await _talks(request).request(member, body.room, assigned)
    return JSONResponse(_fields(frame), status_code=201)


async def cancel(request: Request) -> Response:
    member, _ = await caller(request)
    return JSONResponse(_fields(await _talks(request).cancel(member, _id(request))))


async def accept(request: Request) -> Response:
    member, _ = await caller(request)
    return JSONResponse(_fields(await _talks(request).accept(member, _id(request))))
