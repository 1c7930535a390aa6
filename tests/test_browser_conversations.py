"""Private messages in the page (Chromium), embedded and on two gateways: choosing who may
write first on the account screen; "Send a message" on a profile; a request seen live on the
other member's Messages page (on the other gateway) with its first message, accepted with the
keyboard; the conversation in the room view; the unread count in the header, live; declining.
Every screen axe-clean, in plain words, and usable at 320 px.

Set KINDRED_SCREENSHOTS_DIR to photograph the Messages page, a conversation and the setting.
"""

from __future__ import annotations

import os
import re
import secrets
import string
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from support.browser import (
    ROOMS_A,
    Browsers,
    no_horizontal_scroll,
    open_room,
    post_messages,
    run_axe,
    say,
)
from support.cluster import ORG_A, Deployment, Member
from support.http import TLS

NARROW = {"width": 320, "height": 700}
DESKTOP = {"width": 1280, "height": 800}


def pseudonym(name: str) -> str:
    return f"{name}_{''.join(secrets.choice(string.ascii_lowercase) for _ in range(3))}"


def clean(page: Page, what: str) -> None:
    assert run_axe(page) == [], what
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


def call(site: Deployment, method: str, path: str, m: Member, body: object = None) -> dict:
    with httpx.Client(verify=TLS, base_url=site.gateways[0].http_url, timeout=30) as http:
        r = http.request(method, path, json=body, headers={"Authorization": f"Bearer {m.token}"})
        assert r.status_code < 300, r.text
        return dict(r.json())


def press(page: Page, target: object) -> None:
    """Activate a control with the keyboard."""
    target.focus()  # type: ignore[attr-defined]
    page.keyboard.press("Enter")


