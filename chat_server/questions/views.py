"""What members are shown of a question: the live ``question`` frame and the HTTP view.

Every recipient of a question's frame gets the same author field (``rooms.questions.
public_author``): an anonymous author's id or handle is never in it, for hosts neither. The
dismissal reason goes only to the author and the hosts (``private``).
"""

from __future__ import annotations

from typing import Any

from persistence.questions import Stored
from rooms.questions import QuestionStatus, author_for, public_author


def venue_fields(venue: str) -> dict[str, str]:
    kind, _, public_id = venue.partition(":")
    return {kind: public_id}


def answer_view(item: Stored) -> dict[str, Any] | None:
    answer = item.question.answer
    if answer is None:
        return None
    return {"body": answer.body, "by": {"handle": answer.by_handle, "role": answer.by_role}, "at": answer.at_ms}


def question_frame(item: Stored, private: bool = False) -> dict[str, Any]:
    q = item.question
    frame: dict[str, Any] = {
        "type": "question", **venue_fields(q.venue), "id": q.id, "body": q.body,
        "author": public_author(q), "votes": q.votes, "status": q.status.value,
        "answer": answer_view(item), "pinned": q.pinned, "version": item.version, "at": q.created_ms,
    }
    if q.merged_into is not None:
        frame["merged_into"] = q.merged_into
    if private and q.status is QuestionStatus.DISMISSED and q.dismiss_reason:
        frame["reason"] = q.dismiss_reason
    return frame


def question_view(item: Stored, viewer_id: str, manages: bool, voted: bool) -> dict[str, Any]:
    """The HTTP view for one viewer: the frame's fields, ``mine`` and ``voted``."""
    q = item.question
    view = question_frame(item, private=manages or q.author.id == viewer_id)
    del view["type"]
    view["author"] = author_for(q, viewer_id)
    view["voted"] = voted
    return view
