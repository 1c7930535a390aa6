"""What a newcomer hit (issue 12), in real Chromium, in each mode: the crisis card tells the
truth about the navigators, messages written while the server is away survive the tab being
closed and are posted once, pages that failed to load come back by themselves, and the outage
banner says what is happening. The smaller items of the issue follow."""

from __future__ import annotations

import json
import re

import httpx
from playwright.sync_api import Page, expect

from support.browser import (
    PHONE,
    ROOMS_A,
    ROOMS_B,
    WAIT_MS,
    Browsers,
    composer,
    member_in,
    open_room,
    post_messages,
    say,
    timeline_item,
)
from support.cluster import ORG_A, ORG_B, PASSWORD, Deployment, Member
from support.gateways import start_together
from support.http import TLS


def navigator_of(dep: Deployment, org: tuple[str, str]) -> Member:
    nav = member_in(dep, org, prefix="nav")
    dep.cli("user", "role", nav.handle, "navigator")
    return nav


def stored_bodies(dep: Deployment, member: Member, room: str) -> list[str]:
    """The room's stored messages, oldest first."""
    with httpx.Client(verify=TLS, base_url=dep.gateways[0].http_url, headers={"Authorization": f"Bearer {member.token}"}) as http:
        r = http.get(f"/api/rooms/{room}/messages", params={"limit": 100})
        assert r.status_code == 200, r.text
        return [m["body"] for m in reversed(r.json()["messages"])]


def pending_kept(page: Page) -> list[dict[str, object]]:
    """What the page keeps in the browser's storage for its member."""
    raw = page.evaluate("""() => Object.keys(localStorage).filter(k => k.startsWith('kindred.pending.'))
        .flatMap(k => JSON.parse(localStorage.getItem(k)))""")
    return list(raw)


# --------------------------------------------------------------------------- 1. crisis card


def test_crisis_card_says_whether_a_navigator_on_duty_was_alerted(site: Deployment, web: Browsers) -> None:
    room = ROOMS_B[1]
    mem, nav = member_in(site, ORG_B), navigator_of(site, ORG_B)
    m = web.person(member=mem)  # gateway 1 in Redis mode
    open_room(m.page, room)

    # Nobody on duty: the card says so, and whom to call now; it promises no navigator.
    say(m.page, "Some nights I just want to die")
    card = m.page.get_by_role("region", name="You are not alone")
    expect(card).to_contain_text("No navigator is on duty right now.")
    expect(card).to_contain_text("988 Suicide & Crisis Lifeline")
    expect(card).not_to_contain_text("has been told")
    card.get_by_role("button", name="Close").click()

    # A navigator of the room goes on duty (on the other gateway in Redis mode).
    n = web.person(member=nav)
    open_room(n.page, room)
    panel = n.page.get_by_role("region", name="Moderation")
    panel.get_by_label("I am on duty: alert me to crisis messages and reports").check()
    expect(panel).to_contain_text("You are on duty.")
    expect(m.page.get_by_text("A navigator is on duty in this room now.")).to_be_visible()

    say(m.page, "I feel like I'm better off dead")
    card = m.page.get_by_role("region", name="You are not alone")
    expect(card).to_contain_text("A navigator on duty has been told about your message")
    expect(card).not_to_contain_text("No navigator is on duty")
    expect(panel.get_by_text("A message may be from someone in crisis")).to_be_visible()
    web.assert_clean()


# --------------------------------------------------------------------------- 3, 4, 5: an outage


