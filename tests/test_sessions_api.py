"""Scheduled sessions over HTTP (docs/protocol.md §10), end to end on real servers: scheduling a
weekly drop-in, sign-up and the waiting list, calendars parsed with ``icalendar``, and bad input
that changes nothing. Embedded (SQLite) and Redis with three gateways (PostgreSQL).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest

from support.cluster import ORG_A, ORG_B, Deployment
from support.moderation import Teams, api, connect, make_staff

NY = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def teams() -> Teams:
    return Teams()


def next_tuesday_6pm() -> datetime:
    today = datetime.now(NY).replace(hour=18, minute=0, second=0, microsecond=0)
    return today + timedelta(days=(1 - today.weekday()) % 7 + 7)


def drop_in(room: str, **over: Any) -> dict[str, Any]:
    start = next_tuesday_6pm()
    body = {
        "room": room, "kind": "drop_in", "title": "Caregivers' drop-in",
        "description": "A Tuesday-evening drop-in with a social worker. https://example.org/help",
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat(),
        "tz": "America/New_York", "capacity": 3, "recurrence": "FREQ=WEEKLY;BYDAY=TU;COUNT=4",
    }
    body.update(over)
    return body


async def ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    found: dict[str, Any] = r.json()
    return found


async def test_weekly_drop_in_waiting_list_and_calendars(deployment: Deployment, teams: Teams) -> None:
    org, navigator = teams.of(deployment)
    members = [deployment.register() for _ in range(5)]
    made = await ok(await api(deployment, "POST", "/api/events", navigator.token, json=drop_in(org.lounge)), 201)
    assert made["kind"] == "drop_in" and made["state"] == "scheduled" and made["capacity"] == 3
    assert made["hosts"] == [{"id": navigator.id, "handle": navigator.handle, "role": "navigator"}]
    dates = made["occurrences"]
    assert len(dates) == 4
    starts = [datetime.fromisoformat(d["starts_at"]) for d in dates]
    assert all(s.astimezone(NY).hour == 18 and s.astimezone(NY).weekday() == 1 for s in starts)
    first = dates[0]["id"]
    # Each date's live room is a room, but not one of the directory's.
    listed_rooms = (await ok(await api(deployment, "GET", "/api/communities", members[0].token)))["communities"]
    assert made["live_room"] not in {c["slug"] for c in listed_rooms}
    assert (await ok(await api(deployment, "GET", f"/api/communities/{made['live_room']}", members[0].token)))["kind"] == "event"

    # Five sign up, one after the other on different gateways: three in, two wait, in order.
    answers = []
    for i, m in enumerate(members):
        answers.append(await ok(await api(deployment, "PUT", f"/api/events/{first}/signup", m.token, gateway=i)))
    assert [a["my_signup"] for a in answers] == ["in", "in", "in", "waiting", "waiting"]
    host_view = await ok(await api(deployment, "GET", f"/api/events/{first}", navigator.token))
    assert host_view["signed_up"] == {"in": 3, "waiting": 2}
    assert [v["id"] for v in host_view["signups"]["waiting"]] == [members[3].id, members[4].id]
    member_view = await ok(await api(deployment, "GET", f"/api/events/{first}", members[0].token))
    assert "signups" not in member_view  # who signed up is for the hosts
    # Signing up again changes nothing.
    again = await ok(await api(deployment, "PUT", f"/api/events/{first}/signup", members[0].token))
    assert again["signed_up"] == {"in": 3, "waiting": 2}

    # One withdraws: the first waiter is in, and told so; the second still waits.
    await ok(await api(deployment, "DELETE", f"/api/events/{first}/signup", members[1].token))
    assert (await ok(await api(deployment, "GET", f"/api/events/{first}", members[3].token)))["my_signup"] == "in"
    assert (await ok(await api(deployment, "GET", f"/api/events/{first}", members[4].token)))["my_signup"] == "waiting"
    told = await ok(await api(deployment, "GET", "/api/notifications", members[3].token))
    assert [n["kind"] for n in told["notifications"]] == ["place_free"]
    assert (await ok(await api(deployment, "GET", "/api/notifications", members[4].token)))["notifications"] == []

    # The host lets the last waiter in, over capacity (a small group can stretch).
    admitted = await ok(await api(deployment, "POST", f"/api/events/{first}/admit", navigator.token,
                                  json={"user": members[4].id}))
    assert admitted["signed_up"] == {"in": 4, "waiting": 0}
    r = await api(deployment, "POST", f"/api/events/{first}/admit", members[0].token, json={"user": members[4].id})
    assert r.status_code == 403 and r.json()["reason"] == "not_host", r.text

    # Member 0 takes the first three dates; the second one is cancelled, and they are told at
    # once on their open connection (on another gateway) and in their notifications.
    for d in dates[1:3]:
        await ok(await api(deployment, "PUT", f"/api/events/{d['id']}/signup", members[0].token))
    watcher = await connect(deployment, members[0], 1)
    try:
        cancelled = await ok(await api(deployment, "POST", f"/api/events/{dates[1]['id']}/cancel", navigator.token,
                                       json={"reason": "Our social worker is away this week."}))
        assert cancelled["state"] == "cancelled"
        await watcher.wait_frame("event_state", 1.0, event=dates[1]["id"], state="cancelled")
        note = await watcher.wait_frame("notification", 1.0, event=dates[1]["id"])
        assert note["kind"] == "cancelled"
    finally:
        await watcher.close()
    told = await ok(await api(deployment, "GET", "/api/notifications", members[0].token))
    assert [n["kind"] for n in told["notifications"]] == ["cancelled"]
    # The other dates are untouched.
    assert (await ok(await api(deployment, "GET", f"/api/events/{dates[2]['id']}", members[0].token)))["state"] == "scheduled"

    # The member's feed, in their own zone: three dates, the cancelled one marked.
    feed = await ok(await api(deployment, "POST", "/api/me/calendar", members[0].token, json={"tz": "Europe/Paris"}), 201)
    path = feed["url"].split("://", 1)[1].split("/", 1)[1]
    r = await api(deployment, "GET", "/" + path, None, gateway=1)  # no cookie, no token
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(r.content)
    assert {tz["TZID"] for tz in cal.walk("VTIMEZONE")} == {"Europe/Paris"}
    events = sorted(cal.walk("VEVENT"), key=lambda e: e.decoded("dtstart"))
    assert [e.decoded("dtstart") for e in events] == starts[:3]
    assert all(e.decoded("dtstart").tzinfo.key == "Europe/Paris" for e in events)
    assert [str(e["status"]) for e in events] == ["CONFIRMED", "CANCELLED", "CONFIRMED"]
    assert {str(e["summary"]) for e in events} == {"Caregivers' drop-in"}
    # A new feed URL revokes the old one.
    await ok(await api(deployment, "POST", "/api/me/calendar", members[0].token, json={"tz": "UTC"}), 201)
    assert (await api(deployment, "GET", "/" + path, None)).status_code == 404

    # The page may embed video only from the hosts the operator listed (KINDRED_VIDEO_EMBED_HOSTS).
    csp = (await api(deployment, "GET", "/", None)).headers["content-security-policy"]
    assert "frame-src https://video.example.org" in csp and "frame-ancestors 'none'" in csp

    # The session's own calendar: the series with its rule, the cancelled date overridden.
    r = await api(deployment, "GET", f"/api/events/{first}/calendar.ics", members[2].token)
    cal = icalendar.Calendar.from_ical(r.content)
    master, *overrides = cal.walk("VEVENT")
    assert master.decoded("dtstart") == starts[0] and master["rrule"]["COUNT"] == [4]
    assert master.decoded("dtstart").tzinfo.key == "America/New_York"
    assert [(o.decoded("recurrence-id"), str(o["status"])) for o in overrides] == [(starts[1], "CANCELLED")]

    # Listing: ordered by start, the cancelled one included and marked.
    listed = await ok(await api(deployment, "GET", "/api/events", members[2].token, params={"room": org.lounge}))
    mine = [e for e in listed["events"] if e["series"] == made["series"]]
    assert [e["id"] for e in mine] == [d["id"] for d in dates]
    assert [e["state"] for e in mine] == ["scheduled", "cancelled", "scheduled", "scheduled"]
    mine_now = await ok(await api(deployment, "GET", "/api/me/events", members[0].token))
    assert [e["id"] for e in mine_now["events"]][:3] == [d["id"] for d in dates[:3]]


async def test_bad_input_changes_nothing(deployment: Deployment, teams: Teams) -> None:
    org, navigator = teams.of(deployment)
    _, other_nav = teams.of(deployment, ORG_B)
    member = deployment.register()
    before = await ok(await api(deployment, "GET", "/api/events", navigator.token, params={"room": org.lounge}))

    async def refused(token: str, body: dict[str, Any], status: int, code: str) -> dict[str, Any]:
        r = await api(deployment, "POST", "/api/events", token, json=body)
        assert r.status_code == status and r.json()["error"] == code, r.text
        assert r.json()["detail"]
        answer: dict[str, Any] = r.json()
        return answer

    await refused(member.token, drop_in(org.lounge), 403, "forbidden")  # a member scheduling
    await refused(other_nav.token, drop_in(org.lounge), 404, "not_found")  # another org's room
    start = next_tuesday_6pm()
    await refused(navigator.token, drop_in(org.lounge, ends_at=(start - timedelta(hours=1)).isoformat()), 400, "invalid_event")
    await refused(navigator.token, drop_in(org.lounge, recurrence="FREQ=WEEKLY;BYDAY=TU"), 400, "invalid_event")
    await refused(navigator.token, drop_in(org.lounge, recurrence="FREQ=DAILY;COUNT=501"), 400, "invalid_event")
    await refused(navigator.token, drop_in(org.lounge, recurrence="FREQ=HOURLY;UNTIL=20400101T000000Z"), 400, "invalid_event")
    await refused(navigator.token, drop_in(org.lounge, starts_at="2027-01-05T18:00:00"), 400, "invalid_request")
    await refused(navigator.token, drop_in(org.lounge, hosts=[other_nav.id]), 400, "invalid_event")
    await refused(navigator.token, drop_in(org.lounge, video_url="http://video.example.org/x"), 400, "invalid_event")
    big = drop_in(org.lounge, description="x" * 10_000_000)
    await refused(navigator.token, big, 413, "too_large")
    after = await ok(await api(deployment, "GET", "/api/events", navigator.token, params={"room": org.lounge}))
    assert after["events"] == before["events"]

    # Signing up for a cancelled or archived session; starting an archived one.
    made = await ok(await api(deployment, "POST", "/api/events", navigator.token,
                              json=drop_in(org.lounge, recurrence="FREQ=WEEKLY;COUNT=2")), 201)
    one, two = (d["id"] for d in made["occurrences"])
    await ok(await api(deployment, "POST", f"/api/events/{one}/cancel", navigator.token, json={"reason": "Away."}))
    r = await api(deployment, "PUT", f"/api/events/{one}/signup", member.token)
    assert r.status_code == 409 and r.json()["error"] == "event_closed" and r.json()["state"] == "cancelled", r.text
    for state in ("live", "ended", "archived"):
        await ok(await api(deployment, "POST", f"/api/events/{two}/state", navigator.token, json={"state": state}))
    r = await api(deployment, "PUT", f"/api/events/{two}/signup", member.token)
    assert r.status_code == 409 and r.json()["error"] == "event_closed", r.text
    r = await api(deployment, "POST", f"/api/events/{two}/state", navigator.token, json={"state": "live"})
    assert r.status_code == 409 and r.json()["error"] == "bad_transition" and r.json()["state"] == "archived", r.text
    r = await api(deployment, "POST", f"/api/events/{two}/state", member.token, json={"state": "ended"})
    assert r.status_code == 403 and r.json()["error"] == "forbidden", r.text
    r = await api(deployment, "POST", f"/api/events/{one}/state", navigator.token, json={"state": "paused"})
    assert r.status_code == 400, r.text
    for patch in ({"title": None}, {"starts_at": "tomorrow"}, {"capacity": 0}, {"title": ""}, {}):
        r = await api(deployment, "PATCH", f"/api/events/{two}", navigator.token, json=patch)
        assert r.status_code == 400, (patch, r.text)
    for path in (f"/api/events/{two}", f"/api/events/{one}"):
        assert (await ok(await api(deployment, "GET", path, member.token)))["state"] in ("archived", "cancelled")
    assert (await api(deployment, "GET", "/api/events/nope", member.token)).status_code == 404
    # Another organization's member cannot see the session at all.
    outsider = deployment.register(org=ORG_B)
    assert (await api(deployment, "GET", f"/api/events/{two}", outsider.token)).status_code == 404


async def test_national_room_needs_an_assignment(deployment: Deployment) -> None:
    """Who may schedule follows who may moderate (rooms/moderation.py)."""
    unassigned, assigned = await asyncio.gather(
        asyncio.to_thread(make_staff, deployment, ORG_A),
        asyncio.to_thread(make_staff, deployment, ORG_A, "navigator", ("lung-cancer",)),
    )
    body = drop_in("lung-cancer", kind="webinar", capacity=None, recurrence=None, audience_mode="hosts_only")
    r = await api(deployment, "POST", "/api/events", unassigned.token, json=body)
    assert r.status_code == 403 and r.json()["reason"] == "not_staff", r.text
    made = await ok(await api(deployment, "POST", "/api/events", assigned.token, json=body), 201)
    assert made["audience_mode"] == "hosts_only" and made["room"] == "lung-cancer"
