"""Safety signals end to end, from docs/protocol.md §3.7 (duty), §4.15 to 4.18 and §9 (queue,
reports): crisis alerts reach on-duty staff of the room on any gateway, the author gets
resources, the message stays; false friends from rooms/data/crisis_phrases.txt raise nothing;
reports alert and wait in the queue.

"No alert" is checked after a barrier: a later crisis message that the same connection must be
alerted to (alerts of one room are produced in order), so the absence is not a matter of luck.
"""

from __future__ import annotations

import pytest

from support.client import Client
from support.cluster import ORG_B, Deployment
from support.moderation import (
    Teams,
    api,
    audit,
    check_audit_entry,
    close_all,
    connect,
    default_org,
    forbidden_reason,
    frames_of,
    make_staff_many,
    new_cid,
    now_ms,
    set_duty,
    set_duty_ok,
    view,
    wait_stored,
)


@pytest.fixture(scope="module")
def teams() -> Teams:
    """ORG_A / ORG_B with a navigator each, per deployment (their lounges only get posts)."""
    return Teams()


def _alert_ids(c: Client, kind: str = "crisis") -> list[str]:
    return [f["message_id"] for f in frames_of(c, "alert", kind=kind)]


async def test_duty_is_for_staff_and_shows_in_room_state(deployment: Deployment, teams: Teams) -> None:
    dep = deployment
    org, nav = teams.of(dep)
    admin = teams.admin(dep)
    member = dep.register(org=org.key)
    m = await connect(dep, member, len(dep.gateways) - 1, org.lounge)
    n = await connect(dep, nav, 0)
    try:
        started = now_ms()
        refused = await set_duty(m, True)
        assert refused["type"] == "error" and refused["code"] == "forbidden", refused
        # Nobody of this room is on duty (a navigator of an earlier test may still be on its
        # way out: wait for the state to say so).
        await m.wait_frame("room_state", room=org.lounge, on_duty=False)

        start = len(m.frames)
        await set_duty_ok(n, True)
        state = await m.wait_frame("room_state", start=start, room=org.lounge, on_duty=True)
        assert state["locked"] is False and state["slow_mode_s"] == 0
        start = len(m.frames)
        await set_duty_ok(n, False)
        await m.wait_frame("room_state", start=start, room=org.lounge, on_duty=False)

        # Audited (an admin sees every entry) ...
        duty = [e for e in await audit(dep, admin.token) if "duty" in str(e["action"]) and e["actor"]["id"] == nav.id]
        assert len(duty) == 2, duty
        for e in duty:
            check_audit_entry(e, nav, "navigator", None, started)
        # ... and the navigator sees their own duty changes in the audit of the rooms they
        # moderate (where `room_state` showed them on duty).
        mine = [e for e in await audit(dep, nav.token) if "duty" in str(e["action"])]
        assert len(mine) == 2, f"a navigator cannot see their own duty changes in the audit log: {mine}"
    finally:
        await close_all(m, n)


