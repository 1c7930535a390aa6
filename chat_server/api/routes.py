"""The HTTP API's routes in one table: what app.py mounts and what the OpenAPI document
(openapi.py) describes, so the two cannot drift. Each entry names the model its handler
validates the request body with (``parse_body``) and the query parameters it reads;
tests/test_openapi.py checks both against the handlers' source."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from chat_server.api import accounts, communities, history, moderation, passwords

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    kind: str  # "integer" or "string"
    about: str


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str
    method: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    query: tuple[Query, ...] = ()
    signed_in: bool = True


_PAGE = (Query("before", "integer", "the previous page's next_before"),
         Query("limit", "integer", "entries per page, at most 200"))

API: tuple[Endpoint, ...] = (
    Endpoint("/api/register", "POST", accounts.register, "Create an account with an "
             "organization's key phrase", accounts.RegisterIn, signed_in=False),
    Endpoint("/api/session", "POST", accounts.open_session, "Sign in", accounts.SessionIn,
             signed_in=False),
    Endpoint("/api/session", "DELETE", accounts.close_session, "Sign out"),
    Endpoint("/api/me", "GET", accounts.me, "The signed-in member"),
    Endpoint("/api/password", "POST", passwords.change, "Change one's password", passwords.ChangeIn),
    Endpoint("/api/password/reset", "POST", passwords.reset, "Set a new password with a reset "
             "code", passwords.ResetIn, signed_in=False),
    Endpoint("/api/users/{id}/reset-code", "POST", passwords.issue_code,
             "Issue a one-time reset code for a member (staff)"),
    Endpoint("/api/communities", "GET", communities.list_communities, "Rooms open to the member"),
    Endpoint("/api/communities/{slug}", "GET", communities.get_community, "One room"),
    Endpoint("/api/rooms/{slug}/messages", "GET", history.room_messages,
             "A page of a room's history, newest first", query=_PAGE),
    Endpoint("/api/messages/{id}/thread", "GET", history.thread, "A thread, oldest first"),
    Endpoint("/api/search", "GET", history.search, "Search the rooms open to the member", query=(
        Query("q", "string", "words to find"), Query("room", "string", "one room's slug"),
        Query("limit", "integer", "results, at most 100"),
        Query("offset", "integer", "results to skip, at most 10,000"),
    )),
    Endpoint("/api/rooms/{slug}/moderation", "POST", moderation.act, "Take a moderation action",
             moderation.ModerateIn),
    Endpoint("/api/rooms/{slug}/moderation", "GET", moderation.room_overview,
             "A room's state and restrictions in force (staff)"),
    Endpoint("/api/moderation/queue", "GET", moderation.queue, "The safety queue (staff)", query=(
        Query("room", "string", "one room's slug"),
        Query("status", "string", "open (default) or resolved"),
        Query("limit", "integer", "items, at most 200"),
    )),
    Endpoint("/api/moderation/queue/{id}/resolve", "POST", moderation.resolve,
             "Resolve a queue item (staff)", moderation.ResolveIn),
    Endpoint("/api/moderation/audit", "GET", moderation.audit_log, "The audit log (staff)",
             query=(Query("room", "string", "one room's slug"), *_PAGE)),
    Endpoint("/api/messages/{id}/report", "POST", moderation.report, "Report a message",
             moderation.ReportIn),
    Endpoint("/api/blocks", "GET", moderation.blocks, "Members one blocked"),
    Endpoint("/api/blocks/{user}", "PUT", moderation.set_block, "Block a member"),
    Endpoint("/api/blocks/{user}", "DELETE", moderation.set_block, "Unblock a member"),
)
