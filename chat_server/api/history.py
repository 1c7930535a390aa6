"""Transcripts: a room's messages page by page, a thread, and full-text search.

Who may read what is chat_server/history.py's (RoomHistory): members see only rooms open to
them; another organization's room is "not found", and so is a private conversation to anyone
but its participants. Removed messages come back as tombstones: ``body`` null and ``removed``
true.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import ApiError, caller, service
from chat_server.history import RoomHistory

MAX_PAGE = 200
DEFAULT_PAGE = 50


def int_param(request: Request, name: str, default: int | None, low: int, high: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_request", f"{name} must be a whole number") from None
    if value < low:
        raise ApiError(400, "invalid_request", f"{name} must be at least {low}")
    return min(value, high) if high is not None else value


def _history(request: Request) -> RoomHistory:
    return service(request, "history", RoomHistory)


async def room_messages(request: Request) -> Response:
    """``GET /api/rooms/{slug}/messages?before=SEQ&limit=N``: newest first. Pass the returned
    ``next_before`` as ``before`` for the next (older) page; seq cursors never skip or repeat
    a message, however many arrive meanwhile."""
    member, _ = await caller(request)
    slug = request.path_params["slug"]
    history = _history(request)
    await history.visible(member, slug)  # before the parameters, as it always was
    before = int_param(request, "before", None, 1, 2**62)
    limit = int_param(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE) or DEFAULT_PAGE
    views, next_before = await history.page(member, slug, before, limit)
    return JSONResponse({"messages": views, "next_before": next_before})


async def thread(request: Request) -> Response:
    """``GET /api/messages/{id}/thread``: the thread's root and its replies, in order. Any
    message of the thread may be named."""
    member, _ = await caller(request)
    root, messages = await _history(request).thread(member, request.path_params["id"])
    return JSONResponse({"root": root, "messages": messages})


async def search(request: Request) -> Response:
    """``GET /api/search?q=...&room=SLUG&limit=N&offset=K``: best matches first, over the
    rooms open to the member (or one of them)."""
    member, _ = await caller(request)
    q = request.query_params.get("q", "").strip()
    if not q or len(q) > 200 or not q.isprintable():
        raise ApiError(400, "invalid_request", "q must have 1 to 200 printable characters")
    limit = int_param(request, "limit", 20, 1, 100) or 20
    offset = int_param(request, "offset", 0, 0, 10_000) or 0
    room = request.query_params.get("room")
    results, more = await _history(request).search(member, q, room, limit, offset)
    return JSONResponse({
        "results": results,
        "next_offset": offset + limit if more else None,
    })
