"""Friends over HTTP (docs/social.md): ``GET /api/friends`` (friends, requests in and out),
``PUT /api/friends/{user}`` asks or accepts, ``DELETE /api/friends/{user}`` declines, cancels
or unfriends. ``{user}`` is the member's public id (the one presence and messages carry).
Refusals (``yourself``, ``not_accepted``, ``you_blocked``, ``rate_limited``,
``no_such_member``) are answered by the app's one error map (api/common.api_error)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import caller, service
from chat_server.social.friends import Friends


def _friends(request: Request) -> Friends:
    return service(request, "friends", Friends)


async def list_friends(request: Request) -> Response:
    """``{friends: [{id, handle, role, since}], incoming: [{..., at}], outgoing: [{..., at}]}``."""
    member, _ = await caller(request)
    return JSONResponse(await _friends(request).listing(member))


async def set_friend(request: Request) -> Response:
    """``PUT``: ask, or accept their request; ``DELETE``: decline, cancel or unfriend. The
    answer is ``{user, friend}``, the state after it: none, requested, asked_me or friends."""
    member, _ = await caller(request)
    target = request.path_params["user"]
    friends = _friends(request)
    if request.method == "PUT":
        return JSONResponse(await friends.put(member, target))
    return JSONResponse(await friends.delete(member, target))
