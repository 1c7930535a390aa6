"""The questions' socket frames carried out for one connection (called by the gateway's
dispatch): ``ask`` -> ``ack``, ``vote`` -> ``voted``, ``question_action`` -> ``question_done``."""

from __future__ import annotations

from chat_server.gateway.connection import Connection
from chat_server.protocol.base import ServerFrame, encode_for
from chat_server.protocol.questions import QuestionAck, QuestionDone, Voted
from chat_server.questions.frames import Act, Ask, QuestionFrame, Vote
from chat_server.questions.service import Questions, Who


async def handle(frame: QuestionFrame, conn: Connection, questions: Questions) -> None:
    who = Who(conn.member, conn.assigned)
    answer: ServerFrame
    match frame:
        case Ask(venue, body, cid, anonymous, confirm_phi):
            view = await questions.ask(who, venue, body, cid, anonymous, confirm_phi)
            answer = QuestionAck(cid, view, True if view.get("duplicate") else None)
        case Vote(question, up, cid):
            answer = Voted(await questions.vote(who, question, up), cid)
        case Act(question, action, text, reason, into, cid):
            view = await questions.act(who, question, action, text, reason, into)
            answer = QuestionDone(action.value, view, cid)
    conn.push(encode_for(conn.protocol, answer))
