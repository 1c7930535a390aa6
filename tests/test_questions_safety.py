"""A crisis phrase in a question to an expert reaches the navigators as one in a message does
(docs/questions.md §1, docs/protocol.md §9): queued in the safety queue as an item about the
question, alerted to the on-duty navigators of the venue's community on any gateway, and the
asker is shown the crisis resources with ``alerted``. Advance (HTTP) and live (``ask`` frame),
embedded (SQLite) and on three gateways (Redis, PostgreSQL). An anonymous asker stays "a
member" in the alert and the queue; the item links to the question, never to who asked.

"No alert" is checked after a barrier: a later crisis question the same connection must be
alerted to (alerts are published in order), so an absence is not a matter of luck.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from support.cluster import Deployment, Member
from support.moderation import (
    Teams,
    api,
    close_all,
    connect,
    frames_of,
    fresh_org,
    make_staff,
    set_duty_ok,
    view,
)
from support.questions import ask_http, ask_ws, go_live, ok, schedule, sign_up

LIVE_BOUND_S = 2.0
CRISIS = "I want to end my life, is that normal during chemo?"
ANONYMOUS = {"anonymous": True, "handle": "a member"}


@pytest.fixture(scope="module")
def teams() -> Teams:
    return Teams()


def _question_alerts(frames: list[dict[str, Any]]) -> list[str]:
    return [f["question"] for f in frames if f.get("type") == "alert" and "question" in f]


def _leaks(payload: object, who: Member) -> bool:
    text = json.dumps(payload)
    return who.id in text or who.handle in text


async def _queue(dep: Deployment, staff: Member, room: str, status: str = "open") -> list[dict[str, Any]]:
    r = await api(dep, "GET", "/api/moderation/queue", staff.token, params={"status": status, "room": room})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_a_crisis_question_reaches_the_safety_queue_and_the_duty_alerts(
    deployment: Deployment, teams: Teams
) -> None:
    dep = deployment
    org, host = teams.of(dep)
    last = len(dep.gateways) - 1
    duty = await asyncio.to_thread(make_staff, dep, org.key)
    asker, reader = dep.register(org=org.key, gateway=last), dep.register(org=org.key)
    w = await schedule(dep, host, org.lounge)
    await sign_up(dep, w, [asker, reader])
    n = await connect(dep, duty, last)
    try:
        await set_duty_ok(n, True)

        # In advance, over HTTP, anonymous: posted (pending review) and the asker is shown
        # where help is, told truthfully that a navigator on duty was alerted.
        advance = await ask_http(dep, asker, w, CRISIS, "crisis-advance", anonymous=True, gateway=0)
        assert advance["status"] == "pending", advance
        assert advance["resources"]["alerted"] is True and advance["resources"]["text"], advance
        alert = await n.wait_frame("alert", LIVE_BOUND_S, kind="crisis", question=advance["id"])
        assert alert["room"] == org.lounge and alert["event"] == w.id and isinstance(alert["item"], int), alert
        assert alert["author"] == ANONYMOUS and "message_id" not in alert, alert
        assert not _leaks(alert, asker), alert

        # A retried cid is the same question: queued and alerted once.
        again = ok(await api(dep, "POST", f"/api/events/{w.id}/questions", asker.token, gateway=1,
                             json={"body": CRISIS, "cid": "crisis-advance", "anonymous": True}))
        assert again["duplicate"] is True and again["id"] == advance["id"]

        # In the queue, in plain words: the question, its session, "a member"; no message.
        items = await _queue(dep, duty, org.lounge)
        item = next(i for i in items if i["id"] == alert["item"])
        assert item["kind"] == "crisis" and item["room"] == org.lounge and item["status"] == "open", item
        assert item["message"] is None and item["reporter"] is None, item
        q = item["question"]
        assert (q["id"], q["body"], q["author"], q["event"], q["status"]) == (
            advance["id"], CRISIS, ANONYMOUS, w.id, "pending"), q
        assert q["title"] == "Nutrition during chemotherapy"
        assert not _leaks(item, asker), item

        # Live, over the socket, with a name: the ack carries the resources, the navigator
        # is alerted on their gateway; an everyday question before it raises nothing.
        await go_live(dep, host, w)
        a = await connect(dep, asker, 0, w.room)
        r = await connect(dep, reader, 1, w.room)
        everyday = await ask_ws(a, w.id, "Is ginger tea safe during chemo?", "everyday-1")
        assert everyday["type"] == "ack" and "resources" not in everyday["question"], everyday
        live = await ask_ws(a, w.id, "Some days I just want to end it all.", "crisis-live")
        assert live["type"] == "ack" and live["question"]["resources"]["alerted"] is True, live
        live_alert = await n.wait_frame("alert", LIVE_BOUND_S, kind="crisis", question=live["question"]["id"])
        assert live_alert["author"] == {"anonymous": False, **view(asker)}, live_alert
        assert _question_alerts(n.frames) == [advance["id"], live["question"]["id"]], frames_of(n, "alert")

        # Only staff on duty are alerted; the other member sees neither alert nor resources.
        assert frames_of(a, "alert") == [] and frames_of(r, "alert") == [] and frames_of(r, "resources") == []

        # A navigator does not triage their own question: the duty navigator asks one; it
        # is queued for the host (also a navigator of the room), not alerted to its author.
        own = await ask_http(dep, duty, w, "I can't go on like this.", "crisis-own")
        mine = await _queue(dep, duty, org.lounge)
        assert own["id"] not in [i["question"]["id"] for i in mine if i["question"]], mine
        assert {advance["id"], live["question"]["id"]} <= {i["question"]["id"] for i in mine if i["question"]}
        host_items = await _queue(dep, host, org.lounge)
        own_item = next(i for i in host_items if i["question"] and i["question"]["id"] == own["id"])
        refused = await api(dep, "POST", f"/api/moderation/queue/{own_item['id']}/resolve", duty.token, json={})
        assert refused.status_code == 404, refused.text

        # Resolved like any item; audited with the question named.
        done = ok(await api(dep, "POST", f"/api/moderation/queue/{item['id']}/resolve", duty.token,
                            json={"note": "Called the member."}, gateway=last))
        assert done["status"] == "resolved" and done["question"]["id"] == advance["id"], done
        assert item["id"] not in [i["id"] for i in await _queue(dep, duty, org.lounge)]
        audit = ok(await api(dep, "GET", "/api/moderation/audit", duty.token, params={"room": org.lounge}))
        entry = next(e for e in audit["entries"] if e["action"] == "resolve" and advance["id"] in e["detail"])
        assert entry["user"] is None and not _leaks(entry, asker), entry

        # Barrier: a later crisis question is alerted, so the duty navigator's own was not.
        later = await ask_http(dep, reader, w, "I am thinking about suicide.", "crisis-later", gateway=1)
        await n.wait_frame("alert", LIVE_BOUND_S, question=later["id"])
        assert _question_alerts(n.frames) == [advance["id"], live["question"]["id"], later["id"]]
        await close_all(a, r)
    finally:
        await close_all(n)


async def test_a_crisis_question_is_queued_with_nobody_on_duty(deployment: Deployment, teams: Teams) -> None:
    """The queue survives everyone being off duty, and the asker is not promised a navigator."""
    dep = deployment
    org = await asyncio.to_thread(fresh_org, dep)  # nobody moderating its rooms has ever been on duty
    _, host = await asyncio.to_thread(teams.of, dep, org.key)
    asker = dep.register(org=org.key)
    w = await schedule(dep, host, org.lounge)
    asked = await ask_http(dep, asker, w, "Everyone would be better off without me.", "crisis-alone")
    assert asked["resources"]["alerted"] is False, asked
    items = await _queue(dep, host, org.lounge)
    assert [i["question"]["author"] for i in items if i["question"] and i["question"]["id"] == asked["id"]] == [
        {"anonymous": False, **view(asker)}]

    # An Ask the Expert topic's question is queued the same way, pointing at its topic.
    now = datetime.now(UTC)
    topic = ok(await api(dep, "POST", "/api/ask-the-expert", host.token, json={
        "room": org.lounge, "title": "Living with scanxiety", "description": "A psychologist answers.",
        "opens_at": (now - timedelta(hours=1)).isoformat(), "closes_at": (now + timedelta(days=1)).isoformat(),
        "experts": [host.id]}), 201)
    r = await api(dep, "POST", f"/api/ask-the-expert/{topic['id']}/questions", asker.token, gateway=last_gateway(dep),
                  json={"body": "I keep thinking about suicide before every scan.", "cid": "crisis-topic", "anonymous": True})
    assert r.status_code == 201 and r.json()["resources"]["alerted"] is False, r.text
    item = next(i for i in await _queue(dep, host, org.lounge) if i["question"] and i["question"]["id"] == r.json()["id"])
    assert (item["question"]["topic"], item["question"]["title"], item["question"]["author"]) == (
        topic["id"], "Living with scanxiety", ANONYMOUS), item
    assert not _leaks(item, asker)


def last_gateway(dep: Deployment) -> int:
    return len(dep.gateways) - 1
