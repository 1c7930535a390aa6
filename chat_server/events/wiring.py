"""Putting the sessions' parts together for one gateway process (called by Runtime.open)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.broker.base import Broker
from chat_server.config import Settings
from chat_server.events.calendars import Calendars
from chat_server.events.gates import Gates
from chat_server.events.lifecycle import Lifecycle
from chat_server.events.service import Events
from chat_server.gateway.hub import Hub
from chat_server.protocol.control import SessionChanged


@dataclass
class Sessions:
    events: Events
    gates: Gates
    lifecycle: Lifecycle
    calendars: Calendars

    async def close(self) -> None:
        await self.lifecycle.stop()


def open_sessions(
    settings: Settings, db: async_sessionmaker[AsyncSession], broker: Broker, hub: Hub,
) -> Sessions:
    async def broker_head(room: str) -> int:
        return (await broker.heads([room]))[room]

    lifecycle = Lifecycle(
        db, broker, settings.event_grace_s, settings.event_archive_after_s, settings.event_tick_s,
        broker_head,
    )
    gates = Gates(db, hub.connections, hub.to_room)

    def on_control(event: SessionChanged) -> None:
        gates.on_control(event)
        lifecycle.wake(event.session)  # its times or state changed: when is the next change due?

    hub.control_handlers[SessionChanged] = on_control
    hub.control.on_resubscribed.append(lifecycle.wake_all)  # a SessionChanged may have been missed
    lifecycle.start()
    return Sessions(Events(db, lifecycle, settings.video_embed_hosts), gates, lifecycle, Calendars(db))
