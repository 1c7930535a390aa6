"""Profiles and one's choices about others (docs/social.md): ``GET /api/people/{user}``,
``GET`` / ``PUT /api/people/settings`` (friend requests, being followed)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import caller, parse_body, service
from chat_server.conversations.service import Conversations
from chat_server.social.following import Following
from chat_server.social.people import People


class PeopleSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    friend_requests: bool | None = None
    followable: bool | None = None


def _following(request: Request) -> Following:
    return service(request, "following", Following)


async def profile(request: Request) -> Response:
    """A member as the caller sees them: ``{user, self, friend, can_befriend, following,
    can_follow, follows_you, you_blocked, rooms_in_common: [{slug, name}], can_message}``
    (``can_message``: a private message from the caller would reach them, docs/social.md)."""
    member, _ = await caller(request)
    view = await service(request, "people", People).profile(member, request.path_params["user"])
    conversations = service(request, "conversations", Conversations)
    view["can_message"] = bool(not view.get("self")
                               and await conversations.can_message(member, view["user"]["id"]))
    return JSONResponse(view)


async def get_settings(request: Request) -> Response:
    member, _ = await caller(request)
    return JSONResponse(await _following(request).settings(member))


async def put_settings(request: Request) -> Response:
    """``{friend_requests?, followable?}``; turning ``followable`` off removes one's followers."""
    body = await parse_body(request, PeopleSettingsIn)
    member, _ = await caller(request)
    return JSONResponse(await _following(request).change_settings(
        member, body.friend_requests, body.followable))
