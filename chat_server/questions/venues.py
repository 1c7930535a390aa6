"""Where a question is asked: a webinar session (``event:<id>``) or an Ask the Expert topic
(``topic:<id>``), with the facts the rules need (who manages it, is it open, its rooms)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from persistence import communities, topics
from persistence import sessions as event_store
from rooms import ids
from rooms.access import can_see
from rooms.errors import NotFound
from rooms.model import Community, Member
from rooms.questions import check_event_open, check_topic_open, may_manage
from rooms.sessions import Kind


@dataclass(frozen=True, slots=True)
class Venue:
    key: str  # "event:<id>" or "topic:<id>"
    title: str
    community: Community
    live_room: str  # whose joined members see its questions live
    hosts: frozenset[str]  # the session's hosts, the topic's experts (public ids)
    moderated: bool
    state: str  # a session's state; "topic" for topics (the window decides)
    db_id: int
    opens_at: float = 0.0  # topics: the window, seconds since the epoch
    closes_at: float = 0.0

    @property
    def is_topic(self) -> bool:
        return self.key.startswith("topic:")

    @property
    def public_id(self) -> str:
        return self.key.partition(":")[2]

    def manages(self, member: Member, assigned: frozenset[str]) -> bool:
        return may_manage(member, self.hosts, self.community, assigned)

    def check_open(self, now: float) -> None:
        if self.is_topic:
            check_topic_open(self.opens_at, self.closes_at, now)
        else:
            check_event_open(self.state)

    def closed_for_questions(self, now: float) -> bool:
        return self.is_topic and now >= self.closes_at


def _epoch(value: datetime) -> float:
    return value.replace(tzinfo=UTC).timestamp()


def checked_id(public_id: str) -> str:
    if not ids.is_public_id(public_id):
        raise NotFound("no such session or topic")
    return public_id


async def load(db: AsyncSession, key: str, viewer: Member) -> Venue:
    """The venue ``key`` as ``viewer`` may see it; ``NotFound`` otherwise."""
    venue = await read(db, key)
    if venue is None or not can_see(viewer, venue.community):
        raise NotFound("no such topic" if key.startswith("topic:") else "no such session")
    return venue


async def read(db: AsyncSession, key: str) -> Venue | None:
    """The venue ``key`` whoever asks (None if there is none): ``load`` checks the viewer."""
    kind, _, public_id = key.partition(":")
    checked_id(public_id)
    if kind == "event":
        occ = await event_store.get(db, public_id)
        community = None if occ is None else await communities.by_slug(db, occ.series.community)
        if occ is None or community is None:
            return None
        setting = await topics.moderated(db, occ.row.id or 0)
        moderated = occ.series.kind == Kind.WEBINAR.value if setting is None else setting
        return Venue(key, occ.series.title, community, occ.row.room, frozenset(occ.host_ids),
                     moderated, occ.state.value, occ.row.id or 0)
    if kind == "topic":
        topic = await topics.get(db, public_id)
        community = None if topic is None else await communities.by_slug(db, topic.row.room)
        if topic is None or community is None:
            return None
        return Venue(key, topic.row.title, community, topic.row.room, frozenset(topic.expert_ids),
                     False, "topic", topic.row.id or 0, _epoch(topic.row.opens_at), _epoch(topic.row.closes_at))
    raise NotFound("no such session or topic")
