"""The host's side of questions in the page (Chromium): the review setting of a session
(``moderated_questions``) changed from the host's page, and a host's half-written answer kept,
with the cursor in it, while live frames (a member's vote) re-render the list. Embedded, then
two gateways on Redis; axe-clean and usable at 320 px.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import Page, expect

from support.browser import Browsers, member_in, no_horizontal_scroll, run_axe
from support.cluster import ORG_A, Deployment, Member
from support.http import TLS
from support.moderation import default_org

NARROW = {"width": 320, "height": 700}


def call(dep: Deployment, method: str, path: str, who: Member, json: object = None, gateway: int = 0) -> dict[str, object]:
    with httpx.Client(verify=TLS, base_url=dep.gateways[gateway % len(dep.gateways)].http_url, timeout=30) as http:
        r = http.request(method, path, json=json, headers={"Authorization": f"Bearer {who.token}"})
    assert r.status_code in (200, 201), r.text
    found: dict[str, object] = r.json()
    return found


def clean(page: Page) -> None:
    assert run_axe(page) == []
    page.set_viewport_size(NARROW)
    assert no_horizontal_scroll(page)
    page.set_viewport_size({"width": 1280, "height": 800})


def webinar(dep: Deployment, host: Member, title: str, live: bool) -> str:
    start = datetime.now(UTC) + timedelta(hours=1)
    event = call(dep, "POST", "/api/events", host, {
        "room": default_org(ORG_A).lounge, "kind": "webinar", "title": title,
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat(), "tz": "UTC",
    })
    eid = str(event["id"])
    if live:
        for state in ("lobby", "live"):
            call(dep, "POST", f"/api/events/{eid}/state", host, {"state": state})
    return eid


def host_of(dep: Deployment) -> Member:
    host = member_in(dep, ORG_A, prefix="host")
    dep.cli("user", "role", host.handle, "navigator")
    return host


def test_the_host_turns_the_review_of_questions_off_and_on(site: Deployment, web: Browsers) -> None:
    dep = site
    host, member = host_of(dep), member_in(dep, ORG_A)
    eid = webinar(dep, host, "Managing nausea at home", live=False)
    hst, m = web.person(member=host), web.person(member=member)

    hst.page.goto(f"/#/event/{eid}/questions")
    review = hst.page.get_by_label("Review new questions before everyone sees them")
    expect(review).to_be_checked()  # webinars are reviewed by default
    clean(hst.page)
    review.uncheck()
    expect(hst.page.get_by_role("status").filter(has_text="New questions appear to everyone at once.")).to_be_visible()
    expect(review).not_to_be_checked()
    assert call(dep, "GET", f"/api/events/{eid}/questions", host, gateway=1)["moderated"] is False

    # A member's question now appears at once, and the member has no such control.
    m.page.goto(f"/#/event/{eid}/questions")
    expect(m.page.get_by_label("Your question")).to_be_visible()
    expect(m.page.get_by_label("Review new questions before everyone sees them")).to_be_hidden()
    m.page.get_by_label("Your question").fill("Does ginger help with nausea?")
    m.page.get_by_role("button", name="Ask", exact=True).click()
    expect(m.page.get_by_role("status").filter(has_text="Your question is in the list.")).to_be_visible()

    # Back on: the next question waits for review again; the setting survives a reload.
    review.check()
    expect(hst.page.get_by_role("status").filter(has_text="New questions wait for your review")).to_be_visible()
    hst.page.reload()
    expect(hst.page.get_by_label("Review new questions before everyone sees them")).to_be_checked()
    m.page.get_by_label("Your question").fill("And peppermint tea?")
    m.page.get_by_role("button", name="Ask", exact=True).click()
    expect(m.page.get_by_role("status").filter(has_text="waiting for the host")).to_be_visible()
    clean(hst.page)
    web.assert_clean()


def test_a_half_written_answer_survives_a_live_vote(site: Deployment, web: Browsers) -> None:
    dep = site
    host, asker, voter = host_of(dep), member_in(dep, ORG_A), member_in(dep, ORG_A, prefix="v")
    eid = webinar(dep, host, "Exercise during treatment", live=True)
    call(dep, "PUT", f"/api/events/{eid}/questions/settings", host, {"moderated": False})
    q = call(dep, "POST", f"/api/events/{eid}/questions", asker, {"body": "Can I swim during chemo?", "cid": "swim-1"})
    qid = str(q["id"])

    hst = web.person(member=host)
    hst.page.goto(f"/#/event/{eid}/questions")
    listed = hst.page.get_by_role("region", name="Questions").locator("li.question", has_text="Can I swim")
    expect(listed).to_contain_text("0 votes")
    listed.get_by_role("button", name="Answer").click()
    field = listed.get_by_label("Written answer (optional)")
    expect(field).to_be_focused()
    field.press_sequentially("Usually yes, once your line")

    # Another member votes (on the other gateway): the host's list is re-rendered live ...
    call(dep, "PUT", f"/api/questions/{qid}/vote", voter, gateway=1)
    expect(listed).to_contain_text("1 vote")
    # ... and the half-written answer is still there, with the cursor at its end.
    expect(field).to_have_value("Usually yes, once your line")
    expect(field).to_be_focused()
    field.press_sequentially(" is covered.")
    expect(field).to_have_value("Usually yes, once your line is covered.")
    clean(hst.page)
    listed.get_by_role("button", name="Mark answered").click()
    expect(listed).to_contain_text("Usually yes, once your line is covered.")
    expect(listed.get_by_label("Written answer (optional)")).to_have_count(0)
    web.assert_clean()
