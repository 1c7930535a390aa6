"""Reactions on messages: toggling, a message's summary (counts and handles), and dropping
them with a removed message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.models import Message, User
from persistence.notifications import insert_for
from persistence.social_models import Reaction, ReactionVersion

MAX_NAMES = 20  # handles listed per reaction (rooms.reactions.MAX_NAMES_SHOWN)


async def toggle(
    db: AsyncSession, message_id: str, room: str, user_db_id: int, reaction: str, on: bool, now_ms: int,
) -> bool:
    """Put or take away one member's reaction; True when that changed anything. Not committed."""
    if on:
        statement = insert_for(db)(Reaction).values(
            message_id=message_id, user_id=user_db_id, reaction=reaction, room=room, created_ms=now_ms,
        ).on_conflict_do_nothing(index_elements=["message_id", "user_id", "reaction"])
        result = await db.exec(statement)
    else:
        result = await db.exec(delete(Reaction).where(
            col(Reaction.message_id) == message_id, col(Reaction.user_id) == user_db_id,
            col(Reaction.reaction) == reaction))
    return bool(result.rowcount)


async def bump(db: AsyncSession, message_id: str) -> int:
    """The message's next reactions version (locks its row until commit). Not committed."""
    statement = insert_for(db)(ReactionVersion).values(message_id=message_id, version=1)
    statement = statement.on_conflict_do_update(
        index_elements=["message_id"], set_={"version": ReactionVersion.version + 1})
    result = await db.exec(statement.returning(col(ReactionVersion.version)))
    return int(result.one()[0])


async def summaries(db: AsyncSession, message_ids: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per message (those with any), per reaction: ``{count, by: [handles, oldest first]}``."""
    if not message_ids:
        return {}
    query = (select(Reaction.message_id, Reaction.reaction, User.handle)
             .join(User, col(User.id) == col(Reaction.user_id))
             .where(col(Reaction.message_id).in_(list(dict.fromkeys(message_ids))))
             .order_by(col(Reaction.created_ms), col(Reaction.user_id)))
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for message_id, reaction, handle in (await db.exec(query)).all():
        entry = out.setdefault(message_id, {}).setdefault(reaction, {"count": 0, "by": []})
        entry["count"] += 1
        if len(entry["by"]) < MAX_NAMES:
            entry["by"].append(handle)
    return out


async def count_by_others(db: AsyncSession, message_id: str, author_db_id: int) -> int:
    query = select(Reaction.user_id).where(col(Reaction.message_id) == message_id,
                                           col(Reaction.user_id) != author_db_id)
    return len((await db.exec(query)).all())


async def drop(db: AsyncSession, message_id: str) -> None:
    """A removed message's reactions go with it. Not committed."""
    await db.exec(delete(Reaction).where(col(Reaction.message_id) == message_id))
    await db.exec(delete(ReactionVersion).where(col(ReactionVersion.message_id) == message_id))


async def stored_message(db: AsyncSession, message_id: str, room: str) -> tuple[int, bool] | None:
    """(author's storage key, removed) of a stored message of ``room``; None if none."""
    query = select(Message.author_id, Message.body).where(Message.id == message_id, Message.room == room)
    row = (await db.exec(query)).first()
    return None if row is None else (int(row[0]), row[1] is None)
