"""``GET /api/notifications``: what a member was told (a lobby opened, a session was
cancelled, a place freed up), newest first."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import caller, runtime
from chat_server.api.history import int_param
from persistence import notifications


async def list_notifications(request: Request) -> Response:
    member, _ = await caller(request)
    before = int_param(request, "before", None, 1, 2**62)
    limit = int_param(request, "limit", 50, 1, 200) or 50
    async with runtime(request).db() as db:
        found = await notifications.page(db, member.db_id, before, limit)
    next_before = found[-1]["id"] if len(found) == limit else None
    return JSONResponse({"notifications": found, "next_before": next_before})
