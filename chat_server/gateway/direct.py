"""uvicorn's sans-I/O WebSocket protocol with a synchronous write path for the fan-out.

Through ASGI every frame is a ``send`` coroutine: the connection's writer task must be woken,
then the frame goes through Starlette and uvicorn and is framed by ``websockets`` for each
socket. Profiles of a 1,000-member room showed that machinery, not the socket writes, was
most of the fan-out's cost. A server frame is not masked, so its complete wire bytes are the
same for every recipient: ``wire.Outgoing`` frames a message once, and ``write_now`` hands
those bytes to the transport right away, without awaiting, when the socket can take them.
When it cannot (the transport's buffer is above its high-water mark, the connection is
closing) it refuses and the caller queues the frame for the writer task as before, so the
bounded outbox and the slow-consumer policy are unchanged.

The ASGI application finds its socket's protocol in the connection scope, under the
``kindred.direct_write`` extension (``writer_for``), the ASGI way for a server to offer more
than the spec; under any other server or implementation it is absent and nothing changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

EXTENSION = "kindred.direct_write"

# What this module relies on in uvicorn's protocol, none of it public API: the methods it
# overrides and the instance attributes it reads or writes. tests/test_direct_write.py checks
# them against the installed uvicorn, whose version pyproject.toml bounds.
UVICORN_METHODS = ("handle_connect", "connection_lost", "send")
UVICORN_ATTRIBUTES = (
    "scope", "response", "handshake_complete", "close_sent", "disconnected", "initial_response",
    "writable", "conn", "transport",
)


def writer_for(scope: Mapping[str, Any]) -> DirectWebSocketProtocol | None:
    """The socket's protocol if it offers synchronous writes, else None."""
    writer = (scope.get("extensions") or {}).get(EXTENSION)
    return writer if isinstance(writer, DirectWebSocketProtocol) else None


class DirectWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        # The scope was built and the application's task created, but not yet run.
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope.setdefault("extensions", {})[EXTENSION] = self

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        # The scope and the protocol refer to each other: break the cycle, so a closed
        # socket's state is freed at once rather than by the cyclic collector.
        scope = getattr(self, "scope", None)
        if scope is not None:
            (scope.get("extensions") or {}).pop(EXTENSION, None)

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The handshake reply (headers and all) is kept by uvicorn for no later use; one
            # per socket adds up over ten thousand idle members.
            self.response = None  # type: ignore[assignment]

    def write_now(self, framed: bytes) -> bool:
        """Write a complete frame now if the socket is open and not backed up; else False."""
        if (
            self.handshake_complete
            and not self.close_sent
            and not self.disconnected
            and self.initial_response is None
            and self.writable.is_set()
            and self.conn.state is State.OPEN
            and not self.conn.extensions  # no permessage-deflate: frames go out as they are
            and not self.transport.is_closing()
        ):
            self.transport.write(framed)
            return True
        return False
