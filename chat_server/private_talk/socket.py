"""Private talks' socket frames carried out for one connection (called by the gateway's
dispatch): ``talk_request`` and ``talk_cancel`` answered with ``talk``, ``talk_accept`` with
``talk_accepted``; each answer carries the frame's ``cid``."""

from __future__ import annotations

from typing import Any

from chat_server.gateway.connection import Connection
from chat_server.private_talk.desk import TalkDesk
from chat_server.private_talk.frames import TalkAccept, TalkAsk, TalkCancel, TalkFrame
from chat_server.private_talk.service import PrivateTalks
from chat_server.protocol.base import encode_for
from rooms.errors import NotJoined


async def handle(frame: TalkFrame, conn: Connection, talks: PrivateTalks, desk: TalkDesk) -> None:
    answer: dict[str, Any]
    match frame:
        case TalkAsk(room):
            if room not in conn.rooms:
                raise NotJoined("join the room before asking for a navigator from it")
            answer = await talks.request(conn.member, room, conn.assigned)
            desk.remember(conn, answer)
        case TalkCancel(talk_id):
            answer = await talks.cancel(conn.member, talk_id)
        case TalkAccept(talk_id):
            answer = await talks.accept(conn.member, talk_id)
    if frame.cid is not None:
        answer = {**answer, "cid": frame.cid}
    conn.push(encode_for(conn.protocol, answer))
