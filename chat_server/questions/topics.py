"""Ask the Expert: staff open a topic in a community for a window with the experts named;
members ask and vote while it is open; the experts answer after it closes; the answered
topics stay browsable and searchable per community."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.questions.venues import checked_id
from persistence import communities, topics
from persistence import moderation as audit_store
from persistence.accounts import to_member
from persistence.models import User
from persistence.question_models import ExpertTopic
from persistence.topics import Topic
from rooms.access import can_see
from rooms.errors import NotFound, RoomError
from rooms.model import Member
from rooms.moderation import NOT_STAFF, Forbidden, may_moderate_room
from rooms.roles import Role

MAX_WINDOW = timedelta(days=92)
MAX_EXPERTS = 10


class InvalidTopic(RoomError):
    code = "invalid_topic"


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def _iso(value: datetime) -> str:
    return value.replace(tzinfo=UTC).isoformat()


def topic_state(topic: Topic, now: datetime) -> str:
    if now < topic.row.opens_at:
        return "upcoming"
    return "open" if now < topic.row.closes_at else "closed"


class Topics:
    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC).replace(tzinfo=None)

    def _view(self, topic: Topic, counts: dict[str, int] | None, member: Member, assigned: frozenset[str],
              community_manages: bool) -> dict[str, Any]:
        return {
            "id": topic.row.public_id, "room": topic.row.room, "title": topic.row.title,
            "description": topic.row.description, "opens_at": _iso(topic.row.opens_at),
            "closes_at": _iso(topic.row.closes_at), "state": topic_state(topic, self._now()),
            "experts": [m.public() for m in topic.experts],
            "questions": counts or {"open": 0, "answered": 0},
            "manages": member.id in topic.expert_ids or community_manages,
        }

    async def create(
        self, member: Member, assigned: frozenset[str], room: str, title: str, description: str,
        opens_at: datetime, closes_at: datetime, experts: Sequence[str],
    ) -> dict[str, Any]:
        opens, closes = _naive(opens_at), _naive(closes_at)
        title, description = title.strip(), description.strip()
        if not title or len(title) > 120:
            raise InvalidTopic("a title has 1 to 120 characters")
        if len(description) > 5000:
            raise InvalidTopic("a description has at most 5,000 characters")
        if closes <= opens:
            raise InvalidTopic("a topic closes after it opens")
        if closes - opens > MAX_WINDOW:
            raise InvalidTopic("a topic is open for at most 92 days")
        if not experts or len(experts) > MAX_EXPERTS:
            raise InvalidTopic(f"name 1 to {MAX_EXPERTS} experts")
        now_ms = int(self._clock() * 1000)
        async with self._db() as db:
            community = await communities.by_slug(db, room)
            if community is None or community.kind == "event" or not can_see(member, community):
                raise NotFound("no such community")
            if not may_moderate_room(member, community, assigned):
                raise Forbidden(NOT_STAFF)
            users = (await db.exec(select(User).where(col(User.public_id).in_(list(experts))))).all()
            named = [to_member(u) for u in users]
            if len(named) != len(set(experts)) or any(
                m.role.rank < Role.EXPERT.rank or not can_see(m, community) for m in named
            ):
                raise InvalidTopic("experts must be staff (expert and up) who can see the community")
            topic = await topics.create(db, ExpertTopic(
                public_id="", room=room, title=title, description=description, opens_at=opens,
                closes_at=closes, created_by=member.db_id, created_ms=now_ms,
            ), [m.db_id for m in named])
            await audit_store.audit(db, now_ms, member.db_id, "topic_open", room,
                                    detail=f"topic {topic.row.public_id}")
            await db.commit()
        return self._view(topic, None, member, assigned, True)

    async def get(self, member: Member, assigned: frozenset[str], public_id: str) -> dict[str, Any]:
        checked_id(public_id)
        async with self._db() as db:
            topic = await topics.get(db, public_id)
            community = None if topic is None else await communities.by_slug(db, topic.row.room)
            if topic is None or community is None or not can_see(member, community):
                raise NotFound("no such topic")
            counts = await topics.question_counts(db, [topic.venue])
        return self._view(topic, counts.get(topic.venue), member, assigned,
                          may_moderate_room(member, community, assigned))

    async def listing(
        self, member: Member, assigned: frozenset[str], room: str | None, search: str | None, limit: int,
    ) -> list[dict[str, Any]]:
        async with self._db() as db:
            visible = [c for c in await communities.visible_to(db, member) if c.kind != "event"]
            by_slug = {c.slug: c for c in visible}
            rooms = [room] if room is not None else list(by_slug)
            rooms = [r for r in rooms if r in by_slug]
            found = await topics.listing(db, rooms, search, limit) if rooms else []
            counts = await topics.question_counts(db, [t.venue for t in found])
        return [
            self._view(t, counts.get(t.venue), member, assigned,
                       may_moderate_room(member, by_slug[t.row.room], assigned))
            for t in found
        ]