async def test_a_crisis_message_alerts_on_duty_staff_and_the_author_gets_resources(
    deployment: Deployment, teams: Teams
) -> None:
    dep = deployment
    org, nav = teams.of(dep)
    room = org.lounge
    author, reader = dep.register(org=org.key), dep.register(org=org.key)
    n = await connect(dep, nav, 0)
    a = await connect(dep, author, len(dep.gateways) - 1, room)
    r = await connect(dep, reader, 1, room)
    try:
        await set_duty_ok(n, True)
        body = "Some days I just want to end it all."
        ack = await a.post(room, body, cid=new_cid())
        assert ack["type"] == "ack", ack  # not held, not refused

        alert = await n.wait_frame("alert", kind="crisis", message_id=ack["id"])
        assert alert["room"] == room and isinstance(alert["item"], int), alert
        assert alert["author"] == view(author), alert

        resources = await a.wait_frame("resources", message_id=ack["id"])
        assert resources["room"] == room and resources["text"], resources
        assert resources["items"] and all(i["name"] and i["contact"] for i in resources["items"])
        assert a.frames.index(resources) > a.frames.index(next(f for f in a.frames if f.get("cid") == ack["cid"]))

        # The message stays, with its body, for everyone.
        seen = await r.wait_frame("message", id=ack["id"])
        assert seen["body"] == body
        await wait_stored(dep, reader.token, room, ack["seq"])
        q = await api(dep, "GET", "/api/moderation/queue", nav.token, params={"status": "open", "room": room})
        assert q.status_code == 200, q.text
        item = next(i for i in q.json()["items"] if i["id"] == alert["item"])
        assert item["kind"] == "crisis" and item["room"] == room and item["status"] == "open", item
        assert item["message"]["id"] == ack["id"] and item["message"]["body"] == body, item
        assert item["message"]["author"] == view(author) and item["message"]["removed"] is False
        assert item["reporter"] is None

        # Only staff are alerted; only the author gets resources.
        for c in (a, r):
            assert frames_of(c, "alert") == [], c
        assert frames_of(r, "resources") == [] and frames_of(n, "resources") == []

        # A crisis message that also carries a phone number is held like any other (§4.10):
        # nothing is posted, so nothing is alerted, until it is sent again with confirm_phi.
        held_body = "I can't go on like this. Call me at 555-867-5309 tonight please"
        cid = new_cid()
        start = len(a.frames)
        await a.send({"type": "send", "room": room, "body": held_body, "cid": cid})
        held = await a.wait_frame("confirm", start=start, cid=cid)
        assert held["kinds"] == ["phone"], held
        posted = await a.post(room, held_body, cid=cid, confirm_phi=True)
        assert posted["type"] == "ack", posted
        await n.wait_frame("alert", kind="crisis", message_id=posted["id"])
        await a.wait_frame("resources", message_id=posted["id"])
        assert _alert_ids(n) == [ack["id"], posted["id"]], frames_of(n, "alert")
        assert [f["message_id"] for f in frames_of(a, "resources")] == [ack["id"], posted["id"]]
    finally:
        await close_all(n, a, r)


# Everyday cancer talk and the false friends listed in rooms/data/crisis_phrases.txt.
NOT_CRISIS = [
    "I don't want to die, I want to see my grandson graduate.",
    "When the time comes I want to die at home, in my own bed.",
    "That comedian had me killing myself laughing.",
    "My oncologist mentioned a suicide gene therapy trial.",
    "I can't go on the trial until my counts recover.",
    "Careful not to overdose on Tylenol with this one.",
    "I overdosed on kindness at the bake sale.",
    "I cut myself shaving this morning, my platelets are low.",
    "This chemo is killing me, but the scan was good.",
    "I'm dying to know how your results came out!",
    "We watched The Suicide Squad and laughed a lot.",
]


async def test_false_friends_and_everyday_talk_raise_no_alert(redis_cluster: Deployment, teams: Teams) -> None:
    dep = redis_cluster
    org, nav = teams.of(dep, ORG_B)
    room = org.lounge
    author = dep.register(org=org.key)
    n = await connect(dep, nav, 1)
    a = await connect(dep, author, 2, room)
    try:
        await set_duty_ok(n, True)
        acks = [await a.post(room, body, cid=new_cid()) for body in NOT_CRISIS]
        assert all(x["type"] == "ack" for x in acks), acks
        # The barrier: a real one, posted last, is alerted.
        real = await a.post(room, "Honestly I have nothing to live for anymore.", cid=new_cid())
        await n.wait_frame("alert", kind="crisis", message_id=real["id"])
        await a.wait_frame("resources", message_id=real["id"])
        assert _alert_ids(n) == [real["id"]], [f for f in n.frames if f.get("type") == "alert"]
        assert [f["message_id"] for f in frames_of(a, "resources")] == [real["id"]]
    finally:
        await close_all(n, a)


