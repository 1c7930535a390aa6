"""The community directory: national rooms for everyone, local rooms for their organization."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import ApiError, caller, runtime
from persistence import communities
from rooms.access import can_see
from rooms.catalog import is_slug
from rooms.model import Community


def _view(c: Community) -> dict[str, Any]:
    out: dict[str, Any] = {
        "slug": c.slug, "name": c.name, "kind": c.kind, "scope": c.scope,
        "description": c.description,
    }
    if c.org_id is not None:
        out["organization"] = c.org_name
    return out


async def list_communities(request: Request) -> Response:
    member, _ = await caller(request)
    async with runtime(request).db() as db:
        found = await communities.visible_to(db, member)
    # A scheduled session's live room is a room too, but it is reached from its session.
    return JSONResponse({"communities": [_view(c) for c in found if c.kind != "event"]})


async def get_community(request: Request) -> Response:
    member, _ = await caller(request)
    slug = request.path_params["slug"]
    if not is_slug(slug):
        raise ApiError(404, "not_found", "no such community")
    async with runtime(request).db() as db:
        found = await communities.by_slug(db, slug)
    # Another organization's room is "not found", not "forbidden": its existence is private.
    if found is None or not can_see(member, found):
        raise ApiError(404, "not_found", "no such community")
    return JSONResponse(_view(found))
