"""Reactions' socket frame carried out for one connection (called by the gateway's dispatch):
``react`` -> ``reacted`` (the ``reactions`` frame of the message, to the sender, with ``cid``)."""

from __future__ import annotations

from chat_server.gateway.connection import Connection
from chat_server.protocol.base import encode_for
from chat_server.protocol.social import Reacted
from chat_server.social.frames import React
from chat_server.social.reactions import Reactions
from rooms.errors import NotJoined


async def handle(frame: React, conn: Connection, reactions: Reactions) -> None:
    if frame.room not in conn.rooms:
        raise NotJoined("join the room before reacting in it")
    now = await reactions.react(conn.member, frame.room, frame.message, frame.reaction, frame.on)
    answer = Reacted(now["room"], now["message"], now["reactions"], now["version"], frame.cid)
    conn.push(encode_for(conn.protocol, answer))