def test_an_outage_loses_nothing_and_every_page_comes_back_by_itself(site: Deployment, web: Browsers) -> None:
    room = ROOMS_A[1]
    writer, reader = member_in(site, ORG_A), member_in(site, ORG_A)
    w = web.person(member=writer)
    r = web.person(member=reader)
    open_room(w.page, room)
    r.page.goto("/#/account")
    expect(r.page.get_by_role("heading", level=1, name="Account")).to_be_visible()

    for gw in site.gateways:
        gw.terminate()
    try:
        # 3. Written while the server is away: kept in the browser, not only in the page.
        box = composer(w.page)
        box.fill("Written while Kindred was away")
        box.press("Enter")
        expect(w.page.locator(".timeline li.message--pending")).to_contain_text("Waiting to send")
        assert [p["body"] for p in pending_kept(w.page)] == ["Written while Kindred was away"]

        # 4. A page opened during the outage says what happened, without blaming the member's
        # connection, and offers to try again.
        r.page.get_by_role("link", name="Rooms", exact=True).click()
        failed = r.page.locator(".load-failed")
        expect(failed).to_contain_text("Kindred is not answering right now. It may be restarting.")
        expect(failed).not_to_contain_text("Check your connection")
        expect(failed.get_by_role("button", name=re.compile("^Try again|^Trying again"))).to_be_visible()

        # 5. After a while the banner says what is happening, and never to close tabs.
        bar = r.page.locator("#connection")
        expect(bar).to_contain_text("the server may be restarting or unreachable", timeout=4 * WAIT_MS)
        expect(bar).not_to_contain_text("closing some may help")

        # 3. The tab is closed before the message could be sent.
        w.page.close()
    finally:
        start_together([gw for gw in site.gateways if not gw.running])

    # 4. The rooms page recovers by itself once the server is back.
    expect(r.page.get_by_role("heading", level=2, name="National rooms")).to_be_visible(timeout=3 * WAIT_MS)
    expect(r.page.locator(".load-failed")).to_have_count(0)

    # 3. The tab is opened again: the message is sent, exactly once, and no longer kept.
    page = w.context.new_page()
    page.goto(f"/#/room/{room}")
    expect(timeline_item(page, "Written while Kindred was away")).to_be_visible(timeout=3 * WAIT_MS)
    expect(page.locator(".timeline li.message--pending")).to_have_count(0)
    assert pending_kept(page) == []
    page.reload()
    expect(timeline_item(page, "Written while Kindred was away")).to_have_count(1)
    assert stored_bodies(site, writer, room).count("Written while Kindred was away") == 1
    web.assert_clean()


