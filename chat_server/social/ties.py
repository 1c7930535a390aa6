"""What the friends, following and people services read about two members: who the other is,
and how the two stand (``rooms.friends.Pair``)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from persistence import follows
from persistence import friends as store
from persistence import moderation as moderation_store
from rooms import ids
from rooms.errors import NoSuchMember
from rooms.friends import Pair, Yourself
from rooms.model import Member


async def other_member(db: AsyncSession, viewer: Member, public_id: str, what: str) -> Member:
    """The member ``public_id`` names (``users.public_id``); raises ``NoSuchMember``, or
    ``Yourself`` when it is the viewer (``what`` says what they tried: "befriend")."""
    if not isinstance(public_id, str) or not ids.is_user_id(public_id):
        raise NoSuchMember("no such member")
    if public_id == viewer.id:
        raise Yourself(what)
    other = await moderation_store.member_by_public_id(db, public_id)
    if other is None:
        raise NoSuchMember("no such member")
    return other


async def read_pair(db: AsyncSession, viewer: Member, other: Member) -> Pair:
    tie = await store.tie(db, viewer.db_id, other.db_id)
    viewer_blocked, other_blocked = await store.blocks_between(db, viewer.db_id, other.db_id)
    choices = await follows.settings_of(db, other.db_id)
    return Pair(
        friends=tie is not None and tie.friends,
        requester_is_viewer=None if tie is None or tie.friends else tie.requester_id == viewer.db_id,
        viewer_blocked_other=viewer_blocked, other_blocked_viewer=other_blocked,
        other_takes_requests=choices.friend_requests, other_followable=choices.followable,
    )