def test_request_accept_talk_and_decline(site: Deployment, web: Browsers) -> None:
    room = ROOMS_A[2]
    heron = site.register(org=ORG_A, handle=pseudonym("QuietHeron"))
    maple = site.register(org=ORG_A, handle=pseudonym("Maple"))
    oak = site.register(org=ORG_A, handle=pseudonym("Oak"))
    navigator = site.register(org=ORG_A, handle=pseudonym("Navigator"))
    site.cli("user", "role", navigator.handle, "navigator")
    post_messages(site, heron, room, ["Some days the fatigue is the hardest part."])
    post_messages(site, maple, room, ["Same here. Short walks help me a little."])
    post_messages(site, oak, room, ["Thinking of you all this week."])
    a = web.person(member=heron)  # first gateway
    b = web.person(member=maple)  # second gateway in Redis mode

    # Heron lets the people of their rooms ask to write, on the account screen, by keyboard.
    a.page.goto("/#/account")
    setting = a.page.get_by_role("group", name="Who may write to me first")
    expect(setting.get_by_label("My friends, navigators and staff", exact=True)).to_be_checked()
    clean(a.page, "account with the private messages setting")
    choice = setting.get_by_label("People in the rooms I take part in, my friends, navigators and staff")
    choice.focus()
    a.page.keyboard.press("Space")
    press(a.page, a.page.get_by_role("region", name="Private messages").get_by_role("button", name="Save"))
    expect(a.page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    assert call(site, "GET", "/api/me/dm", heron)["allow"] == "communities"
    shoot(a.page, "dm-setting")
    a.page.goto("/#/conversations")
    expect(a.page.get_by_role("heading", level=1, name="Messages")).to_be_visible()
    expect(a.page.get_by_text("Nobody is asking just now.")).to_be_visible()
    expect(a.page.get_by_text("No conversations yet.")).to_be_visible()

    # Maple, from Heron's name in the room: the profile offers "Send a message".
    open_room(b.page, room)
    name = b.page.locator(".timeline li.message[data-seq]").filter(has_text="fatigue").get_by_role("link", name=heron.handle)
    press(b.page, name)
    send = b.page.locator("#profile-message")
    expect(send).to_be_visible()
    expect(send).to_have_accessible_name("Send a message")
    press(b.page, send)
    expect(b.page.get_by_role("heading", level=1, name=f"Private conversation with {heron.handle}")).to_be_visible()
    expect(b.page.get_by_text(f"{heron.handle} has not accepted yet.")).to_be_visible()
    expect(b.page.get_by_role("link", name="All messages")).to_be_visible()
    say(b.page, "Hello. I saw what you wrote about the fatigue. May I write to you here?")
    say(b.page, "Mornings are my worst time too.")

    # Heron, on the other gateway: the request arrives live with its first message only.
    asking = a.page.get_by_role("region", name="Asking to write to you")
    expect(asking.get_by_role("link", name=maple.handle)).to_be_visible()
    expect(asking).to_contain_text("May I write to you here?")
    expect(asking).not_to_contain_text("Mornings are my worst time")
    expect(a.page.locator("#notification-count")).to_have_text("1 unread")
    # A second request, from Oak, for the picture and to decline.
    conv = call(site, "POST", "/api/conversations", oak, {"with": [heron.id]})
    post_messages(site, oak, conv["room"], ["Hi, would you like to talk about the clinic?"])
    expect(asking.get_by_role("link", name=oak.handle)).to_be_visible()
    clean(a.page, "messages with two requests")
    shoot(a.page, "conversation-requests")
    press(a.page, asking.get_by_role("button", name=f"Decline: {oak.handle}"))
    expect(a.page.get_by_role("status").filter(has_text="You declined.")).to_be_visible()
    expect(asking.get_by_role("link", name=oak.handle)).to_have_count(0)
    press(a.page, asking.get_by_role("button", name=f"Accept: {maple.handle}"))
    expect(a.page.get_by_role("status").filter(has_text="You accepted.")).to_be_visible()
    expect(a.page.locator("#notification-count")).to_be_hidden()  # both requests are answered
    mine = a.page.get_by_role("region", name="Your conversations")
    link = mine.get_by_role("link", name=maple.handle)
    expect(link).to_be_focused()
    expect(mine.locator(".conversation").filter(has_text=maple.handle)).to_contain_text("2 new messages")

    # Maple's page hears the answer live: the waiting notice goes.
    expect(b.page.get_by_text(f"{heron.handle} has not accepted yet.")).to_have_count(0)

    # Heron opens the conversation: everything Maple wrote, and an answer.
    press(a.page, link)
    expect(a.page.get_by_role("heading", level=1, name=f"Private conversation with {maple.handle}")).to_be_visible()
    expect(a.page.locator(".timeline li.message[data-seq]")).to_have_count(2)
    say(a.page, "Yes, of course. Mornings are hard for me as well.")
    expect(b.page.locator(".timeline li.message[data-seq]").filter(has_text="Mornings are hard for me")).to_be_visible()
    clean(a.page, "a conversation")
    shoot(a.page, "conversation")

    # Maple elsewhere: a new message shows in the header, live; opening it clears the count.
    # (Once Maple's page has said what they saw: it does within a second, not at once.)
    deadline = time.monotonic() + 10
    while call(site, "GET", "/api/conversations", maple)["conversations"][0]["unread"]:
        assert time.monotonic() < deadline, "Maple's page never marked the conversation read"
        time.sleep(0.1)
    b.page.goto("/#/rooms")
    expect(b.page.get_by_text(re.compile(r"^Showing \d+ rooms?\.$"))).to_be_visible()
    b.page.wait_for_load_state("networkidle")  # the page's own count request has answered
    post_messages(site, heron, a.page.url.split("/")[-1], ["Talk soon."])
    count = b.page.locator("#conversation-count")
    expect(count).to_have_text("1 new private message")
    expect(b.page.locator("#announcer")).to_contain_text(f"New private message from {heron.handle}.")
    b.page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile("^Messages")).click()
    item = b.page.get_by_role("region", name="Your conversations").locator(".conversation")
    expect(item).to_contain_text("1 new message")
    clean(b.page, "messages with an unread conversation")
    shoot(b.page, "conversations")
    item.get_by_role("link", name=heron.handle).click()
    expect(b.page.locator(".timeline li.message[data-seq]").filter(has_text="Talk soon.")).to_be_visible()
    expect(count).to_be_hidden()

    # Search finds Maple's own conversation, said as such.
    b.page.goto("/#/search?q=Mornings")
    found = b.page.locator(".message").filter(has_text="Mornings are hard for me")
    expect(found).to_contain_text("in a private conversation")
    found.get_by_role("link", name="Open the conversation").click()

    # Maple reports Heron's message: the organization's navigators see that message alone.
    item = b.page.locator(".timeline li.message[data-seq]").filter(has_text="Talk soon.")
    item.get_by_role("button", name=re.compile("^More actions")).click()
    item.get_by_role("button", name="Report").click()
    expect(item).to_contain_text("not the rest of the conversation")
    item.get_by_label("What is wrong with this message?").fill("Just checking how reports work.")
    item.get_by_role("button", name="Send report").click()
    expect(item.get_by_role("status").filter(has_text="Thank you")).to_be_visible()
    n = web.person(member=navigator)
    n.page.goto("/#/safety")
    entry = n.page.locator(".mod-list li").filter(has_text="Talk soon.")
    expect(entry).to_contain_text("Report in a private conversation")
    expect(entry).to_contain_text("Only this message is shown")
    expect(entry).not_to_contain_text("Mornings are hard for me")
    expect(entry.get_by_role("link", name="Open the message")).to_have_count(0)
    clean(n.page, "the safety queue with a private message")

    # Oak, declined, is told plainly and cannot write.
    c = web.person(member=oak)
    c.page.goto(f"/#/room/{conv['room']}")
    expect(c.page.get_by_text(f"{heron.handle} did not accept your request. You cannot write here any more.").first).to_be_visible()
    expect(c.page.locator(".timeline").get_by_label(re.compile("^Your message"))).to_be_disabled()
    web.assert_clean()


def test_asking_too_many_people_is_told_plainly(site: Deployment, web: Browsers) -> None:
    """Past the limit on new requests (10 an hour), "Send a message" on a profile says so in
    plain words, announced to a screen reader, and opens nothing."""
    room = ROOMS_A[1]
    asker = site.register(org=ORG_A, handle=pseudonym("Wren"))
    people = [site.register(org=ORG_A, handle=pseudonym("Fern")) for _ in range(11)]
    for m in [asker, *people]:
        call(site, "POST", f"/api/rooms/{room}/read", m, {"seq": 0})
    for m in people:
        call(site, "PUT", "/api/me/dm", m, {"allow": "communities"})
    for m in people[:10]:
        assert call(site, "POST", "/api/conversations", asker, {"with": [m.id]})["state"] == "request"
    a = web.person(member=asker)
    a.page.goto(f"/#/people/{people[10].id}")
    send = a.page.locator("#profile-message")
    expect(send).to_have_accessible_name("Send a message")
    press(a.page, send)
    words = "You have asked many people to talk privately in the last hour."
    expect(a.page.get_by_role("status").filter(has_text=words)).to_be_visible()
    expect(a.page.get_by_role("heading", level=1, name=people[10].handle)).to_be_visible()
    clean(a.page, "a profile after too many requests")
    assert all(people[10].id not in {w["id"] for w in c["with"]}
               for c in call(site, "GET", "/api/conversations", asker)["conversations"])
    web.assert_clean()