def test_a_kept_message_already_posted_is_not_posted_twice_and_sign_out_forgets_them(site: Deployment, web: Browsers) -> None:
    """The tab closed after the server had the message but before the page heard back: the
    kept copy is sent again with the same cid and the server does not post it twice."""
    room = ROOMS_A[2]
    member = member_in(site, ORG_A)
    acks = post_messages(site, member, room, ["Posted just before the tab closed"])
    p = web.person(member=member)
    p.page.goto("/#/rooms")
    expect(p.page.get_by_role("heading", level=1, name="Rooms")).to_be_visible()
    # The same cid the server already has, as if the ack had been lost with the tab.
    kept = [{"cid": acks[0]["cid"], "room": room, "body": "Posted just before the tab closed"}]
    p.page.evaluate("([id, items]) => localStorage.setItem('kindred.pending.' + id, JSON.stringify(items))",
                    [member.id, kept])
    p.page.reload()
    waiting = p.page.locator(".notice", has_text="Some messages you wrote have not been sent yet")
    expect(waiting).to_contain_text("(1 message)")
    waiting.get_by_role("link").click()
    expect(timeline_item(p.page, "Posted just before the tab closed")).to_have_count(1)
    expect(p.page.locator(".timeline li.message--pending")).to_have_count(0)
    assert pending_kept(p.page) == []
    assert stored_bodies(site, member, room).count("Posted just before the tab closed") == 1

    # Signing out forgets whatever is still kept.
    p.page.evaluate("([id, items]) => localStorage.setItem('kindred.pending.' + id, JSON.stringify(items))",
                    [member.id, [{"cid": "wforget-1", "room": room, "body": "never sent"}]])
    p.page.get_by_role("button", name="Sign out").click()
    expect(p.page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
    assert pending_kept(p.page) == []
    web.assert_clean()


# --------------------------------------------------------------------------- 7. smaller items


def test_the_last_message_menu_is_whole_and_offers_a_link_to_ones_own_message(site: Deployment, web: Browsers) -> None:
    room = ROOMS_B[2]
    a, b = member_in(site, ORG_B), member_in(site, ORG_B)
    post_messages(site, b, room, [f"Earlier message {i}" for i in range(40)])
    pa = web.person(viewport=PHONE, member=a)
    pa.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_room(pa.page, room)
    say(pa.page, "My own words, worth linking to")

    # The page scrolls, not a box inside it: the room's first message is not cut off.
    scroller = pa.page.locator(".message-scroll")
    assert scroller.evaluate("e => getComputedStyle(e).overflowY") == "visible"
    assert scroller.evaluate("e => e.scrollHeight <= e.clientHeight + 1")

    # Someone else's last message: Report and Block are whole on screen when the menu opens.
    post_messages(site, b, room, ["The last message in the room"])
    item = timeline_item(pa.page, "The last message in the room")
    item.get_by_role("button", name=re.compile("^More actions")).click()
    for name in ("Report", f"Block {b.handle}"):
        button = item.get_by_role("button", name=name)
        expect(button).to_be_in_viewport(ratio=1)

    # One's own message: a link to it, copied, opens it for another member.
    mine = timeline_item(pa.page, "My own words, worth linking to")
    mine.get_by_role("button", name=re.compile("^More actions")).click()
    mine.get_by_role("button", name="Copy a link to this message").click()
    expect(mine.get_by_role("status")).to_contain_text("The link is copied.")
    link = pa.page.evaluate("() => navigator.clipboard.readText()")
    assert re.search(rf"/#/room/{room}/thread/[0-9a-f]{{32}}$", link), link
    pb = web.person(member=b)  # on the other gateway in Redis mode: the same link, its address
    pb.page.goto(link[link.index("/#/"):])
    expect(pb.page.locator(".thread li.message")).to_contain_text("My own words, worth linking to")
    web.assert_clean()


def test_phone_hint_timestamps_return_to_the_room_safety_link_and_stemming(site: Deployment, web: Browsers) -> None:
    room = ROOMS_A[0]
    member, nav = member_in(site, ORG_A), navigator_of(site, ORG_A)

    # A phone has no Shift and Enter: the hint says to use Send, and Enter starts a new line.
    phone = web.person(viewport=PHONE, member=member, has_touch=True, is_mobile=True)
    open_room(phone.page, room)
    hint = phone.page.locator(".timeline .composer .hint")
    expect(hint).not_to_contain_text("Shift")
    expect(hint).to_contain_text("Use the Send button to send.")
    box = composer(phone.page)
    box.fill("first line")
    box.press("Enter")
    expect(box).to_have_value("first line\n")
    box.fill("I feel so nervous before every scan")
    phone.page.locator(".timeline").get_by_role("button", name="Send").click()
    expect(timeline_item(phone.page, "I feel so nervous before every scan")).to_be_visible()

    # Timestamps: full size, in the text colour.
    stamp = phone.page.locator(".timeline li.message time").last
    assert stamp.evaluate("e => parseFloat(getComputedStyle(e).fontSize)") >= 16
    assert stamp.evaluate("e => getComputedStyle(e).color") == phone.page.evaluate(
        "() => getComputedStyle(document.body).color")

    # Search finds other forms of a word.
    phone.page.goto("/#/search?q=nervousness")
    results = phone.page.get_by_role("list", name="Search results")
    expect(results).to_contain_text("I feel so nervous before every scan")

    # Signing in from a room link lands in that room.
    fresh = web.person()
    fresh.page.goto(f"/#/room/{room}")
    expect(fresh.page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
    fresh.page.get_by_label("Email address").fill(member.email)
    fresh.page.get_by_label("Password", exact=True).fill(PASSWORD)
    fresh.page.get_by_role("button", name="Sign in").click()
    expect(fresh.page.get_by_role("heading", level=1, name=f"{ORG_A[0]} lounge")).to_be_visible()
    expect(fresh.page.get_by_role("link", name="Safety queue")).to_be_hidden()

    # Navigators reach the safety queue from the menu, wherever they are.
    say(fresh.page, "Some days I want to end my life")
    n = web.person(member=nav)
    n.page.goto("/#/rooms")
    n.page.get_by_role("navigation", name="Main").get_by_role("link", name="Safety queue").click()
    expect(n.page.get_by_role("heading", level=1, name="Safety queue")).to_be_visible()
    entry = n.page.locator(".safety li", has_text="Some days I want to end my life")
    expect(entry).to_contain_text("Possible crisis")
    entry.get_by_role("link", name="Open the message").click()
    expect(n.page.locator(".thread li.message")).to_contain_text("Some days I want to end my life")
    assert json.dumps(pending_kept(n.page)) == "[]"
    web.assert_clean()
