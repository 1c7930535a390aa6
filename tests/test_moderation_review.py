"""Holes found in review, closed: a member kept out of a room cannot read it over HTTP; staff
never see, triage or get alerted about reports of their own messages; a demoted navigator
loses their powers on a connection opened before the demotion."""

from __future__ import annotations

import pytest

from support.cluster import Deployment
from support.moderation import (
    Teams,
    api,
    close_all,
    connect,
    fresh_org,
    make_staff,
    moderate,
    moderate_ok,
    new_cid,
    set_duty_ok,
    wait_stored,
)


@pytest.fixture(scope="module")
def teams() -> Teams:
    return Teams()


async def test_a_banned_member_cannot_read_the_room_over_http(deployment: Deployment, teams: Teams) -> None:
    dep = deployment
    org = fresh_org(dep)
    nav = make_staff(dep, org.key)
    member, other = dep.register(org=org.key), dep.register(org=org.key)
    n = await connect(dep, nav, 0)
    o = await connect(dep, other, len(dep.gateways) - 1, org.lounge)
    try:
        ack = await o.post(org.lounge, "a quiet word about fatigue", cid=new_cid())
        await wait_stored(dep, member.token, org.lounge, ack["seq"])
        before = await api(dep, "GET", f"/api/rooms/{org.lounge}/messages", member.token)
        assert before.status_code == 200 and before.json()["messages"], before.text
        await moderate_ok(n, org.lounge, "ban", user=member.id, reason="harassment")
        for path, params in (
            (f"/api/rooms/{org.lounge}/messages", None),
            ("/api/search", {"q": "fatigue", "room": org.lounge}),
        ):
            r = await api(dep, "GET", path, member.token, gateway=1, params=params)
            assert r.status_code == 403 and r.json()["error"] == "banned", (path, r.text)
        # A thread names a message, not a room: it is simply not found.
        r = await api(dep, "GET", f"/api/messages/{ack['id']}/thread", member.token)
        assert r.status_code == 404, r.text
        everywhere = await api(dep, "GET", "/api/search", member.token, params={"q": "fatigue"})
        assert everywhere.status_code == 200
        assert all(x["room"] != org.lounge for x in everywhere.json()["results"]), everywhere.text
        report = await api(dep, "POST", f"/api/messages/{ack['id']}/report", member.token, json={"reason": "x"})
        assert report.status_code == 404, report.text
        # Others still read it; unbanned, the member reads it again.
        r = await api(dep, "GET", f"/api/rooms/{org.lounge}/messages", other.token)
        assert r.status_code == 200
        await moderate_ok(n, org.lounge, "unban", user=member.id)
        r = await api(dep, "GET", f"/api/rooms/{org.lounge}/messages", member.token)
        assert r.status_code == 200, r.text
    finally:
        await close_all(n, o)


async def test_staff_never_triage_or_see_who_reported_their_own_message(deployment: Deployment, teams: Teams) -> None:
    dep = deployment
    org = fresh_org(dep)
    accused, colleague = make_staff(dep, org.key), make_staff(dep, org.key)
    reporter = dep.register(org=org.key)
    a = await connect(dep, accused, 0, org.lounge)
    c = await connect(dep, colleague, len(dep.gateways) - 1)
    try:
        await set_duty_ok(a, True)
        await set_duty_ok(c, True)
        ack = await a.post(org.lounge, "a navigator's unkind remark", cid=new_cid())
        await wait_stored(dep, reporter.token, org.lounge, ack["seq"])
        r = await api(dep, "POST", f"/api/messages/{ack['id']}/report", reporter.token, json={"reason": "unkind"})
        assert r.status_code == 201, r.text
        item = r.json()["item"]
        alert = await c.wait_frame("alert", kind="report", message_id=ack["id"])
        assert alert["item"] == item
        q = await api(dep, "GET", "/api/moderation/queue", colleague.token, params={"room": org.lounge})
        assert [i["reporter"]["id"] for i in q.json()["items"] if i["id"] == item] == [reporter.id]
        # The accused: no alert, no item, no resolving it.
        await a.post(org.lounge, "barrier", cid=new_cid())
        assert not [f for f in a.frames if f.get("type") == "alert" and f.get("message_id") == ack["id"]]
        mine = await api(dep, "GET", "/api/moderation/queue", accused.token, params={"room": org.lounge})
        assert item not in [i["id"] for i in mine.json()["items"]], mine.text
        assert reporter.id not in mine.text
        denied = await api(dep, "POST", f"/api/moderation/queue/{item}/resolve", accused.token, json={})
        assert denied.status_code == 404, denied.text
    finally:
        await close_all(a, c)


async def test_a_demoted_navigator_loses_powers_on_an_open_connection(deployment: Deployment, teams: Teams) -> None:
    dep = deployment
    org = fresh_org(dep)
    nav = make_staff(dep, org.key)
    member = dep.register(org=org.key)
    n = await connect(dep, nav, 0)
    m = await connect(dep, member, len(dep.gateways) - 1, org.lounge)
    try:
        dep.cli("user", "role", nav.handle, "member")
        refused = await moderate(n, org.lounge, "mute", user=member.id, reason="too late")
        assert refused["type"] == "error" and refused["code"] == "forbidden", refused
        assert refused.get("reason") == "not_staff"
        assert (await m.post(org.lounge, "still free to talk", cid=new_cid()))["type"] == "ack"
    finally:
        await close_all(n, m)
