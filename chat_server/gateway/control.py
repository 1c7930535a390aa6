"""The control channel as this gateway hears it: messages from any gateway, by ``op``.

A session closed (``close_session``) and moderation events (``mod``) are the hub's own; other
features register theirs in ``handlers`` when they are wired (scheduled sessions'
``event_state``, questions' fan-out). One bad message never takes the listener down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgpack

from chat_server.gateway.moderating import ModerationApplier
from chat_server.moderation import events

log = logging.getLogger(__name__)


class ControlChannel:
    def __init__(self, close_session: Callable[[str], None], moderating: ModerationApplier) -> None:
        self._close_session = close_session
        self._moderating = moderating
        self.handlers: dict[str, Callable[[dict[str, Any]], None]] = {}

    def on_message(self, payload: bytes) -> None:
        try:
            message = msgpack.unpackb(payload, raw=False)
        except (ValueError, msgpack.UnpackException):
            return
        if not isinstance(message, dict):
            return
        try:
            if message.get("op") == "close_session":
                self._close_session(str(message.get("session", "")))
            elif message.get("op") == "mod":
                event = events.parse(message)
                if event is not None:
                    self._moderating.apply(event)
            elif (handler := self.handlers.get(str(message.get("op")))) is not None:
                handler(message)
        except Exception:
            # Never let one bad event take the pub/sub listener down with it.
            log.exception("control message %r failed", message.get("op"))
