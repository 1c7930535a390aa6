"""Ending sign-in sessions everywhere: their sockets close on every gateway, this one included."""

from __future__ import annotations

from collections.abc import Callable

from chat_server.broker.base import Broker
from chat_server.protocol import control
from chat_server.protocol.control import CloseSession
from rooms.errors import Unavailable


class SessionEnder:
    """Tells every gateway (over the broker's control channel) to close a session's sockets.

    ``close_here`` closes them on this gateway (the hub's ``close_session``): used when the
    broker cannot be reached, the other gateways then close them at their next session check
    (about a minute), as the session's row is already gone.
    """

    def __init__(self, broker: Broker, close_here: Callable[[str], None]) -> None:
        self._broker = broker
        self._close_here = close_here

    async def end(self, digest: str) -> bool:
        """Whether every gateway was told; False if only this one closed the sockets."""
        try:
            await self._broker.publish_control(control.encode(CloseSession(digest)))
        except Unavailable:
            self._close_here(digest)
            return False
        return True
