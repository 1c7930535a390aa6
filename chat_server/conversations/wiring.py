"""Putting the conversations' parts together for one gateway process (called by Runtime.open)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.broker.base import Broker
from chat_server.conversations.gates import Gates
from chat_server.conversations.service import Conversations
from chat_server.gateway.hub import Hub
from chat_server.protocol.control import ConversationChanged
from chat_server.social.wiring import SocialWiring


@dataclass
class ConversationsWiring:
    service: Conversations
    gates: Gates

    async def close(self) -> None:
        await self.service.close()


def open_conversations(
    db: async_sessionmaker[AsyncSession], broker: Broker, hub: Hub, social: SocialWiring,
) -> ConversationsWiring:
    async def head(room: str) -> int:
        return (await broker.heads([room]))[room]

    gates = Gates(db, head)
    hub.control_handlers[ConversationChanged] = gates.on_control
    service = Conversations(db, broker, social.delivery, social.notifier, gates, requests=social.dm_requests)
    return ConversationsWiring(service, gates)
