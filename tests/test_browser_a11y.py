"""Accessibility of the browser client (WCAG 2.2 AA), checked in Chromium: an axe-core scan of
every screen at desktop and phone width, keyboard-only use, visible focus, polite announcements
of new messages, text at 200 % and a 320 px wide screen without loss, reduced motion."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from support.browser import (
    DESKTOP,
    PHONE,
    ROOMS_A,
    Browsers,
    Person,
    composer,
    member_in,
    new_handle,
    no_horizontal_scroll,
    open_room,
    people,
    post_messages,
    run_axe,
    say,
    timeline_item,
)
from support.cluster import Deployment, Member


@pytest.fixture(scope="module")
def cast(site: Deployment) -> dict[str, object]:
    """An organization with a navigator and two members, and a lounge with a short history."""
    room = ROOMS_A[0]
    nav = member_in(site, prefix="nav")
    site.cli("user", "role", nav.handle, "navigator")
    ann, bob = member_in(site, prefix="ann"), member_in(site, prefix="bob")
    acks = post_messages(site, bob, room, ["Good morning, all.", "Anyone tried cold caps?"])
    post_messages(site, ann, room, ["Yes, they helped me keep some hair."], reply_to=acks[1]["id"])
    return {"room": room, "nav": nav, "ann": ann, "bob": bob}


def screens(cast: dict[str, object]) -> list[tuple[str, str | None, Callable[[Page], None]]]:
    """(name, who is signed in, how to bring the screen up)."""
    room = str(cast["room"])

    def sign_in(page: Page) -> None:
        page.goto("/#/signin")
        page.get_by_role("button", name="Sign in").click()  # empty: shows the error summary
        expect(page.get_by_role("alert")).to_be_visible()

    def register(page: Page) -> None:
        page.goto("/#/register")
        page.get_by_label("Handle (public name)").fill("a@b")
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("alert")).to_be_visible()

    def reset(page: Page) -> None:
        page.goto("/#/reset")
        page.get_by_role("button", name="Set new password").click()
        expect(page.get_by_role("alert")).to_be_visible()

    def account(page: Page) -> None:
        page.goto("/#/account")
        expect(page.get_by_role("button", name="Change password")).to_be_visible()

    def rooms(page: Page) -> None:
        page.goto("/#/rooms")
        expect(page.get_by_role("link", name="Breast cancer", exact=True)).to_be_visible()

    def live_room(page: Page) -> None:
        open_room(page, room)
        item = timeline_item(page, "Anyone tried cold caps?")
        expect(item.get_by_role("button", name="1 reply: open the thread")).to_be_visible()
        item.get_by_role("button", name=re.compile("^More actions")).click()
        item.get_by_role("button", name="Report").click()
        expect(item.get_by_label("What is wrong with this message?")).to_be_visible()

    def thread(page: Page) -> None:
        open_room(page, room)
        timeline_item(page, "Anyone tried cold caps?").get_by_role("button", name="1 reply: open the thread").click()
        expect(page.locator(".thread li.message")).to_have_count(2)

    def phi(page: Page) -> None:
        open_room(page, room)
        box = composer(page)
        box.fill("my number is 555-010-4477")
        box.press("Enter")
        expect(page.get_by_role("heading", name="Before you post")).to_be_visible()

    def search(page: Page) -> None:
        page.goto("/#/search?q=caps")
        expect(page.get_by_role("list", name="Search results").locator("li").first).to_be_visible()

    crisis_words: list[str] = []

    def crisis_card(page: Page) -> None:
        open_room(page, room)
        crisis_words.append(f"Some nights I just want to die, night {new_handle('')}")  # unique
        say(page, crisis_words[-1])
        expect(page.get_by_role("region", name="You are not alone")).to_contain_text("No navigator is on duty")

    def own_message_menu(page: Page) -> None:
        item = timeline_item(page, crisis_words[-1])
        item.get_by_role("button", name=re.compile("^More actions")).click()
        expect(item.get_by_role("button", name="Copy a link to this message")).to_be_visible()

    def safety_queue(page: Page) -> None:
        page.goto("/#/safety")
        expect(page.locator(".safety li").first).to_be_visible()

    def moderation(page: Page) -> None:
        open_room(page, room)
        expect(page.get_by_role("region", name="Audit log")).to_be_visible()

    return [
        ("sign-in", None, sign_in),
        ("register", None, register),
        ("reset", None, reset),
        ("rooms", "ann", rooms),
        ("account", "ann", account),
        ("room", "ann", live_room),
        ("thread", "ann", thread),
        ("phi-confirm", "ann", phi),
        ("search", "ann", search),
        ("crisis-card", "ann", crisis_card),
        ("own-message-menu", "ann", own_message_menu),
        ("safety-queue", "nav", safety_queue),
        ("moderation", "nav", moderation),
    ]


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_axe_finds_no_serious_violation_on_any_screen(web: Browsers, cast: dict[str, object], width: str) -> None:
    viewport = DESKTOP if width == "desktop" else PHONE
    found = {}
    people_by_role: dict[str | None, Person] = {}
    for name, who, bring_up in screens(cast):
        if who not in people_by_role:
            member = cast[who] if who else None
            assert member is None or isinstance(member, Member)
            people_by_role[who] = web.person(viewport=viewport, member=member)
        page = people_by_role[who].page
        bring_up(page)
        violations = run_axe(page)
        if violations:
            found[name] = violations
        assert no_horizontal_scroll(page), f"{name} scrolls sideways at {width} width"
    assert not found, found
    web.assert_clean()


def test_keyboard_only_join_a_room_and_send(web: Browsers, cast: dict[str, object]) -> None:
    ann = cast["ann"]
    assert isinstance(ann, Member)
    page = web.person(member=ann).page
    page.goto("/#/rooms")
    expect(page.get_by_role("heading", level=1, name="Rooms")).to_be_focused()

    def tab_to(matches: str, limit: int = 60) -> None:
        """Press Tab until the focused element matches; check the focus is visible each time."""
        for _ in range(limit):
            page.keyboard.press("Tab")
            state = page.evaluate(
                """(sel) => { const el = document.activeElement; const s = getComputedStyle(el);
                     return {hit: el.matches(sel), outline: s.outlineStyle, width: parseFloat(s.outlineWidth),
                             tag: el.tagName}; }""",
                matches,
            )
            if state["tag"] != "BODY":
                assert state["outline"] != "none" and state["width"] >= 2, f"focus not visible on {state}"
            if state["hit"]:
                return
        raise AssertionError(f"Tab never reached {matches}")

    tab_to("input[type=search]")
    page.keyboard.type("lung")
    tab_to('a[href="#/room/lung-cancer"]')
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="Lung cancer")).to_be_focused()
    expect(people(page).locator("li").first).to_be_visible()
    tab_to("a.write-link")
    page.keyboard.press("Enter")
    expect(composer(page)).to_be_focused()
    page.keyboard.type("Typed and sent with the keyboard alone.")
    page.keyboard.press("Enter")
    expect(timeline_item(page, "Typed and sent with the keyboard alone.")).to_be_visible()
    # The reply button of a message is reachable and opens the thread with the reply box focused.
    tab_to('button[aria-label^="Reply to"]', limit=200)
    page.keyboard.press("Enter")
    expect(page.locator(".thread").get_by_label("Your reply")).to_be_focused()
    page.keyboard.press("Escape")
    web.assert_clean()


def test_new_messages_are_announced_politely_one_by_one(web: Browsers, cast: dict[str, object], site: Deployment) -> None:
    ann, bob = cast["ann"], cast["bob"]
    assert isinstance(ann, Member) and isinstance(bob, Member)
    a, b = web.person(member=ann), web.person(member=bob)
    room = str(cast["room"])
    open_room(a.page, room)
    open_room(b.page, room)
    announcer = a.page.locator("#announcer")
    assert announcer.get_attribute("aria-live") == "polite"
    # The history already on screen is not read out, and the list itself is not a live region.
    expect(announcer).to_have_text("")
    assert a.page.locator("[aria-live]").count() == 1
    assert a.page.locator(".message-list[aria-live], .message-list [aria-live]").count() == 0
    say(b.page, "Is the parking free on weekends?")
    expect(announcer.locator("p")).to_have_text([f"{bob.handle}: Is the parking free on weekends?"])
    say(b.page, "Never mind, found it.")
    expect(announcer.locator("p")).to_have_text([
        f"{bob.handle}: Is the parking free on weekends?", f"{bob.handle}: Never mind, found it.",
    ])
    # One's own messages are not read back.
    say(a.page, "Glad you found it.")
    expect(timeline_item(a.page, "Glad you found it.")).to_be_visible()
    expect(announcer.locator("p")).to_have_count(2)
    web.assert_clean()


@pytest.mark.parametrize("how", ["text at 200 %", "320 px wide"])
def test_text_resizes_and_reflows_without_loss(web: Browsers, cast: dict[str, object], how: str) -> None:
    viewport = DESKTOP if how == "text at 200 %" else {"width": 320, "height": 640}
    pages: dict[str | None, Page] = {}
    for name, who, bring_up in screens(cast):
        if who not in pages:
            member = cast[who] if who else None
            assert member is None or isinstance(member, Member)
            pages[who] = web.person(viewport=viewport, member=member).page
        page = pages[who]
        bring_up(page)
        if how == "text at 200 %":
            # The reader's text size doubled (what a browser's text-only zoom does).
            page.evaluate("() => { document.documentElement.style.fontSize = '200%'; }")
        assert no_horizontal_scroll(page), f"{name} scrolls sideways with {how}"
        # The main controls are still there and usable.
        if name in ("room", "phi-confirm", "moderation"):
            for control in (composer(page), page.get_by_role("button", name="Send", exact=True)):
                control.scroll_into_view_if_needed()
                expect(control).to_be_in_viewport()
        page.evaluate("() => { document.documentElement.style.fontSize = ''; }")
    web.assert_clean()


def test_reduced_motion_is_respected(browsers: Browsers, cast: dict[str, object]) -> None:
    calm = browsers.browser.new_context(base_url=browsers.base_url, reduced_motion="reduce")
    lively = browsers.browser.new_context(base_url=browsers.base_url, reduced_motion="no-preference")
    try:
        for context, expected in ((calm, "auto"), (lively, "smooth")):
            page = context.new_page()
            page.goto("/#/signin")
            expect(page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
            assert page.evaluate("() => getComputedStyle(document.documentElement).scrollBehavior") == expected
            duration = page.evaluate("() => getComputedStyle(document.querySelector('.button')).transitionDuration")
            assert (duration == "0s") == (expected == "auto")
    finally:
        calm.close()
        lively.close()
