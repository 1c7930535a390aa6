"""The application uvicorn serves: a WebSocket to the app's socket route goes straight to its
endpoint, everything else through Starlette as before.

Through Starlette a WebSocket passes its application object, the error middleware, our
security-headers middleware, the exception middleware, the router (compared with the routes
in order) and the route's session wrapper with its own exception wrapper: about ten coroutines
and their closures, each kept alive for as long as the socket is open. None of them does
anything for a WebSocket at ``/ws``: the error and security-headers middleware pass any scope
but HTTP straight on; the exception handlers the app registers (``ApiError``, ``RoomError``,
Starlette's ``HTTPException``) answer with an HTTP response, which a WebSocket's ASGI ``send``
refuses, so an exception the endpoint lets out reaches uvicorn either way (logged, the socket
closed with 1011); the route has no path parameters. Skipping them was a sixth of the server's
CPU per connection (``python -m bench.ws_accept``), and the objects the collector scanned
for every open socket (bench/notes.md, issue 18).

Only a WebSocket whose path is exactly the route's, with no ``root_path``, takes the lane;
the endpoint sees the same scope (``app`` set as Starlette sets it, ``state`` from the
lifespan as uvicorn gives it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute, websocket_session
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket


async def _nothing(ws: WebSocket) -> None:
    return None


# The code of the ASGI app ``websocket_session`` makes of a function endpoint.
_SESSION_CODE = websocket_session(_nothing).__code__


class WebSocketLane:
    def __init__(self, app: Starlette) -> None:
        self.app = app
        self._path: str | None = None
        self._endpoint: Callable[[WebSocket], Awaitable[None]] | None = None
        first = app.routes[0] if app.routes else None
        # The first route only (the router tries them in order: a request for another route
        # never matches a WebSocket route, nor a WebSocket an HTTP one), and only a function
        # endpoint that Starlette wraps in nothing but its session (no route middleware, no
        # path parameters): then calling it is all the route would do.
        if (isinstance(first, WebSocketRoute) and not first.param_convertors
                and getattr(first.app, "__code__", None) is _SESSION_CODE):
            self._path, self._endpoint = first.path, first.endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self._endpoint
        if (endpoint is not None and scope["type"] == "websocket" and scope["path"] == self._path
                and not scope.get("root_path")):
            scope["app"] = self.app
            await endpoint(WebSocket(scope, receive, send))
            return
        await self.app(scope, receive, send)
