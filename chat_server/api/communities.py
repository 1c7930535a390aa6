"""The community directory: national rooms for everyone, local rooms for their organization
(chat_server/directory.py)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import caller, service
from chat_server.directory import Directory
from rooms.model import Community


def _view(c: Community) -> dict[str, Any]:
    out: dict[str, Any] = {
        "slug": c.slug, "name": c.name, "kind": c.kind, "scope": c.scope,
        "description": c.description,
    }
    if c.org_id is not None:
        out["organization"] = c.org_name
    return out


def _directory(request: Request) -> Directory:
    return service(request, "directory", Directory)


async def list_communities(request: Request) -> Response:
    member, _ = await caller(request)
    found = await _directory(request).listing(member)
    return JSONResponse({"communities": [_view(c) for c in found]})


async def get_community(request: Request) -> Response:
    member, _ = await caller(request)
    # Another organization's room is "not found", not "forbidden": its existence is private.
    found = await _directory(request).get(member, request.path_params["slug"])
    return JSONResponse(_view(found))
