"""Putting the questions' parts together for one gateway process (called by Runtime.open)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server import keys
from chat_server.broker.base import Broker
from chat_server.config import Settings
from chat_server.gateway.hub import Hub
from chat_server.limits import FailureCounter, MemoryFailures, RedisFailures
from chat_server.moderation.safety import SafetyDesk
from chat_server.protocol.control import QuestionChanged
from chat_server.questions.fanout import Fanout
from chat_server.questions.service import VOTE_WRITES_AT_ONCE, Questions
from chat_server.questions.topics import Topics
from persistence.question_votes import VoteWrites


@dataclass
class QuestionsWiring:
    questions: Questions
    topics: Topics
    fanout: Fanout

    async def aclose(self) -> None:
        self.fanout.stop()
        await self.questions.aclose()


def open_questions(
    settings: Settings, engine: AsyncEngine, db: async_sessionmaker[AsyncSession], broker: Broker,
    hub: Hub, redis: Redis | None, safety: SafetyDesk,
) -> QuestionsWiring:
    # Counted where every gateway sees the same number: a flood spread over gateways is one flood.
    asked: FailureCounter = (
        MemoryFailures(settings.question_window_s) if redis is None
        else RedisFailures(redis, keys.QUESTIONS_ASKED, settings.question_window_s)
    )
    fanout = Fanout(hub.to_room, hub.connections, settings.question_batch_s,
                    lambda room: len(hub.room_connections(room)))
    hub.control_handlers[QuestionChanged] = fanout.on_control
    questions = Questions(db, VoteWrites(engine, VOTE_WRITES_AT_ONCE), broker, asked, settings.question_rate,
                          settings.max_body_chars, safety.after_question, retry_after_s=settings.question_window_s)
    return QuestionsWiring(questions, Topics(db), fanout)
