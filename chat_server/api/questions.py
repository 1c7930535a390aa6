"""Questions to experts over HTTP: asking, voting, hosts' actions, lists, and Ask the Expert.

Refusals of the domain (``RoomError``) become HTTP statuses here, in one table.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import ApiError, caller, parse_body, service
from chat_server.api.history import int_param
from chat_server.callers import MemberContexts
from chat_server.questions.service import Questions, Who
from chat_server.questions.topics import Topics
from rooms.catalog import is_slug
from rooms.questions import (
    QuestionAction,
)


class AskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(max_length=20_000)
    cid: str = Field(max_length=64)
    anonymous: bool = False
    confirm_phi: bool = False


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: QuestionAction
    answer: str | None = Field(default=None, max_length=10_000)
    reason: str | None = Field(default=None, max_length=1000)
    into: str | None = Field(default=None, max_length=32)


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    moderated: bool


class TopicIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room: str = Field(max_length=64)
    title: str = Field(max_length=1000)
    description: str = Field(default="", max_length=10_000)
    opens_at: AwareDatetime
    closes_at: AwareDatetime
    experts: list[str] = Field(max_length=50)


def questions(request: Request) -> Questions:
    return service(request, "questions", Questions)


def expert_topics(request: Request) -> Topics:
    return service(request, "topics", Topics)


async def _who(request: Request) -> Who:
    member, _ = await caller(request)
    assigned = await service(request, "contexts", MemberContexts).assigned(member)
    return Who(member, assigned)


def _venue(request: Request) -> str:
    kind = "topic" if request.url.path.startswith("/api/ask-the-expert/") else "event"
    return f"{kind}:{request.path_params['id']}"


async def ask(request: Request) -> Response:
    body = await parse_body(request, AskIn)
    who = await _who(request)
    view = await questions(request).ask(who, _venue(request), body.body, body.cid, body.anonymous, body.confirm_phi)
    return JSONResponse(view, 200 if view.get("duplicate") else 201)


async def list_questions(request: Request) -> Response:
    """``?status=pending|open|answered|dismissed&order=votes|recent&offset=&limit=``."""
    who = await _who(request)
    status = request.query_params.get("status") or None
    if status not in (None, "pending", "open", "answered", "dismissed"):
        raise ApiError(400, "invalid_request", "status: pending, open, answered or dismissed")
    order = request.query_params.get("order") or "votes"
    if order not in ("votes", "recent"):
        raise ApiError(400, "invalid_request", "order: votes or recent")
    offset = int_param(request, "offset", 0, 0, 1_000_000) or 0
    limit = int_param(request, "limit", 50, 1, 200) or 50
    return JSONResponse(await questions(request).listing(who, _venue(request), status, order, offset, limit))


async def settings(request: Request) -> Response:
    body = await parse_body(request, SettingsIn)
    who = await _who(request)
    return JSONResponse(await questions(request).set_moderated(who, _venue(request), body.moderated))


def _question_id(request: Request) -> str:
    return str(request.path_params["id"])[:64]


async def vote(request: Request) -> Response:
    """``PUT`` votes, ``DELETE`` withdraws the vote."""
    who = await _who(request)
    return JSONResponse(await questions(request).vote(who, _question_id(request), request.method == "PUT"))


async def act(request: Request) -> Response:
    body = await parse_body(request, ActionIn)
    who = await _who(request)
    return JSONResponse(await questions(request).act(
        who, _question_id(request), body.action, body.answer, body.reason, body.into,
    ))


async def reveal(request: Request) -> Response:
    who = await _who(request)
    return JSONResponse(await questions(request).reveal(who, _question_id(request)))


async def open_topic(request: Request) -> Response:
    body = await parse_body(request, TopicIn)
    who = await _who(request)
    if not is_slug(body.room):
        raise ApiError(404, "not_found", "no such community")
    view = await expert_topics(request).create(
        who.member, who.assigned, body.room, body.title, body.description, body.opens_at,
        body.closes_at, body.experts,
    )
    return JSONResponse(view, 201)


async def list_topics(request: Request) -> Response:
    """``GET /api/ask-the-expert?room=&q=``: topics per community, newest first; ``q`` searches
    titles, descriptions and the answered questions and answers."""
    who = await _who(request)
    room = request.query_params.get("room") or None
    if room is not None and not is_slug(room):
        raise ApiError(404, "not_found", "no such community")
    search = (request.query_params.get("q") or "").strip()[:200] or None
    limit = int_param(request, "limit", 50, 1, 200) or 50
    found = await expert_topics(request).listing(who.member, who.assigned, room, search, limit)
    return JSONResponse({"topics": found})


async def get_topic(request: Request) -> Response:
    who = await _who(request)
    return JSONResponse(await expert_topics(request).get(who.member, who.assigned, str(request.path_params["id"])))


async def answered_questions(request: Request, event_id: str) -> list[dict[str, Any]]:
    """A session's answered questions with their answers, for its archive."""
    return await questions(request).answered(await _who(request), f"event:{event_id}")

