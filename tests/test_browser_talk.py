"""A private talk with a navigator in the page (Chromium), embedded and on two gateways: a
member asks from a room (by keyboard, at 320 px) and sees their place; a navigator on duty sees
the request arrive in their queue, read out politely, with the count in the menu; after the
wait the member is shown the numbers to call and keeps waiting; stopping takes the request out
of the navigator's queue; a navigator told of a request on another screen takes it, and both
are taken into their private conversation and talk there.
Every screen axe-clean and without sideways scrolling.

Set KINDRED_SCREENSHOTS_DIR to also photograph the member waiting, the navigator's queue and
the conversation that opens.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from support.browser import Browsers, no_horizontal_scroll, open_room, run_axe, say, timeline_item
from support.cluster import Deployment, shared_servers
from support.moderation import Org, fresh_org, make_staff
from support.procs import TIMEOUT_SCALE, Postgres, RedisServer
from support.talks import TALK_ENV

NARROW = {"width": 320, "height": 640}
WAIT_MS = (float(TALK_ENV["KINDRED_PRIVATE_TALK_WAIT_S"]) + 10) * 1000 * TIMEOUT_SCALE


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    dep = Deployment.start(tmp_path_factory.mktemp("talk-page"), count=1, extra_env=TALK_ENV)
    yield dep
    dep.stop()


@pytest.fixture(scope="module")
def redis_pair(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, postgres: Postgres
) -> Iterator[Deployment]:
    env = {**shared_servers(redis_server, postgres), **TALK_ENV}
    dep = Deployment.start(tmp_path_factory.mktemp("talk-pair"), count=2, extra_env=env)
    yield dep
    dep.stop()


def clean(page: Page, name: str) -> None:
    violations = run_axe(page)
    assert violations == [], f"{name}: {violations}"


def shoot(page: Page, name: str) -> None:
    out = os.environ.get("KINDRED_SCREENSHOTS_DIR")
    if out:
        size = page.viewport_size
        page.set_viewport_size({"width": 1280, "height": 800})
        page.screenshot(path=str(Path(out) / f"{name}-desktop.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(Path(out) / f"{name}-phone.png"), full_page=True)
        if size:
            page.set_viewport_size(size)


def _setting(site: Deployment) -> tuple[Org, object, object]:
    org = fresh_org(site)
    return org, make_staff(site, org.key), site.register(org=org.key)


def go_on_duty(page: Page) -> None:
    page.goto("/#/talks")
    expect(page.get_by_role("heading", level=1, name="Private talks")).to_be_visible()
    expect(page.get_by_text("Go on duty to see members who ask, as they ask.")).to_be_visible()
    page.get_by_label(re.compile("^I am on duty")).check()
    expect(page.get_by_text("Nobody is waiting. Thank you for being here.")).to_be_visible()


def test_a_member_asks_and_waits_and_the_navigator_sees_the_queue_live(site: Deployment, web: Browsers) -> None:
    org, nav, member = _setting(site)
    n = web.person(member=nav)  # type: ignore[arg-type]
    m = web.person(member=member, viewport=NARROW)  # type: ignore[arg-type]
    go_on_duty(n.page)
    clean(n.page, "private talks, nobody waiting")

    open_room(m.page, org.lounge)
    ask = m.page.get_by_role("button", name="Talk privately with a navigator")
    ask.focus()
    m.page.keyboard.press("Enter")
    waiting = m.page.get_by_role("region", name="Waiting for a navigator")
    expect(waiting).to_be_visible()
    expect(waiting).to_contain_text("You are next in line.")
    expect(ask).to_be_hidden()
    expect(waiting.get_by_role("heading", name="Waiting for a navigator")).to_be_focused()
    expect(m.page.locator("#announcer")).to_contain_text("You asked to talk privately with a navigator. You are next in line.")
    assert no_horizontal_scroll(m.page)
    clean(m.page, "waiting for a navigator, 320 px")

    # Live in the navigator's queue, read out, counted in the menu.
    handle = member.handle  # type: ignore[attr-defined]
    take = n.page.get_by_role("button", name=f"Talk with {handle}")
    expect(take).to_be_visible()
    expect(n.page.locator(".talk-request")).to_contain_text(f"In {org.name} lounge")
    expect(n.page.locator("#announcer")).to_contain_text(f"{handle} in {org.name} lounge asks to talk privately with a navigator.")
    expect(n.page.locator("#talk-count")).to_have_text("1 member waiting")
    clean(n.page, "private talks, one waiting")

    # Nobody takes it within the wait: the numbers to call, and it keeps waiting.
    card = waiting.get_by_role("region", name="While you wait")
    expect(card).to_be_visible(timeout=WAIT_MS)
    expect(card).to_contain_text("The navigators on duty can see that you asked.")
    expect(card.locator("li").first).to_be_visible()
    expect(waiting).to_contain_text("You are next in line.")
    expect(n.page.locator(".talk-request")).to_contain_text("they have been shown the numbers to call")
    assert no_horizontal_scroll(m.page)
    clean(m.page, "waiting with the crisis numbers, 320 px")
    shoot(m.page, "talk-waiting")
    shoot(n.page, "talk-queue")

    # Stopping: out of the navigator's queue at once; the action comes back, with the focus.
    stop = waiting.get_by_role("button", name="Stop waiting")
    stop.focus()
    m.page.keyboard.press("Enter")
    expect(waiting).to_be_hidden()
    expect(ask).to_be_visible()
    expect(ask).to_be_focused()
    expect(n.page.get_by_text("Nobody is waiting. Thank you for being here.")).to_be_visible()
    expect(n.page.locator("#talk-count")).to_be_hidden()
    web.assert_clean()


def test_a_navigator_elsewhere_is_told_and_taking_it_opens_the_conversation(site: Deployment, web: Browsers) -> None:
    org, nav, member = _setting(site)
    n = web.person(member=nav, viewport=NARROW)  # type: ignore[arg-type]
    m = web.person(member=member)  # type: ignore[arg-type]
    go_on_duty(n.page)
    n.page.goto("/#/rooms")  # elsewhere: a banner says someone asks
    open_room(m.page, org.rooms[1])
    m.page.get_by_role("button", name="Talk privately with a navigator").click()
    handle = member.handle  # type: ignore[attr-defined]
    banner = n.page.locator("#talk-alerts")
    expect(banner).to_contain_text(f"{handle} in {org.name} support group asks to talk privately with a navigator.")
    clean(n.page, "a request announced elsewhere, 320 px")
    banner.get_by_role("link", name="Open private talks").click()
    take = n.page.get_by_role("button", name=f"Talk with {handle}")
    take.focus()
    n.page.keyboard.press("Enter")
    # Both are taken into the private conversation.
    expect(n.page).to_have_url(re.compile(r"#/room/"))
    expect(m.page).to_have_url(re.compile(r"#/room/"), timeout=WAIT_MS)
    assert m.page.url.split("#")[1] == n.page.url.split("#")[1]
    expect(m.page.locator("#announcer")).to_contain_text(f"{nav.handle}, a navigator, is ready to talk with you privately.")  # type: ignore[attr-defined]
    expect(n.page.get_by_role("heading", level=1, name=f"Private conversation with {handle}")).to_be_visible()
    expect(m.page.get_by_role("heading", level=1, name=f"Private conversation with {nav.handle}")).to_be_visible()  # type: ignore[attr-defined]
    # Nobody asks for a navigator from inside a private conversation.
    expect(m.page.get_by_role("button", name="Talk privately with a navigator")).to_be_hidden()
    # They talk, live, just the two of them.
    say(n.page, "Hello, I am here. Take your time.")
    expect(timeline_item(m.page, "Hello, I am here. Take your time.")).to_be_visible()
    say(m.page, "Thank you. I am scared about tomorrow.")
    expect(timeline_item(n.page, "Thank you. I am scared about tomorrow.")).to_be_visible()
    assert no_horizontal_scroll(n.page)
    clean(n.page, "the private conversation, 320 px")
    clean(m.page, "the private conversation")
    shoot(m.page, "talk-conversation")
    web.assert_clean()
