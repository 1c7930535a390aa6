"""The session scheduler sleeps until the next change is due and is woken by every change.

No gateway polls the database for due sessions any more: each reads when the next change is
due, sleeps until then (at most KINDRED_EVENT_TICK_S, here the 30 s default), and is woken on
every gateway by the control channel's ``SessionChanged`` when any gateway creates, edits or
moves a session. These tests create and reschedule sessions through one gateway, kill every
gateway but one, and check that the one left carries the changes out on time: it can only
know of them from the wake-up (its own last read saw nothing due for 30 s). The same in
embedded mode, where the wake-up comes back to the one gateway through the in-process broker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from support.client import Client
from support.cluster import ORG_A, Deployment, deployment_in_mode
from support.moderation import api, close_all, connect, default_org, make_staff

# Far below the 30 s backstop: a change that waited for it would miss this by far.
ON_TIME_S = 2.0


@pytest.fixture(params=["embedded", "redis"])
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    """A fresh deployment with the default 30 s backstop (tests/support sets 0.25 s)."""
    env = {"KINDRED_EVENT_TICK_S": "30"}
    yield from deployment_in_mode(request, tmp_path_factory, "wakeup", env, redis_gateways=3)


def session(room: str, start: datetime, lobby_minutes: int) -> dict[str, object]:
    return {
        "room": room, "kind": "drop_in", "title": "Tuesday night check-in", "description": "",
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat(),
        "tz": "UTC", "capacity": None, "lobby_minutes": lobby_minutes, "audience_mode": "chat",
        "video_url": None,
    }


async def on_time(c: Client, event: str, state: str, due_at: float) -> None:
    """``c`` is told ``event`` reached ``state`` no later than ``ON_TIME_S`` after it was due."""
    assert due_at > time.time() + 1, "the set-up took too long to prove anything"
    await c.wait_frame("event_state", max(0.0, due_at - time.time()) + ON_TIME_S, event=event, state=state)
    assert time.time() <= due_at + ON_TIME_S, f"{state} came {time.time() - due_at:.1f} s after it was due"


async def test_changes_made_elsewhere_go_live_on_time(deployment: Deployment) -> None:
    """A session moved on one gateway, then one created on another, each followed by the
    death of the gateway that made it: the last gateway carries both out on time. Each
    change is the last one before its check, so each wake-up is tested on its own (a later
    one would make every scheduler read everything again)."""
    dep = deployment
    last = len(dep.gateways) - 1  # the gateway left running; the others make the changes
    host = make_staff(dep, ORG_A)
    member = dep.register(gateway=last)
    lounge = default_org(ORG_A).lounge
    c = await connect(dep, member, last)
    try:
        # Created for next week on gateway 1, then moved to start in a few seconds there.
        edit_on = min(1, last)
        later = await api(dep, "POST", "/api/events", host.token, gateway=edit_on,
                          json=session(lounge, datetime.now(UTC) + timedelta(days=7), lobby_minutes=0))
        assert later.status_code == 201, later.text
        moved_id = later.json()["id"]
        r = await api(dep, "PUT", f"/api/events/{moved_id}/signup", member.token, gateway=last)
        assert r.status_code == 200, r.text
        now = datetime.now(UTC)
        moved = await api(dep, "PATCH", f"/api/events/{moved_id}", host.token, gateway=edit_on,
                          json={"starts_at": (now + timedelta(seconds=6)).isoformat(),
                                "ends_at": (now + timedelta(hours=1)).isoformat()})
        assert moved.status_code == 200, moved.text
        for gw in dep.gateways[1:last]:
            gw.kill()  # what it knew dies with it: the last gateway must have been told
        await on_time(c, moved_id, "live", datetime.fromisoformat(moved.json()["starts_at"]).timestamp())

        # Created on gateway 0 with its lobby due in a few seconds.
        created = await api(dep, "POST", "/api/events", host.token, gateway=0,
                            json=session(lounge, datetime.now(UTC) + timedelta(seconds=66), lobby_minutes=1))
        assert created.status_code == 201, created.text
        created_id = created.json()["id"]
        r = await api(dep, "PUT", f"/api/events/{created_id}/signup", member.token, gateway=last)
        assert r.status_code == 200, r.text
        for gw in dep.gateways[:last][:1]:
            gw.kill()
        await on_time(c, created_id, "lobby", datetime.fromisoformat(created.json()["starts_at"]).timestamp() - 60)
    finally:
        await close_all(c)
