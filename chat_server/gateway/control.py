"""The control channel as this gateway hears it: events from any gateway, typed
(chat_server/protocol/control.py), dispatched by their type.

A session closed (``CloseSession``) and moderation events are the hub's own; other features
register theirs in ``handlers`` by the event's type when they are wired (scheduled sessions'
``SessionChanged``, questions' ``QuestionChanged``...). One bad message never takes the
listener down.

Messages published while this gateway was not subscribed (the pub/sub connection lost and
opened again) are lost; features that read on a control message rather than on a timer
register in ``on_resubscribed`` to read again then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chat_server.gateway.moderating import ModerationApplier
from chat_server.protocol import control
from chat_server.protocol.control import CloseSession
from chat_server.protocol.moderation_events import ModerationEvent

log = logging.getLogger(__name__)


class ControlChannel:
    def __init__(self, close_session: Callable[[str], None], moderating: ModerationApplier) -> None:
        self._close_session = close_session
        self._moderating = moderating
        self.handlers: dict[type[Any], Callable[[Any], None]] = {}
        self.on_resubscribed: list[Callable[[], None]] = []

    def resubscribed(self) -> None:
        """The control channel was subscribed (again): what was published meanwhile is lost."""
        for callback in self.on_resubscribed:
            try:
                callback()
            except Exception:
                log.exception("a control channel re-subscription callback failed")

    def on_message(self, payload: bytes) -> None:
        try:
            event = control.decode(payload)
        except Exception:
            log.warning("a malformed control message was dropped")
            return
        if event is None:
            return  # a kind this release does not know (a newer gateway's)
        try:
            match event:
                case CloseSession(session):
                    self._close_session(session)
                case _ if isinstance(event, ModerationEvent):
                    self._moderating.apply(event)
                case _:
                    handler = self.handlers.get(type(event))
                    if handler is not None:
                        handler(event)
        except Exception:
            # Never let one bad event take the pub/sub listener down with it.
            log.exception("control event %s failed", type(event).__name__)
