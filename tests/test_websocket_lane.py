"""A WebSocket to the socket route goes from uvicorn straight to its endpoint
(chat_server/gateway/lane.py), with the scope it had through Starlette; everything else still
goes through Starlette. Against a real uvicorn with the gateway's own configuration
(``serve.uvicorn_config``) and real clients."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import types
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import websockets
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from chat_server import serve
from chat_server.app import SecurityHeaders
from chat_server.config import Settings
from chat_server.gateway.lane import WebSocketLane
from support.uvicorn_app import serving_config

STARLETTE_LAYERS = ("ServerErrorMiddleware", "SecurityHeaders", "ExceptionMiddleware", "Router", "WebSocketRoute")


def _chain() -> list[str]:
    """The qualified names of the functions the caller runs under, outermost first, from
    the task's first coroutine (uvicorn's ``run_asgi``) on."""
    names: list[str] = []
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None:
        names.append(frame.f_code.co_qualname)
        if frame.f_code.co_qualname.endswith("run_asgi"):
            break
        frame = frame.f_back
    return names[::-1]


def _app(seen: dict[str, Any]) -> Starlette:
    async def socket(ws: WebSocket) -> None:
        seen["socket"] = {"chain": _chain(), "app": ws.scope.get("app"), "state": ws.state.marker}
        await ws.accept()
        await ws.send_text("socket")
        await ws.close()

    async def other(ws: WebSocket) -> None:
        seen["other"] = {"chain": _chain()}
        await ws.accept()
        await ws.send_text("other")
        await ws.close()

    async def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse("page")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        yield {"marker": "from the lifespan"}

    return Starlette(
        routes=[WebSocketRoute("/ws", socket), WebSocketRoute("/other", other), Route("/page", page)],
        middleware=[Middleware(SecurityHeaders)], lifespan=lifespan,
    )


@contextlib.asynccontextmanager
async def _served(app: Starlette) -> AsyncIterator[str]:
    """``app`` served with the gateway's uvicorn configuration; yields ``host:port``."""
    config = serve.uvicorn_config(Settings(host="127.0.0.1", port=0, log_level="warning"), app)
    async with serving_config(config) as url:
        yield url.removeprefix("ws://").rstrip("/")


async def _receive(url: str) -> str:
    async with websockets.connect(url, compression=None) as ws:
        got = await asyncio.wait_for(ws.recv(), 5)
        assert isinstance(got, str)
        return got


async def test_the_socket_route_skips_starlettes_layers_with_the_same_scope() -> None:
    seen: dict[str, Any] = {}
    app = _app(seen)
    async with _served(app) as host:
        assert await _receive(f"ws://{host}/ws") == "socket"
    chain = seen["socket"]["chain"]
    assert not [name for name in chain if name.split(".")[0] in STARLETTE_LAYERS], chain
    assert chain[-2:] == ["WebSocketLane.__call__", "_app.<locals>.socket"]
    assert seen["socket"]["app"] is app
    assert seen["socket"]["state"] == "from the lifespan"


async def test_other_sockets_and_requests_still_go_through_starlette() -> None:
    seen: dict[str, Any] = {}
    async with _served(_app(seen)) as host:
        assert await _receive(f"ws://{host}/other") == "other"
        with await asyncio.to_thread(urllib.request.urlopen, f"http://{host}/page", timeout=5) as r:
            assert r.read() == b"page"
            assert r.headers["x-content-type-options"] == "nosniff"  # SecurityHeaders ran
        # /ws/ is not /ws: the router answers it as before (no route: refused)
        try:
            await _receive(f"ws://{host}/ws/")
        except websockets.InvalidStatus as exc:
            assert exc.response.status_code == 403
        else:
            raise AssertionError("a socket to /ws/ was accepted")
    assert "Router.__call__" in seen["other"]["chain"]


def test_the_lane_is_only_for_a_plain_first_socket_route() -> None:
    async def endpoint(ws: WebSocket) -> None:
        return None

    class Passing:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await self.app(scope, receive, send)

    assert WebSocketLane(Starlette(routes=[WebSocketRoute("/ws", endpoint)]))._endpoint is endpoint
    for routes in (
        [Route("/page", endpoint), WebSocketRoute("/ws", endpoint)],  # not first
        [WebSocketRoute("/ws/{room}", endpoint)],  # path parameters
        [WebSocketRoute("/ws", endpoint, middleware=[Middleware(Passing)])],  # its own middleware
        [],
    ):
        assert WebSocketLane(Starlette(routes=routes))._endpoint is None, routes
