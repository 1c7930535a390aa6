"""``POST /api/rooms/{slug}/reactions {message, reaction, on}``: the same toggle as the
``react`` frame (chat_server/social/reactions.py), for a room the member can see and is not
kept out of; the answer is the message's reactions after it. ``GET /api/reactions``: the set."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import ApiError, caller, parse_body, runtime
from chat_server.api.history import _visible_room
from rooms.errors import BadFrame, NoSuchMessage, RoomError, Unavailable, UnknownReaction
from rooms.reactions import catalog

_STATUS = {UnknownReaction: 400, BadFrame: 400, NoSuchMessage: 404, Unavailable: 503}


class ReactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, max_length=32)
    reaction: str = Field(min_length=1, max_length=32)
    on: bool


async def react(request: Request) -> Response:
    body = await parse_body(request, ReactIn)
    member, _ = await caller(request)
    slug = request.path_params["slug"]
    await _visible_room(request, member, slug)
    rt = runtime(request)
    assert rt.social is not None, "social is wired in Runtime.open"
    try:
        frame = await rt.social.reactions.react(member, slug, body.message, body.reaction, body.on)
    except RoomError as exc:
        raise ApiError(_STATUS.get(type(exc), 400), exc.code, exc.detail) from None
    frame.pop("type")
    return JSONResponse(frame)


async def reaction_set(request: Request) -> Response:
    await caller(request)
    return JSONResponse({"reactions": [{"name": r.name, "label": r.label, "symbol": r.symbol}
                                       for r in catalog()]})