async def test_alerts_reach_only_on_duty_staff_of_that_room(redis_cluster: Deployment, teams: Teams) -> None:
    dep = redis_cluster
    national = "pancreatic-cancer"
    org_a, local_nav = teams.of(dep)  # org A's local rooms; not assigned to the national room
    org_b, nav_b = teams.of(dep, ORG_B)  # org B's local rooms ...
    dep.cli("user", "assign", nav_b.handle, national)  # ... and the national room
    (toggled,) = await make_staff_many(dep, (org_a.key, "navigator", (national,)))  # will go off duty
    author, author_b = dep.register(org=org_a.key), dep.register(org=org_b.key)
    staff = [await connect(dep, s, i) for i, s in enumerate((nav_b, local_nav, toggled))]
    s_b, s_local, s_toggled = staff
    a = await connect(dep, author, 0, national, org_a.lounge)
    ab = await connect(dep, author_b, 1, org_b.lounge)
    try:
        for c in staff:
            await set_duty_ok(c, True)
        await set_duty_ok(s_toggled, False)

        national_crisis = await a.post(national, "I keep thinking everyone would be better off without me.", cid=new_cid())
        local_crisis = await a.post(org_a.lounge, "I want to end my life.", cid=new_cid())
        await s_b.wait_frame("alert", message_id=national_crisis["id"])  # another org, assigned
        await s_local.wait_frame("alert", message_id=local_crisis["id"])

        # Barriers: a crisis in org B's lounge reaches org B's navigator ...
        b_crisis = await ab.post(org_b.lounge, "I am thinking about suicide.", cid=new_cid())
        await s_b.wait_frame("alert", message_id=b_crisis["id"])
        # ... and the off-duty one, back on duty, is alerted to the next national crisis.
        await set_duty_ok(s_toggled, True)
        later = await a.post(national, "I want to die.", cid=new_cid())
        await s_b.wait_frame("alert", message_id=later["id"])
        await s_toggled.wait_frame("alert", message_id=later["id"])

        # Org B's navigator: never org A's local room.
        assert sorted(_alert_ids(s_b)) == sorted([national_crisis["id"], b_crisis["id"], later["id"]])
        # Off duty: nothing, neither for the national room nor for org A's lounge.
        assert _alert_ids(s_toggled) == [later["id"]]
        # Org A's local navigator: its lounge, not the national room it is not assigned to.
        assert _alert_ids(s_local) == [local_crisis["id"]]
    finally:
        await close_all(a, ab, *staff)


async def test_a_report_alerts_on_duty_staff_and_waits_in_the_queue(deployment: Deployment, teams: Teams) -> None:
    dep = deployment
    org, nav = teams.of(dep)
    other = default_org(ORG_B)
    room = org.lounge
    author, reporter = dep.register(org=org.key), dep.register(org=org.key)
    outsider = dep.register(org=other.key)
    last = len(dep.gateways) - 1
    n = await connect(dep, nav, last)
    a = await connect(dep, author, 0, room)
    try:
        started = now_ms()
        await set_duty_ok(n, True)
        ack = await a.post(room, "DM me for a miracle cure, only $99.", cid=new_cid())
        await wait_stored(dep, reporter.token, room, ack["seq"])
        reason = "This looks like a scam."
        path = f"/api/messages/{ack['id']}/report"
        for bad in ({"reason": ""}, {"reason": "x" * 501}, {}, {"reason": reason, "extra": 1}):
            r = await api(dep, "POST", path, reporter.token, json=bad)
            assert r.status_code == 400 and r.json()["error"] == "invalid_request", (bad, r.text)
        r = await api(dep, "POST", path, outsider.token, json={"reason": reason})
        assert r.status_code == 404, r.text  # another organization's room is not visible

        r = await api(dep, "POST", path, reporter.token, gateway=0, json={"reason": reason})
        assert r.status_code == 201, r.text
        item_id = r.json()["item"]
        again = await api(dep, "POST", path, reporter.token, gateway=1, json={"reason": reason})
        assert again.status_code == 200 and again.json()["item"] == item_id, again.text

        alert = await n.wait_frame("alert", kind="report", message_id=ack["id"])
        assert alert["room"] == room and alert["item"] == item_id and alert["reason"] == reason, alert
        # The reported member is never told who reported them (nor that they were).
        assert not any(reporter.id in str(f) or reporter.handle in str(f) for f in a.frames)

        q = await api(dep, "GET", "/api/moderation/queue", nav.token, params={"status": "open", "room": room})
        assert q.status_code == 200, q.text
        items = [i for i in q.json()["items"] if i["id"] == item_id]
        assert len(items) == 1, q.json()
        item = items[0]
        assert item["kind"] == "report" and item["room"] == room and item["reason"] == reason, item
        assert item["reporter"] == view(reporter) and item["status"] == "open", item
        assert item["message"]["id"] == ack["id"] and item["message"]["author"] == view(author), item
        assert item["resolved_by"] is None and item["note"] is None, item

        for who in (reporter, author):
            denied = await api(dep, "GET", "/api/moderation/queue", who.token)
            assert denied.status_code == 403, denied.text
            forbidden_reason(denied)

        done = await api(dep, "POST", f"/api/moderation/queue/{item_id}/resolve", nav.token, json={"note": "Removed and talked to them."})
        assert done.status_code == 200, done.text
        resolved = done.json()
        resolved = resolved.get("item", resolved)
        assert resolved["status"] == "resolved" and resolved["resolved_by"] == view(nav, "navigator"), resolved
        assert resolved["note"] == "Removed and talked to them."
        open_now = await api(dep, "GET", "/api/moderation/queue", nav.token, params={"status": "open", "room": room})
        assert item_id not in [i["id"] for i in open_now.json()["items"]]
        closed = await api(dep, "GET", "/api/moderation/queue", nav.token, params={"status": "resolved", "room": room})
        assert item_id in [i["id"] for i in closed.json()["items"]]
        bad_note = await api(dep, "POST", f"/api/moderation/queue/{item_id}/resolve", nav.token, json={"note": "n" * 501})
        assert bad_note.status_code == 400, bad_note.text

        entries = await audit(dep, nav.token)
        resolve = next(e for e in entries if "resolve" in str(e["action"]))
        check_audit_entry(resolve, nav, "navigator", None, started)
        assert resolve["message"] in (ack["id"], None), resolve
    finally:
        await close_all(n, a)


