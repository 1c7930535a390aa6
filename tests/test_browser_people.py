"""People in the page (Chromium), embedded and on two gateways: from a member's name in a room
to their profile; a friend request with the keyboard, seen live on the other member's friends
page on the other gateway; accepting it, seen live on the profile; following, and the feed.
Every screen axe-clean, with its state in plain words, and usable at 320 px.

Set KINDRED_SCREENSHOTS_DIR to photograph the profile, the friends page and the feed.
"""

from __future__ import annotations

import os
import re
import secrets
import string
from pathlib import Path

from playwright.sync_api import Page, expect

from support.browser import (
    ROOMS_A,
    Browsers,
    no_horizontal_scroll,
    open_room,
    post_messages,
    run_axe,
)
from support.cluster import ORG_A, Deployment, Member

NARROW = {"width": 320, "height": 700}
DESKTOP = {"width": 1280, "height": 800}


def pseudonym(name: str) -> str:
    """A made-up handle that reads like one (the screenshots show them), unique enough."""
    return f"{name}_{''.join(secrets.choice(string.ascii_lowercase) for _ in range(3))}"


def clean(page: Page, what: str) -> None:
    violations = run_axe(page)
    assert violations == [], f"{what}: {violations}"
    size = page.viewport_size
    page.set_viewport_size(NARROW)
    assert no_horizontal_scroll(page), what
    assert run_axe(page) == [], f"{what} at 320 px"
    page.set_viewport_size(size or DESKTOP)


def shoot(page: Page, name: str) -> None:
    out = os.environ.get("KINDRED_SCREENSHOTS_DIR")
    if out:
        size = page.viewport_size
        page.set_viewport_size(DESKTOP)
        page.screenshot(path=str(Path(out) / f"{name}-desktop.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(Path(out) / f"{name}-phone.png"), full_page=True)
        page.set_viewport_size(size or DESKTOP)


def test_profile_friend_request_follow_and_feed(site: Deployment, web: Browsers) -> None:
    room = ROOMS_A[1]
    heron: Member = site.register(org=ORG_A, handle=pseudonym("QuietHeron"))
    maple: Member = site.register(org=ORG_A, handle=pseudonym("Maple"))
    post_messages(site, heron, room, ["Three weeks since my last infusion. I walked to the park today."])
    kind = post_messages(site, maple, room, ["That is wonderful to hear. Small steps add up."])[0]
    a = web.person(member=heron)  # first gateway
    b = web.person(member=maple)  # second gateway in Redis mode

    # Heron keeps the friends page open: a request must show up there live.
    a.page.goto("/#/friends")
    expect(a.page.get_by_role("heading", level=1, name="Friends")).to_be_visible()
    expect(a.page.get_by_text("Nobody is asking just now.")).to_be_visible()

    # Maple, in the room, goes from Heron's name to the profile with the keyboard.
    open_room(b.page, room)
    name = b.page.locator(".timeline li.message[data-seq]").filter(has_text="walked to the park").get_by_role(
        "link", name=heron.handle)
    name.focus()
    b.page.keyboard.press("Enter")
    expect(b.page.get_by_role("heading", level=1, name=re.compile(f"^{heron.handle}"))).to_be_visible()
    expect(b.page.get_by_text(f"You and {heron.handle} are not friends.")).to_be_visible()
    expect(b.page.get_by_role("region", name="Rooms you both write in").get_by_role("link")).to_have_count(1)
    expect(b.page.locator("#profile-message")).to_be_hidden()  # private messages: another branch
    expect(b.page.locator("#profile-message")).to_have_count(1)
    clean(b.page, "profile")
    ask = b.page.get_by_role("button", name="Ask to be friends")
    ask.focus()
    b.page.keyboard.press("Enter")
    expect(b.page.get_by_role("status").filter(has_text=f"You asked {heron.handle} to be friends.")).to_be_visible()
    expect(b.page.get_by_text(f"You asked {heron.handle} to be friends. They have not answered yet.")).to_be_visible()
    expect(b.page.get_by_role("button", name="Cancel my request")).to_be_focused()

    # Heron, on the other gateway: the request arrives live, politely announced in the header.
    expect(a.page.locator("#notification-count")).to_have_text("1 unread")
    expect(a.page.locator("#announcer")).to_contain_text("You have 1 unread notification.")
    asking = a.page.get_by_role("region", name="Asking to be your friend")
    expect(asking.get_by_role("link", name=maple.handle)).to_be_visible()
    clean(a.page, "friends page with a request")
    shoot(a.page, "friends")
    accept = asking.get_by_role("button", name=f"Accept: {maple.handle}")
    accept.focus()
    a.page.keyboard.press("Enter")
    expect(a.page.get_by_role("status").filter(has_text=f"You and {maple.handle} are friends now.")).to_be_visible()
    expect(a.page.get_by_role("region", name="Your friends").get_by_role("link", name=maple.handle)).to_be_visible()
    expect(a.page.locator("#notification-count")).to_be_hidden()  # the request is handled

    # Maple's profile of Heron changes by itself: the acceptance arrived live.
    expect(b.page.get_by_text(f"You and {heron.handle} are friends.")).to_be_visible()
    expect(b.page.get_by_role("button", name="Stop being friends")).to_be_visible()
    follow = b.page.get_by_role("button", name="Follow")
    follow.focus()
    b.page.keyboard.press("Enter")
    expect(b.page.get_by_role("status").filter(has_text=f"You follow {heron.handle} now.")).to_be_visible()
    expect(b.page.get_by_role("button", name="Stop following")).to_be_focused()
    b.page.set_viewport_size(NARROW)
    assert no_horizontal_scroll(b.page)
    shoot(b.page, "profile")

    # The feed: Heron's words, linked to their room; phone width.
    post_messages(site, heron, room, ["Thank you. They really do."], reply_to=kind["id"])
    post_messages(site, heron, room, ["Does anyone have a gentle stretching routine they like?"])
    b.page.goto("/#/feed")
    expect(b.page.get_by_role("heading", level=1, name="Feed")).to_be_visible()
    entries = b.page.get_by_role("list", name="Recent activity of the people you follow").get_by_role("listitem")
    expect(entries.first).to_contain_text("gentle stretching routine")
    expect(entries.filter(has_text="walked to the park").get_by_role("link", name="Open the room")).to_have_attribute(
        "href", f"#/room/{room}")
    reply = entries.filter(has_text="They really do.")
    expect(reply).to_contain_text(f"{heron.handle} replied in")
    expect(reply.get_by_role("link", name="Open the thread")).to_have_attribute("href", f"#/room/{room}/thread/{kind['id']}")
    assert no_horizontal_scroll(b.page)
    clean(b.page, "feed")
    shoot(b.page, "feed")

    # The header links reach both pages; the friends page says what following is.
    b.page.set_viewport_size(DESKTOP)
    b.page.get_by_role("navigation", name="Main").get_by_role("link", name="Friends").click()
    expect(b.page.get_by_role("region", name="You follow").get_by_role("link", name=heron.handle)).to_be_visible()
    expect(b.page.get_by_label("Members may follow me")).to_be_checked()
    web.assert_clean()
