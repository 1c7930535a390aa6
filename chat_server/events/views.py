"""How a session looks on the wire (HTTP bodies and ``event_state`` frames)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from chat_server.protocol.sessions import EventState
from persistence.sessions import Occurrence
from rooms.sessions import State


def aware(value: datetime) -> datetime:
    """Stored times are naive UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def iso(value: datetime | None) -> str | None:
    return None if value is None else aware(value).isoformat()


def state_frame(occ: Occurrence, state: State | None = None, changed: list[str] | None = None) -> EventState:
    """The ``event_state`` frame (protocol §4); ``changed``: what an edit changed."""
    return EventState(occ.row.public_id, (state or occ.state).value, iso(occ.row.starts_at),
                      iso(occ.row.ends_at), occ.row.room, occ.series.title, changed)


def video_view(url: str | None, embed_hosts: tuple[str, ...]) -> dict[str, Any] | None:
    if url is None:
        return None
    host = (urlsplit(url).hostname or "").lower()
    return {"url": url, "embed": host in embed_hosts}


def event_view(
    occ: Occurrence, counts: dict[str, int], mine: str | None, runs: bool,
    embed_hosts: tuple[str, ...],
) -> dict[str, Any]:
    s, o = occ.series, occ.row
    out: dict[str, Any] = {
        "id": o.public_id, "series": s.public_id, "room": s.community, "live_room": o.room,
        "kind": s.kind, "title": s.title, "description": s.description,
        "starts_at": iso(o.starts_at), "ends_at": iso(o.ends_at), "tz": s.tz,
        "capacity": s.capacity, "recurrence": s.recurrence, "lobby_minutes": s.lobby_minutes,
        "audience_mode": s.audience_mode, "state": o.state, "cancel_reason": o.cancel_reason,
        "moved": o.starts_at != o.original_start,
        "hosts": [h.public() for h in occ.hosts], "signed_up": counts, "my_signup": mine,
        "runs": runs,
    }
    # The video link is for the people taking part, from the moment the lobby opens.
    if s.video_url is not None and (
        runs or (mine == "in" and occ.state in (State.LOBBY, State.LIVE))
    ):
        out["video"] = video_view(s.video_url, embed_hosts)
    return out