async def test_a_report_waits_in_the_queue_with_nobody_on_duty(redis_cluster: Deployment, teams: Teams) -> None:
    dep = redis_cluster
    org, nav = teams.of(dep)
    author, reporter = dep.register(org=org.key), dep.register(org=org.key)
    a = await connect(dep, author, 2, org.lounge)
    n = await connect(dep, nav, 1)  # connected but off duty
    try:
        ack = await a.post(org.lounge, "Buy my supplements, link in profile.", cid=new_cid())
        await wait_stored(dep, reporter.token, org.lounge, ack["seq"])
        r = await api(dep, "POST", f"/api/messages/{ack['id']}/report", reporter.token, json={"reason": "spam"})
        assert r.status_code == 201, r.text
        q = await api(
            dep, "GET", "/api/moderation/queue", nav.token, gateway=2, params={"status": "open", "room": org.lounge}
        )
        assert r.json()["item"] in [i["id"] for i in q.json()["items"]], q.text
        # Barrier: on duty now, the next report is alerted, and only that one.
        await set_duty_ok(n, True)
        second = await a.post(org.lounge, "Also: crypto tips, DM me.", cid=new_cid())
        await wait_stored(dep, reporter.token, org.lounge, second["seq"])
        r2 = await api(dep, "POST", f"/api/messages/{second['id']}/report", reporter.token, json={"reason": "spam"})
        assert r2.status_code == 201, r2.text
        await n.wait_frame("alert", kind="report", message_id=second["id"])
        assert [f["message_id"] for f in frames_of(n, "alert")] == [second["id"]]
    finally:
        await close_all(a, n)


async def test_an_author_who_leaves_right_after_the_ack_still_raises_the_alert(
    deployment: Deployment, teams: Teams
) -> None:
    """The crisis check runs after the ack; a frightened member who closes the page at once
    must not take the navigators' alert with them (the connection's end must not cancel it)."""
    dep = deployment
    org, nav = teams.of(dep)
    room = org.lounge
    n = await connect(dep, nav, 0)
    try:
        await set_duty_ok(n, True)
        ids = []
        for _ in range(3):
            author = dep.register(org=org.key)
            a = await connect(dep, author, len(dep.gateways) - 1, room)
            ack = await a.post(room, "I want to end it all tonight.", cid=new_cid())
            assert ack["type"] == "ack", ack
            await a.close()  # at once, while the checks after the ack are under way
            ids.append(ack["id"])
        for message_id in ids:
            alert = await n.wait_frame("alert", kind="crisis", message_id=message_id)
            assert alert["room"] == room
    finally:
        await close_all(n)
