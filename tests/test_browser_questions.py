"""Questions in the page (Chromium): a member asks anonymously and sees it awaiting review; the
host approves, pins and answers from the queue; the member's screen reader hears the pinned
question and the answer to their question. Ask the Expert: open topics and the answered
archive. Every screen axe-clean and usable at 320 px.

Set KINDRED_SCREENSHOTS_DIR to also photograph the question panel and the host's queue.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import Page, expect

from support.browser import Browsers, member_in, no_horizontal_scroll, open_room, run_axe, shoot
from support.cluster import ORG_A, ORG_B, Deployment, Member
from support.http import TLS
from support.moderation import default_org

NARROW = {"width": 320, "height": 700}


def call(dep: Deployment, method: str, path: str, who: Member, json: object = None) -> dict[str, object]:
    with httpx.Client(verify=TLS, base_url=dep.gateways[0].http_url, timeout=30) as http:
        r = http.request(method, path, json=json, headers={"Authorization": f"Bearer {who.token}"})
    assert r.status_code in (200, 201), r.text
    found: dict[str, object] = r.json()
    return found


def announced(page: Page) -> object:
    return page.locator("#announcer")


def clean(page: Page) -> None:
    assert run_axe(page) == []
    page.set_viewport_size(NARROW)
    assert no_horizontal_scroll(page)
    page.set_viewport_size({"width": 1280, "height": 800})


def test_question_panel_and_host_queue(site: Deployment, web: Browsers) -> None:
    dep = site
    host = member_in(dep, ORG_A, prefix="host")
    dep.cli("user", "role", host.handle, "navigator")
    member = member_in(dep, ORG_A)
    start = datetime.now(UTC) + timedelta(hours=1)
    event = call(dep, "POST", "/api/events", host, {
        "room": default_org(ORG_A).lounge, "kind": "webinar", "title": "Eating well during chemotherapy",
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat(), "tz": "UTC",
    })
    eid = str(event["id"])
    call(dep, "PUT", f"/api/events/{eid}/signup", member)
    for state in ("lobby", "live"):
        call(dep, "POST", f"/api/events/{eid}/state", host, {"state": state})

    m, hst = web.person(member=member), web.person(member=host)
    # From the session's page to its questions.
    m.page.goto(f"/#/sessions/{eid}")
    m.page.get_by_role("link", name="Questions for the experts").click()
    expect(m.page.get_by_role("heading", level=1)).to_have_text("Questions: Eating well during chemotherapy")
    m.page.get_by_label("Your question").fill("Is it safe to eat sushi during chemo?")
    m.page.get_by_label("Ask without showing my name").check()
    m.page.get_by_role("button", name="Ask", exact=True).click()
    expect(m.page.get_by_role("status").filter(has_text="waiting for the host")).to_be_visible()
    mine = m.page.locator("li.question", has_text="Is it safe to eat sushi")
    expect(mine).to_contain_text("Awaiting review")
    expect(mine).to_contain_text("You (shown as “a member”)")
    clean(m.page)
    shoot(m.page, "questions")

    # The host's queue: the question awaits review, shown as from "A member".
    hst.page.goto(f"/#/event/{eid}/questions")
    queue = hst.page.get_by_role("region", name="Awaiting review")
    item = queue.locator("li.question", has_text="Is it safe to eat sushi")
    expect(item).to_contain_text("A member")
    clean(hst.page)
    shoot(hst.page, "questions-host-queue")
    item.get_by_role("button", name="Approve").click()
    expect(mine).not_to_contain_text("Awaiting review")

    # Pinned: highlighted, and announced to the member.
    listed = hst.page.get_by_role("region", name="Questions").locator("li.question", has_text="Is it safe to eat sushi")
    listed.get_by_role("button", name="Pin").click()
    expect(mine).to_contain_text("Being answered now")
    expect(announced(m.page)).to_contain_text("Now being answered: Is it safe to eat sushi during chemo?")

    # Answered in writing: the member hears that their question was answered.
    listed.get_by_role("button", name="Answer").click()
    listed.get_by_label("Written answer (optional)").fill("Choose cooked sushi while your counts are low.")
    listed.get_by_role("button", name="Mark answered").click()
    expect(mine).to_contain_text("Choose cooked sushi while your counts are low.")
    expect(announced(m.page)).to_contain_text("Your question was answered")
    clean(m.page)
    web.assert_clean()


def test_ask_the_expert_pages(site: Deployment, web: Browsers) -> None:
    dep = site
    nav = member_in(dep, ORG_A, prefix="nav")
    dep.cli("user", "role", nav.handle, "navigator")
    expert = member_in(dep, ORG_A, prefix="exp")
    dep.cli("user", "role", expert.handle, "expert")
    member = member_in(dep, ORG_A)
    now = datetime.now(UTC)
    topic = call(dep, "POST", "/api/ask-the-expert", nav, {
        "room": default_org(ORG_A).lounge, "title": "Fatigue after radiotherapy",
        "description": "Our oncology nurse answers at the end of the month.",
        "opens_at": (now - timedelta(days=1)).isoformat(), "closes_at": (now + timedelta(days=29)).isoformat(),
        "experts": [expert.id],
    })
    m = web.person(member=member)
    m.page.goto("/#/experts")
    open_now = m.page.get_by_role("region", name="Open for questions")
    expect(open_now.get_by_role("link", name="Fatigue after radiotherapy")).to_be_visible()
    clean(m.page)
    shoot(m.page, "ask-the-expert")
    open_now.get_by_role("link", name="Fatigue after radiotherapy").click()
    expect(m.page.get_by_role("heading", level=1)).to_have_text("Fatigue after radiotherapy")
    m.page.get_by_label("Your question").fill("Why am I more tired weeks after the last session?")
    m.page.get_by_role("button", name="Ask", exact=True).click()
    expect(m.page.locator("li.question", has_text="Why am I more tired")).to_be_visible()
    assert topic["state"] == "open"
    clean(m.page)
    web.assert_clean()


def test_a_crisis_question_reaches_the_navigator_on_duty_and_the_safety_queue(site: Deployment, web: Browsers) -> None:
    """As a crisis message does: the asker sees where help is; the navigator on duty is alerted
    away from the room, with a way to the question; the safety queue shows it in plain words
    and never who asked anonymously."""
    dep = site
    nav = member_in(dep, ORG_B, prefix="nav")
    dep.cli("user", "role", nav.handle, "navigator")
    member = member_in(dep, ORG_B)
    start = datetime.now(UTC) + timedelta(hours=2)
    event = call(dep, "POST", "/api/events", nav, {
        "room": default_org(ORG_B).lounge, "kind": "webinar", "title": "Sleep and cancer fatigue",
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat(), "tz": "UTC",
    })
    eid = str(event["id"])
    n, m = web.person(member=nav), web.person(member=member)
    open_room(n.page, default_org(ORG_B).lounge)
    panel = n.page.get_by_role("region", name="Moderation")
    panel.get_by_label("I am on duty: alert me to crisis messages and reports").check()
    expect(panel).to_contain_text("You are on duty.")
    n.page.get_by_role("link", name="Rooms", exact=True).click()

    m.page.goto(f"/#/event/{eid}/questions")
    m.page.get_by_label("Your question").fill("I want to end my life, will the tiredness ever stop?")
    m.page.get_by_label("Ask without showing my name").check()
    m.page.get_by_role("button", name="Ask", exact=True).click()
    card = m.page.get_by_role("region", name="You are not alone")
    expect(card).to_contain_text("A navigator on duty has been told about your question")
    expect(announced(m.page)).to_contain_text("You are not alone")

    banner = n.page.locator("#alerts")
    expect(banner).to_contain_text("A question to the experts may be from someone in crisis")
    n.page.get_by_role("navigation", name="Main").get_by_role("link", name="Safety queue").click()
    entry = n.page.locator(".safety li", has_text="will the tiredness ever stop")
    expect(entry).to_contain_text("Possible crisis")
    expect(entry).to_contain_text("A question to the experts for “Sleep and cancer fatigue” (awaiting review)")
    expect(entry).to_contain_text("Asked by a member who chose not to show their name")
    assert member.handle not in n.page.content()
    clean(n.page)
    shoot(n.page, "questions-safety-queue")
    entry.get_by_role("link", name="Open the question").click()
    expect(n.page.get_by_role("region", name="Awaiting review").locator("li.question")).to_contain_text(
        "will the tiredness ever stop")
    web.assert_clean()
