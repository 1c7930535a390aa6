"""The moderation and safety API: actions for admin screens, restrictions in force, the
safety queue, the audit log, reports and blocks (chat_server/moderation/desk.py decides who may
see what). Refusals are answered by the app's one error map (api/common.api_error)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import ApiError, caller, parse_body, service
from chat_server.api.history import int_param
from chat_server.moderation.desk import StaffDesk
from chat_server.moderation.safety import SafetyDesk
from chat_server.moderation.service import Moderation
from rooms import ids
from rooms.commands import MAX_REASON, Command


class ModerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str = Field(max_length=16)
    user: str | None = Field(default=None, max_length=17)
    message: str | None = Field(default=None, max_length=32)
    duration_s: int | None = None
    reason: str | None = Field(default=None, max_length=MAX_REASON)
    platform: bool = False


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=MAX_REASON)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=MAX_REASON)


def _desk(request: Request) -> StaffDesk:
    return service(request, "staff_desk", StaffDesk)


async def act(request: Request) -> Response:
    """``POST /api/rooms/{slug}/moderation``: the ``moderate`` frame over HTTP."""
    member, _ = await caller(request)
    body = await parse_body(request, ModerateIn)
    command = Command.parse(body.model_dump())
    moderation = service(request, "moderation", Moderation)
    return JSONResponse(await moderation.act(member, request.path_params["slug"], command))


async def room_overview(request: Request) -> Response:
    """``GET /api/rooms/{slug}/moderation``: the room's state and restrictions in force."""
    member, _ = await caller(request)
    return JSONResponse(await _desk(request).overview(member, request.path_params["slug"]))


async def queue(request: Request) -> Response:
    """``GET /api/moderation/queue``: crisis matches and reports in the caller's rooms, and
    the private ones of their organization (each showing audited)."""
    member, _ = await caller(request)
    desk = _desk(request)
    assigned = await desk.staff_context(member)
    status = request.query_params.get("status", "open")
    if status not in ("open", "resolved", "all"):
        raise ApiError(400, "invalid_request", "status must be open, resolved or all")
    limit = int_param(request, "limit", 50, 1, 200) or 50
    items = await desk.queue(member, assigned, None if status == "all" else status, limit,
                             request.query_params.get("room"))
    return JSONResponse({"items": items})


async def resolve(request: Request) -> Response:
    """``POST /api/moderation/queue/{id}/resolve``."""
    member, _ = await caller(request)
    desk = _desk(request)
    assigned = await desk.staff_context(member)
    body = await parse_body(request, ResolveIn)
    raw_id = request.path_params["id"]
    if not raw_id.isdigit() or len(raw_id) > 12:
        raise ApiError(404, "not_found", "no such item")
    return JSONResponse(await desk.resolve(member, assigned, int(raw_id), body.note))


async def audit_log(request: Request) -> Response:
    """``GET /api/moderation/audit``: newest first, for the rooms the caller moderates."""
    member, _ = await caller(request)
    desk = _desk(request)
    assigned = await desk.staff_context(member)
    limit = int_param(request, "limit", 50, 1, 200) or 50
    before = int_param(request, "before", None, 1, 2**62)
    entries = await desk.audit_log(member, assigned, before, limit, request.query_params.get("room"))
    next_before = entries[-1]["id"] if len(entries) == limit else None
    return JSONResponse({"entries": entries, "next_before": next_before})


async def report(request: Request) -> Response:
    """``POST /api/messages/{id}/report``: any member, about a message they can see."""
    member, _ = await caller(request)
    body = await parse_body(request, ReportIn)
    message_id = request.path_params["id"]
    if not ids.is_message_id(message_id):
        raise ApiError(404, "no_such_message", "no such message")
    safety = service(request, "safety", SafetyDesk)
    item, created = await safety.report(member, message_id, body.reason.strip())
    return JSONResponse({"item": item}, status_code=201 if created else 200)


async def blocks(request: Request) -> Response:
    """``GET /api/blocks``."""
    member, _ = await caller(request)
    return JSONResponse({"blocked": await _desk(request).blocks(member)})


async def set_block(request: Request) -> Response:
    """``PUT`` / ``DELETE /api/blocks/{user}``."""
    member, _ = await caller(request)
    target = request.path_params["user"]
    if not ids.is_user_id(target):
        raise ApiError(404, "no_such_member", "no such member")
    await _desk(request).set_block(member, target, request.method == "PUT")
    return Response(status_code=204)
