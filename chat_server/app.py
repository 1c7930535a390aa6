"""The one place where the parts are put together: ``create_app(settings)``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chat_server.aio import stop_task
from chat_server.api import calendar, health, openapi
from chat_server.api.common import ApiError, api_error, error_response
from chat_server.api.routes import API
from chat_server.config import Settings
from chat_server.gateway.endpoint import websocket_endpoint
from chat_server.looplag import LoopLagProbe
from chat_server.resources import open_resources
from chat_server.runtime import Runtime
from rooms.errors import RoomError

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
    if isinstance(exc, RoomError):  # a refusal of the domain that a handler let through
        exc = api_error(exc)
    assert isinstance(exc, ApiError)
    return error_response(exc)


def api_routes() -> list[Route]:
    """The API's routes from its one table (api/routes.py), a path's methods together."""
    by_path: dict[str, dict[str, Any]] = {}
    for endpoint in API:
        by_path.setdefault(endpoint.path, {})[endpoint.method] = endpoint.handler
    routes = []
    for path, handlers in by_path.items():
        if len(set(handlers.values())) == 1:
            routes.append(Route(path, next(iter(handlers.values())), methods=list(handlers)))
        else:  # one route per method, as Starlette dispatches on the first match
            routes.extend(Route(path, h, methods=[m]) for m, h in handlers.items())
    return routes


async def _loop_lag(request: Request) -> Response:
    """Benchmarks only (mounted with KINDRED_LOOP_LAG_PROBE_MS): the loop-lag probe's figures."""
    probe: LoopLagProbe = request.state.loop_lag
    return JSONResponse(probe.summary(reset=request.query_params.get("reset") == "1"))


def handler_services(runtime: Runtime) -> dict[str, Any]:
    """The services the HTTP handlers use, each under its own name (request.state, read with
    api/common.service): handlers never see the runtime (tests/test_architecture.py)."""
    rt = runtime
    assert rt.sessions is not None and rt.questions is not None and rt.social is not None
    assert rt.conversations is not None and rt.talks is not None, "all wired in Runtime.open"
    return {
        "accounts": rt.accounts, "directory": rt.directory, "readiness": rt.readiness,
        "callers": rt.callers, "contexts": rt.contexts, "history": rt.history, "inbox": rt.inbox,
        "staff_desk": rt.staff_desk, "moderation": rt.moderation, "safety": rt.safety,
        "calendars": rt.sessions.calendars, "events": rt.sessions.events,
        "questions": rt.questions.questions, "topics": rt.questions.topics,
        "friends": rt.social.friends, "following": rt.social.following, "feed": rt.social.feed,
        "people": rt.social.people, "reactions": rt.social.reactions,
        "conversations": rt.conversations.service, "talks": rt.talks.talks,
    }


def create_app(settings: Settings) -> Starlette:
    probe = LoopLagProbe(settings.loop_lag_probe_ms / 1000) if settings.loop_lag_probe_ms > 0 else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with open_resources(settings) as resources:
            runtime = await Runtime.open(resources)
            app.state.runtime = runtime  # for the CLI's graceful-shutdown hook
            # The runtime stays in the state for the socket endpoint only.
            state = {"runtime": runtime, **handler_services(runtime), "loop_lag": probe}
            probing = asyncio.create_task(probe.run(), name="loop-lag-probe") if probe else None
            try:
                yield state
            finally:
                await stop_task(probing)
                await runtime.close()

    routes: list[Route | WebSocketRoute | Mount] = [
        # First: the server's WebSocket lane (gateway/lane.py, serve.uvicorn_config) takes
        # the first route's sockets straight to the endpoint, past Starlette's middleware and
        # router; and a router would compare each with the API's ~100 routes before finding it
        # (an HTTP route never matches a WebSocket, nor this one a request: order is free).
        WebSocketRoute("/ws", websocket_endpoint),
        Route("/healthz", health.healthz),
        Route("/readyz", health.readyz),
        Route("/api/openapi.json", openapi.openapi),
        *api_routes(),
        # A member's secret calendar feed, for calendar apps: outside the API, no session.
        Route("/calendar/{secret}.ics", calendar.feed),
    ]
    if probe is not None:
        routes.append(Route("/debug/loop-lag", _loop_lag))
    if settings.web_root.is_dir():
        routes.append(Mount("/", StaticFiles(directory=settings.web_root, html=True), name="web"))
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(SecurityHeaders, headers=security_headers(settings))],
        exception_handlers={ApiError: _api_error, RoomError: _api_error},
    )
