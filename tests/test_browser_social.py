"""Reactions and notifications in the page (Chromium), embedded and on two gateways: a
member is mentioned and the header's count says so (politely), the room list shows what is
new, reactions are put with the keyboard and seen live by the author on another gateway,
the notification centre marks all read. Axe-clean, 320 px wide without sideways scrolling."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import expect

from support.browser import (
    ROOMS_A,
    Browsers,
    member_in,
    no_horizontal_scroll,
    open_room,
    post_messages,
    run_axe,
    shoot,
)
from support.cluster import ORG_A, Deployment
from support.http import TLS
from support.procs import TIMEOUT_SCALE

NARROW = {"width": 320, "height": 640}


def clean(page: object, name: str) -> None:
    violations = run_axe(page)  # type: ignore[arg-type]
    assert violations == [], f"{name}: {violations}"


def unread_rooms(site: Deployment, token: str) -> dict[str, int]:
    r = httpx.get(verify=TLS, url=f"{site.gateways[0].http_url}/api/me/unread", headers={"Authorization": f"Bearer {token}"})
    rooms: dict[str, int] = r.json()["rooms"]
    return rooms


def test_mention_unread_reactions_and_notification_centre(site: Deployment, web: Browsers) -> None:
    author, reader = member_in(site, ORG_A), member_in(site, ORG_A)
    room = ROOMS_A[2]
    a = web.person(member=author)
    b = web.person(member=reader, viewport=NARROW)

    b.page.goto("/#/rooms")
    expect(b.page.get_by_role("heading", level=1, name="Rooms")).to_be_visible()
    expect(b.page.locator("#notification-count")).to_be_hidden()
    post_messages(site, author, room, ["Good morning, everyone.", f"@{reader.handle} how did the scan go?"])

    # The header's count, read out politely; the room list shows what is new.
    expect(b.page.locator("#notification-count")).to_have_text("1 unread")
    expect(b.page.locator("#announcer")).to_contain_text("You have 1 unread notification.")
    # Without a reload: the page reads the counts again with the notification and every 20 s
    # (with Redis a message is counted once a writer committed it, which may be after the
    # notification's read).
    card = b.page.locator("article.community").filter(has=b.page.locator(f'a[href="#/room/{room}"]'))
    expect(card.locator(".badge--new")).to_have_text("2 new messages", timeout=30_000 * TIMEOUT_SCALE)
    assert unread_rooms(site, reader.token).get(room) == 2
    assert no_horizontal_scroll(b.page)
    clean(b.page, "rooms with unread counts")

    # In the room, a reaction put with the keyboard; the author on another gateway sees it live.
    open_room(a.page, room)
    open_room(b.page, room)
    message = b.page.locator(".timeline li.message[data-seq]").filter(has_text="Good morning, everyone.")
    hug = message.get_by_role("button", name=re.compile("^A hug"))
    expect(hug).to_have_attribute("aria-pressed", "false")
    hug.focus()
    b.page.keyboard.press("Enter")
    expect(hug).to_have_attribute("aria-pressed", "true")
    expect(hug).to_have_accessible_name("A hug: 1 person, including you")
    theirs = a.page.locator(".timeline li.message[data-seq]").filter(has_text="Good morning, everyone.")
    expect(theirs.get_by_role("button", name=re.compile("^A hug"))).to_have_accessible_name("A hug: 1 person")
    assert no_horizontal_scroll(b.page)
    clean(b.page, "room with reactions, 320 px")
    shoot(b.page, "reactions")
    # Taking it back: none left, for both.
    b.page.keyboard.press("Enter")
    expect(hug).to_have_attribute("aria-pressed", "false")
    expect(theirs.get_by_role("button", name=re.compile("^A hug"))).to_have_accessible_name("A hug: 0 people")

    # The author was told of the reaction (one notification); the reader reads theirs.
    b.page.goto("/#/notifications")
    expect(b.page.get_by_role("heading", level=1, name="Notifications")).to_be_visible()
    expect(b.page.locator(".notification--unread")).to_contain_text(f"{author.handle} mentioned you")
    clean(b.page, "notification centre, 320 px")
    shoot(b.page, "notifications")
    assert no_horizontal_scroll(b.page)
    b.page.get_by_role("button", name="Mark all as read").click()
    expect(b.page.get_by_role("status").filter(has_text="You have no unread notifications.")).to_be_visible()
    expect(b.page.locator("#notification-count")).to_be_hidden()
    a.page.goto("/#/notifications")
    expect(a.page.locator(".notification--unread")).to_contain_text(f"{reader.handle} reacted to your message")
    clean(a.page, "notification centre")
    web.assert_clean()
