"""``POST /api/rooms/{slug}/reactions {message, reaction, on}``: the same toggle as the
``react`` frame (chat_server/social/reactions.py), for a room the member can see and is not
kept out of; the answer is the message's reactions after it. ``GET /api/reactions``: the set."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import caller, parse_body, service
from chat_server.history import RoomHistory
from chat_server.social.reactions import Reactions
from rooms.reactions import catalog


class ReactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, max_length=32)
    reaction: str = Field(min_length=1, max_length=32)
    on: bool


async def react(request: Request) -> Response:
    body = await parse_body(request, ReactIn)
    member, _ = await caller(request)
    slug = request.path_params["slug"]
    await service(request, "history", RoomHistory).visible(member, slug)
    # A refusal (unknown reaction, no such message, banned...) is answered by the app's one
    # error map (api/common.api_error).
    frame = await service(request, "reactions", Reactions).react(member, slug, body.message, body.reaction, body.on)
    frame.pop("type")
    return JSONResponse(frame)


async def reaction_set(request: Request) -> Response:
    await caller(request)
    return JSONResponse({"reactions": [{"name": r.name, "label": r.label, "symbol": r.symbol}
                                       for r in catalog()]})
