"""What members are shown of a question: the live ``question`` frame and the HTTP view.

Every recipient of a question's frame gets the same author field (``rooms.questions.
public_author``): an anonymous author's id or handle is never in it, for hosts neither. The
dismissal reason goes only to the author and the hosts (``private``).
"""

from __future__ import annotations

from typing import Any

from chat_server.protocol.questions import Question
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
    reason = q.dismiss_reason if private and q.status is QuestionStatus.DISMISSED and q.dismiss_reason else None
    frame = Question(
        venue_fields(q.venue), q.id, q.body, public_author(q), q.votes, q.status.value,
        answer_view(item), q.pinned, item.version, q.created_ms, q.merged_into, reason,
    ).wire()  # a map: the HTTP view and the control channel take its fields
    return frame


def question_view(item: Stored, viewer_id: str, manages: bool, voted: bool) -> dict[str, Any]:
    """The HTTP view for one viewer: the frame's fields, ``mine`` and ``voted``."""
    q = item.question
    view = question_frame(item, private=manages or q.author.id == viewer_id)
    del view["type"]
    view["author"] = author_for(q, viewer_id)
    view["voted"] = voted
    return view
