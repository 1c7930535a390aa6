"""Following and the feed over HTTP (docs/social.md): ``GET /api/following`` (whom I follow,
who follows me), ``PUT`` / ``DELETE /api/following/{user}``, and ``GET /api/feed``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import caller, service
from chat_server.api.history import int_param
from chat_server.social.feed import Feed
from chat_server.social.following import Following
from rooms.feed import MAX_PAGE


def _following(request: Request) -> Following:
    return service(request, "following", Following)


async def list_following(request: Request) -> Response:
    member, _ = await caller(request)
    return JSONResponse(await _following(request).listing(member))


async def set_following(request: Request) -> Response:
    """``PUT`` follows, ``DELETE`` stops following; ``{user, following}``."""
    member, _ = await caller(request)
    target = request.path_params["user"]
    following = _following(request)
    if request.method == "PUT":
        return JSONResponse(await following.follow(member, target))
    return JSONResponse(await following.unfollow(member, target))


async def feed(request: Request) -> Response:
    """``GET /api/feed?before=CURSOR&limit=N``: ``{entries, next}``, newest first; only what
    the viewer could read in rooms they can see and join."""
    member, _ = await caller(request)
    before = request.query_params.get("before") or None
    limit = int_param(request, "limit", None, 1, MAX_PAGE)
    return JSONResponse(await service(request, "feed", Feed).page(member, before, limit))
