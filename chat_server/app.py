"""The one place where the parts are put together: ``create_app(settings)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chat_server.api import accounts, communities, health, history, moderation, passwords
from chat_server.api.common import ApiError, error_response
from chat_server.api.questions import question_routes
from chat_server.api.session_routes import session_routes
from chat_server.config import Settings
from chat_server.gateway.endpoint import websocket_endpoint
from chat_server.runtime import Runtime

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'; frame-src {frames}"
)


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """The headers of every HTTP response. Frames (a webinar's embedded video) may come only
    from the hosts the operator listed in KINDRED_VIDEO_EMBED_HOSTS, over https; none otherwise."""
    frames = " ".join(f"https://{h}" for h in settings.video_embed_hosts) or "'none'"
    return [(b"content-security-policy", _CSP.format(frames=frames).encode()), *_SECURITY_HEADERS]


_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]


class SecurityHeaders:
    """Adds the security headers to every HTTP response (pure ASGI: streams untouched)."""

    def __init__(self, app: ASGIApp, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.app = app
        self.headers = _SECURITY_HEADERS if headers is None else headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *self.headers]
                if scope["path"].startswith("/api/"):
                    message["headers"].append((b"cache-control", b"no-store"))
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        runtime = await Runtime.open(settings)
        app.state.runtime = runtime  # for the CLI's graceful-shutdown hook
        try:
            yield {"runtime": runtime}
        finally:
            await runtime.close()

    routes: list[Route | WebSocketRoute | Mount] = [
        Route("/healthz", health.healthz),
        Route("/readyz", health.readyz),
        Route("/api/register", accounts.register, methods=["POST"]),
        Route("/api/session", accounts.open_session, methods=["POST"]),
        Route("/api/session", accounts.close_session, methods=["DELETE"]),
        Route("/api/me", accounts.me),
        Route("/api/password", passwords.change, methods=["POST"]),
        Route("/api/password/reset", passwords.reset, methods=["POST"]),
        Route("/api/users/{id}/reset-code", passwords.issue_code, methods=["POST"]),
        Route("/api/communities", communities.list_communities),
        Route("/api/communities/{slug}", communities.get_community),
        Route("/api/rooms/{slug}/messages", history.room_messages),
        Route("/api/messages/{id}/thread", history.thread),
        Route("/api/search", history.search),
        Route("/api/rooms/{slug}/moderation", moderation.act, methods=["POST"]),
        Route("/api/rooms/{slug}/moderation", moderation.room_overview),
        Route("/api/moderation/queue", moderation.queue),
        Route("/api/moderation/queue/{id}/resolve", moderation.resolve, methods=["POST"]),
        Route("/api/moderation/audit", moderation.audit_log),
        Route("/api/messages/{id}/report", moderation.report, methods=["POST"]),
        Route("/api/blocks", moderation.blocks),
        Route("/api/blocks/{user}", moderation.set_block, methods=["PUT", "DELETE"]),
        *session_routes(),
        *question_routes(),
        WebSocketRoute("/ws", websocket_endpoint),
    ]
    if settings.web_root.is_dir():
        routes.append(Mount("/", StaticFiles(directory=settings.web_root, html=True), name="web"))
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(SecurityHeaders, headers=security_headers(settings))],
        exception_handlers={ApiError: _api_error},
    )
