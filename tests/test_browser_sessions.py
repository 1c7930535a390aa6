"""Sessions in the page (Chromium): a navigator schedules a drop-in, a member signs up, the
lobby opens and the member is told, they talk in the live room, the navigator ends it and
publishes the archive, which the member reads. Every screen axe-clean, usable at 320 px."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import Page, expect

from support.browser import ROOMS_A, Browsers, member_in, no_horizontal_scroll, run_axe, say
from support.cluster import ORG_A, Deployment, Member
from support.http import TLS


def navigator_of(dep: Deployment) -> Member:
    nav = member_in(dep, ORG_A, prefix="nav")
    dep.cli("user", "role", nav.handle, "navigator")
    return nav


def clean(page: Page, name: str) -> None:
    violations = run_axe(page)
    assert violations == [], f"{name}: {violations}"


def test_schedule_sign_up_lobby_live_archive(site: Deployment, web: Browsers) -> None:
    nav, mem = navigator_of(site), member_in(site, ORG_A)
    n, m = web.person(member=nav), web.person(member=mem)
    title = f"Caregivers' drop-in {mem.handle[-4:]}"

    # The navigator schedules a drop-in in her organization's lounge.
    n.page.goto("/#/sessions")
    expect(n.page.get_by_role("heading", level=1, name="Sessions")).to_be_visible()
    form = n.page.get_by_role("form", name="Schedule a session")
    form.get_by_label("Community").select_option(value=ROOMS_A[0])
    form.get_by_label("Title").fill(title)
    form.get_by_label("Description").fill("A calm hour with a social worker.")
    start = (datetime.now() + timedelta(hours=2)).replace(second=0, microsecond=0)
    form.get_by_label("Starts").fill(start.strftime("%Y-%m-%dT%H:%M"))
    form.get_by_label(re.compile("^Places")).fill("2")
    clean(n.page, "sessions, staff")
    form.get_by_role("button", name="Schedule").click()
    expect(n.page.get_by_role("heading", level=1, name=title)).to_be_visible()
    expect(n.page.locator(".session-status")).to_contain_text("Starts in about 2 hours")
    clean(n.page, "session, host")

    # The member finds it, in their own time zone, and signs up.
    m.page.goto("/#/sessions")
    card = m.page.locator(".session-card").filter(has_text=title)
    expect(card).to_contain_text("Drop-in")
    expect(card.locator("time")).to_contain_text(start.strftime("%-d"))
    clean(m.page, "sessions, member")
    card.get_by_role("link", name=title).click()
    m.page.get_by_role("button", name="Sign up").click()
    expect(m.page.get_by_text("You are signed up.")).to_be_visible()
    expect(m.page.get_by_text("1 of 2 places taken.")).to_be_visible()
    ics = m.page.get_by_role("link", name="Add to my calendar")
    expect(ics).to_have_attribute("href", re.compile(r"^/api/events/[0-9a-f]{16}/calendar\.ics$"))
    clean(m.page, "session, member")

    # The navigator opens the lobby: the member's page changes by itself and says so.
    n.page.reload()
    n.page.get_by_role("button", name="Open the lobby").click()
    expect(m.page.locator(".session-status")).to_have_text("Lobby open.")
    expect(m.page.locator("#announcer")).to_contain_text("The lobby is open.")
    m.page.get_by_role("link", name="Go to the lobby").click()
    say(m.page, "Hello, this is my first time here.")

    # Live, then ended: the member in the room hears each change.
    n.page.get_by_role("button", name="Start").click()
    expect(m.page.locator("#announcer")).to_contain_text("This session is now live.")
    say(m.page, "Thank you for having me.")
    n.page.get_by_role("button", name="End the session").click()
    expect(m.page.locator("#announcer")).to_contain_text("This session is now ended.")
    # Hosts see the transcript before publishing it.
    expect(n.page.get_by_role("region", name="Archive")).to_contain_text("Thank you for having me.")
    n.page.get_by_role("button", name="Publish the archive").click()
    expect(n.page.locator(".session-status")).to_have_text("Archive available.")

    # The member reads the archive, in order.
    m.page.go_back()
    archive = m.page.get_by_role("region", name="Archive")
    expect(archive.locator(".message__body")).to_have_text(
        ["Hello, this is my first time here.", "Thank you for having me."])
    clean(m.page, "archive")
    web.assert_clean()


def test_sessions_screens_fit_a_phone(site: Deployment, web: Browsers) -> None:
    nav, mem = navigator_of(site), member_in(site, ORG_A)
    start = datetime.now(UTC) + timedelta(days=1)
    made = httpx.post(verify=TLS, url=f"{site.gateways[0].http_url}/api/events", headers={"Authorization": f"Bearer {nav.token}"}, json={
        "room": ROOMS_A[1], "kind": "webinar", "title": "Eating well during chemotherapy, with an oncology dietitian",
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat(),
        "audience_mode": "hosts_only", "description": "Bring your questions.",
    })
    assert made.status_code == 201, made.text
    p = web.person(viewport={"width": 320, "height": 640}, member=mem)
    p.page.goto("/#/sessions")
    expect(p.page.get_by_role("heading", level=1, name="Sessions")).to_be_visible()
    expect(p.page.get_by_role("heading", name="My sessions")).to_be_visible()
    assert no_horizontal_scroll(p.page)
    clean(p.page, "sessions at 320 px")
    p.page.get_by_role("link", name=made.json()["title"]).click()
    expect(p.page.locator(".session-status")).to_contain_text("Starts in")
    p.page.get_by_role("button", name="Sign up").click()
    expect(p.page.get_by_text("You are signed up.")).to_be_visible()
    assert no_horizontal_scroll(p.page)
    clean(p.page, "session at 320 px")
    web.assert_clean()
