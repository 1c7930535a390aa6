"""Reactions' socket frame carried out for one connection (called by the gateway's dispatch):
``react`` -> ``reacted`` (the ``reactions`` frame of the message, to the sender, with ``cid``)."""

from __future__ import annotations

from chat_server import wire
from chat_server.gateway.connection import Connection
from chat_server.social.frames import React
from chat_server.social.reactions import Reactions
from rooms.errors import NotJoined


async def handle(frame: React, conn: Connection, reactions: Reactions) -> None:
    if frame.room not in conn.rooms:
        raise NotJoined("join the room before reacting in it")
    answer = {**await reactions.react(conn.member, frame.room, frame.message, frame.reaction, frame.on),
              "type": "reacted"}
    if frame.cid is not None:
        answer["cid"] = frame.cid
    conn.push(wire.encode_for(conn.protocol, answer))
