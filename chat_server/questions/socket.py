"""The questions' socket frames carried out for one connection (called by the gateway's
dispatch): ``ask`` -> ``ack``, ``vote`` -> ``voted``, ``question_action`` -> ``question_done``."""

from __future__ import annotations

from typing import Any

from chat_server import wire
from chat_server.gateway.connection import Connection
from chat_server.questions.frames import Act, Ask, QuestionFrame, Vote
from chat_server.questions.service import Questions, Who


async def handle(frame: QuestionFrame, conn: Connection, questions: Questions) -> None:
    who = Who(conn.member, conn.assigned)
    answer: dict[str, Any]
    match frame:
        case Ask(venue, body, cid, anonymous, confirm_phi):
            view = await questions.ask(who, venue, body, cid, anonymous, confirm_phi)
            answer = {"type": "ack", "cid": cid, "question": view}
            if view.get("duplicate"):
                answer["duplicate"] = True
        case Vote(question, up, cid):
            answer = {"type": "voted", **await questions.vote(who, question, up)}
            if cid is not None:
                answer["cid"] = cid
        case Act(question, action, text, reason, into, cid):
            view = await questions.act(who, question, action, text, reason, into)
            answer = {"type": "question_done", "action": action.value, "question": view}
            if cid is not None:
                answer["cid"] = cid
    conn.push(wire.encode_for(conn.protocol, answer))
