"""A session's lifecycle with members connected to different gateways (Redis, PostgreSQL):
every state change reaches every member within 1 s, exactly once; the live room refuses the
audience in hosts_only mode; the archive holds every acknowledged message once, in order.
Also the timed transitions (the scheduler runs on every gateway; one carries each out).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from support.client import Client
from support.cluster import ORG_A, Deployment
from support.moderation import Teams, api, audit, close_all, connect, make_staff, new_cid
from support.procs import TIMEOUT_SCALE

STATE_CHANGE_BOUND_S = 1.0


@pytest.fixture(scope="module")
def teams() -> Teams:
    return Teams()


def webinar(room: str, start: datetime, end: datetime, **over: Any) -> dict[str, Any]:
    body = {
        "room": room, "kind": "webinar", "title": "Nutrition during chemotherapy",
        "description": "An oncologist answers.", "starts_at": start.isoformat(),
        "ends_at": end.isoformat(), "tz": "Europe/Paris", "capacity": None,
        "audience_mode": "hosts_only", "video_url": "https://video.example.org/live/42",
    }
    body.update(over)
    return body


def states_seen(c: Client, event: str) -> list[str]:
    """The state changes a client was told of (an edit's frame carries ``changed``)."""
    return [f["state"] for f in c.frames
            if f.get("type") == "event_state" and f.get("event") == event and "changed" not in f]


async def all_see(clients: list[Client], event: str, state: str, timeout_s: float) -> None:
    """Every client gets ``event_state`` with ``state`` within ``timeout_s`` (one bounded wait)."""
    await asyncio.gather(*(c.wait_frame("event_state", timeout_s, event=event, state=state) for c in clients))


@pytest.mark.redis
async def test_webinar_across_gateways(redis_cluster: Deployment, teams: Teams) -> None:
    dep = redis_cluster
    org, host = teams.of(dep)
    expert = await asyncio.to_thread(make_staff, dep, ORG_A, "expert")
    members = [dep.register(gateway=i % 3) for i in range(4)]
    stranger = dep.register()
    start = datetime.now(UTC) + timedelta(hours=1)
    r = await api(dep, "POST", "/api/events", host.token,
                  json=webinar(org.lounge, start, start + timedelta(hours=1), hosts=[host.id, expert.id]))
    assert r.status_code == 201, r.text
    event, room = r.json()["id"], r.json()["live_room"]
    for i, m in enumerate(members):
        assert (await api(dep, "PUT", f"/api/events/{event}/signup", m.token, gateway=i)).json()["my_signup"] == "in"
    no_link = (await api(dep, "GET", f"/api/events/{event}", members[0].token)).json()
    assert "video" not in no_link  # only once the lobby opens

    # Members on gateways 1 and 2, the hosts on 0 and 1.
    host_c = await connect(dep, host, 0)
    expert_c = await connect(dep, expert, 1)
    clients = [await connect(dep, m, 1 + i % 2) for i, m in enumerate(members)]
    stranger_c = await connect(dep, stranger, 2)
    everyone = [host_c, expert_c, *clients]
    try:
        # Before the lobby opens, members cannot enter; hosts can.
        await clients[0].send({"type": "join", "room": room})
        refused = await clients[0].wait_frame("error", room=room)
        assert refused["code"] == "event_closed" and refused["state"] == "scheduled"

        async def change(state: str) -> None:
            r = await api(dep, "POST", f"/api/events/{event}/state", host.token, json={"state": state})
            assert r.status_code == 200 and r.json()["state"] == state, r.text
            await all_see(everyone, event, state, STATE_CHANGE_BOUND_S)

        await change("lobby")
        for c in clients:
            note = await c.wait_frame("notification", event=event)
            assert note["kind"] == "lobby_open"
        frame = next(f for f in clients[0].frames if f.get("type") == "event_state")
        assert set(frame) >= {"event", "state", "starts_at", "ends_at"}
        assert datetime.fromisoformat(frame["starts_at"]) == start
        link = (await api(dep, "GET", f"/api/events/{event}", members[0].token)).json()["video"]
        assert link == {"url": "https://video.example.org/live/42", "embed": True}

        for c in [host_c, expert_c, *clients]:
            await c.join(room)
        await stranger_c.send({"type": "join", "room": room})
        assert (await stranger_c.wait_frame("error", room=room))["code"] == "event_closed"

        await change("live")
        acked: list[dict[str, Any]] = []
        for i in range(10):
            ack = await (host_c if i % 2 else expert_c).post(room, f"Welcome, part {i}", new_cid("h"))
            assert ack["type"] == "ack", ack
            acked.append(ack)
        refusal = await clients[0].post(room, "May I ask about ginger tea?", new_cid("m"))
        assert refusal["type"] == "error" and refusal["code"] == "hosts_only", refusal
        assert refusal["detail"]
        # The audience may talk once the host opens the chat (on another gateway).
        r = await api(dep, "PATCH", f"/api/events/{event}", host.token, json={"audience_mode": "chat"}, gateway=2)
        assert r.status_code == 200 and r.json()["audience_mode"] == "chat", r.text
        await all_see(clients, event, "live", STATE_CHANGE_BOUND_S)
        for i, c in enumerate(clients * 3):
            ack = await c.post(room, f"Thank you, message {i}", new_cid("m"))
            assert ack["type"] == "ack", ack
            acked.append(ack)

        await change("ended")
        late = await clients[1].post(room, "one more thing", new_cid("m"))
        assert late["type"] == "error" and late["code"] == "event_closed", late
        # Before publishing, the host takes one message out of the record.
        r = await api(dep, "POST", f"/api/rooms/{room}/moderation", host.token, json={
            "action": "remove", "message": acked[11]["id"], "reason": "Personal details."})
        assert r.status_code == 200, r.text
        await change("archived")
        for c in everyone:
            assert states_seen(c, event) == ["lobby", "live", "ended", "archived"]  # once each

        r = await api(dep, "GET", f"/api/events/{event}/archive", members[3].token, gateway=2)
        assert r.status_code == 200, r.text
        archive = r.json()
        assert archive["event"]["state"] == "archived"
        got = [(m["id"], m["seq"]) for m in archive["messages"]]
        assert got == [(a["id"], a["seq"]) for a in sorted(acked, key=lambda a: a["seq"])]
        assert [s for _, s in got] == list(range(1, len(acked) + 1))
        removed = [m["id"] for m in archive["messages"] if m["removed"]]
        assert removed == [acked[11]["id"]]
        assert next(m for m in archive["messages"] if m["removed"])["body"] is None
        # The archive is searchable with the existing search.
        r = await api(dep, "GET", "/api/search", stranger.token, params={"q": "part", "room": room})
        assert r.status_code == 200 and len(r.json()["results"]) == 10, r.text
        # Every change is audited once, in the session's community.
        entries = [e for e in await audit(dep, host.token, org.lounge) if event in (e.get("detail") or "")]
        actions = sorted(e["action"] for e in entries)
        assert actions == sorted(["event_schedule", "event_lobby", "event_live", "event_edit",
                                  "event_ended", "event_archived"]), entries
        # The stranger (same organization, not signed up) may read the published archive.
        assert (await api(dep, "GET", f"/api/events/{event}/archive", stranger.token)).status_code == 200
    finally:
        await close_all(*everyone, stranger_c)


@pytest.mark.parametrize("mode", ["embedded", "redis"])
async def test_the_clock_runs_the_session_once(request: pytest.FixtureRequest, mode: str, teams: Teams) -> None:
    """scheduled -> lobby -> live -> ended -> archived by the clock alone; each member (on two
    gateways in Redis mode) sees each change once, within 1 s of when it was due."""
    dep: Deployment = request.getfixturevalue("embedded" if mode == "embedded" else "redis_cluster")
    org, host = teams.of(dep)
    members = [dep.register(gateway=i % len(dep.gateways)) for i in range(2)]
    # The lobby opens a minute before the start: 3 s from now.
    now = datetime.now(UTC)
    start, end = now + timedelta(seconds=63), now + timedelta(seconds=65)
    r = await api(dep, "POST", "/api/events", host.token,
                  json=webinar(org.lounge, start, end, lobby_minutes=1, audience_mode="chat", video_url=None))
    assert r.status_code == 201, r.text
    event = r.json()["id"]
    for m in members:
        assert (await api(dep, "PUT", f"/api/events/{event}/signup", m.token)).status_code == 200
    clients = [await connect(dep, m, i) for i, m in enumerate(members)]
    try:
        lobby_due = datetime.fromisoformat(r.json()["starts_at"]).timestamp() - 60
        await all_see(clients, event, "lobby", max(0.0, lobby_due - time.time()) + STATE_CHANGE_BOUND_S)
        assert time.time() <= lobby_due + STATE_CHANGE_BOUND_S * TIMEOUT_SCALE
        # The host moves it closer (a date can move until it starts); the clock does the rest.
        now = datetime.now(UTC)
        moved = await api(dep, "PATCH", f"/api/events/{event}", host.token, gateway=len(dep.gateways) - 1,
                          json={"starts_at": (now + timedelta(seconds=2)).isoformat(),
                                "ends_at": (now + timedelta(seconds=4)).isoformat()})
        assert moved.status_code == 200, moved.text
        start = datetime.fromisoformat(moved.json()["starts_at"])
        end = datetime.fromisoformat(moved.json()["ends_at"])
        due = {"live": start.timestamp(), "ended": end.timestamp() + 1, "archived": end.timestamp() + 1 + 2}
        for state in ("live", "ended", "archived"):
            await all_see(clients, event, state, max(0.0, due[state] - time.time()) + STATE_CHANGE_BOUND_S)
            assert time.time() <= due[state] + STATE_CHANGE_BOUND_S * TIMEOUT_SCALE, state
        await asyncio.sleep(0.5)  # a second gateway carrying a change out again would show now
        for c in clients:
            assert states_seen(c, event) == ["lobby", "live", "ended", "archived"]
        for m in members:
            notes = (await api(dep, "GET", "/api/notifications", m.token)).json()["notifications"]
            assert [n["kind"] for n in notes if n["event"] == event] == ["lobby_open"]
    finally:
        await close_all(*clients)
