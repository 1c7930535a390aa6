"""The browser client in real Chromium: registering, talking, threads, history and search.

Each mode in turn (embedded; Redis with two gateways) and one Chromium for the module; each test uses fresh
browser contexts and, where rooms must be quiet, a fresh organization's local rooms.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from support.browser import (
    ROOMS_A,
    ROOMS_B,
    Browsers,
    composer,
    member_in,
    new_handle,
    open_room,
    people,
    post_messages,
    register_in_page,
    say,
    timeline_item,
)
from support.cluster import ORG_A, ORG_B, Deployment


def test_two_members_register_talk_and_reply_in_a_thread(site: Deployment, web: Browsers) -> None:
    name, phrase = ORG_A
    a, b = web.person(), web.person()
    ha, hb = new_handle("ann"), new_handle("bea")
    register_in_page(a.page, phrase, ha, f"{ha}@example.org")
    register_in_page(b.page, phrase, hb, f"{hb}@example.org")

    # Both find their organization's lounge in the directory and open it.
    for p in (a.page, b.page):
        p.get_by_label("Find a room by name").fill("lounge")
        p.get_by_role("link", name=f"{name} lounge").click()
        expect(p.get_by_role("heading", level=1, name=f"{name} lounge")).to_be_visible()
    # Each sees the other here now.
    expect(people(a.page)).to_contain_text(hb)
    expect(people(b.page)).to_contain_text(ha)

    say(a.page, "Hello, is anyone around this evening?")
    seen = timeline_item(b.page, "Hello, is anyone around this evening?")
    expect(seen).to_be_visible()
    expect(seen.locator(".message__author")).to_have_text(ha)

    # Typing shows on the other side.
    composer(b.page).press_sequentially("I am")
    expect(a.page.locator(".typing")).to_have_text(f"{hb} is typing…")

    # B answers in a thread.
    seen.get_by_role("button", name=f"Reply to {ha}").click()
    thread = b.page.locator(".thread")
    expect(thread.get_by_role("heading", name=f"Thread started by {ha}")).to_be_visible()
    reply_box = thread.get_by_label("Your reply")
    expect(reply_box).to_be_focused()
    reply_box.fill("I am here. How are you feeling?")
    reply_box.press("Enter")
    expect(thread.locator("li.message[data-seq]", has_text="How are you feeling?")).to_be_visible()

    # A sees the reply as a thread under the first message, not as a loose message.
    root = timeline_item(a.page, "Hello, is anyone around this evening?")
    expect(root.get_by_role("button", name="1 reply: open the thread")).to_be_visible()
    expect(timeline_item(a.page, "I am here. How are you feeling?")).to_have_count(0)
    root.get_by_role("button", name="1 reply: open the thread").click()
    a_thread = a.page.locator(".thread")
    expect(a_thread.locator("li.message")).to_have_count(2)
    expect(a_thread.locator("li.message").nth(1)).to_contain_text(hb)
    expect(a_thread.locator("li.message").nth(1)).to_contain_text("How are you feeling?")
    assert "/thread/" in a.page.url
    # The thread is an address: Back closes it.
    a_thread.get_by_role("button", name="Back to the room").click()
    expect(a.page.locator(".thread")).to_have_count(0)
    web.assert_clean()


def test_history_scrolls_back_and_search_finds_an_old_message(site: Deployment, web: Browsers) -> None:
    room = ROOMS_A[1]
    author = member_in(site)
    reader = member_in(site)
    bodies = [f"old note {i:03d}" for i in range(1, 71)]
    bodies[0] = "old note 001 about zucchini soup"
    post_messages(site, author, room, bodies)

    r = web.person(member=reader)
    open_room(r.page, room)
    # The newest page is shown; the first message is not, until the reader asks for more.
    shown = r.page.locator(".timeline li.message")
    expect(timeline_item(r.page, "old note 070")).to_be_visible()
    expect(shown).to_have_count(50)
    expect(timeline_item(r.page, "old note 001 about zucchini soup")).to_have_count(0)
    r.page.get_by_role("button", name="Show earlier messages").click()
    expect(shown).to_have_count(70)
    expect(r.page.get_by_role("button", name="Show earlier messages")).to_be_hidden()
    expect(timeline_item(r.page, "old note 001 about zucchini soup")).to_be_visible()
    expect(r.page.locator(".history-controls")).to_contain_text("This is the start of the room's history.")
    # All 70, each once, in order.
    texts = r.page.locator(".timeline li.message .message__body").all_inner_texts()
    assert texts == bodies

    # Search finds the old message and opens it in its room.
    r.page.get_by_role("link", name="Search").click()
    r.page.get_by_label("Search messages").fill("zucchini")
    r.page.get_by_role("button", name="Search").click()
    expect(r.page.locator("main").get_by_role("status")).to_have_text("1 message found.")
    result = r.page.get_by_role("list", name="Search results").locator("li")
    expect(result).to_contain_text("old note 001 about zucchini soup")
    expect(result).to_contain_text(author.handle)
    result.get_by_role("link", name="Open in its room").click()
    expect(r.page.locator(".thread li.message")).to_contain_text("zucchini soup")
    web.assert_clean()


def test_personal_details_are_confirmed_kindly_before_posting(site: Deployment, web: Browsers) -> None:
    writer, other = member_in(site), member_in(site)
    w, o = web.person(member=writer), web.person(member=other)
    open_room(w.page, ROOMS_A[2])
    open_room(o.page, ROOMS_A[2])
    box = composer(w.page)
    box.fill("You can call me on 555-123-4567 after six")
    box.press("Enter")
    dialog = w.page.get_by_role("group", name="Before you post")
    expect(dialog).to_contain_text("a phone number")
    expect(w.page.get_by_role("heading", name="Before you post")).to_be_focused()
    # Nothing was posted while the question is open.
    expect(o.page.locator(".timeline li.message")).to_have_count(0)
    dialog.get_by_role("button", name="Edit my message").click()
    expect(box).to_have_value("You can call me on 555-123-4567 after six")
    box.press("Enter")
    w.page.get_by_role("group", name="Before you post").get_by_role("button", name="Post it anyway").click()
    expect(timeline_item(o.page, "You can call me on 555-123-4567 after six")).to_have_count(1)
    expect(timeline_item(w.page, "You can call me on 555-123-4567 after six")).to_have_count(1)
    web.assert_clean()


def test_a_page_reload_shows_the_same_room_without_repeats(site: Deployment, web: Browsers) -> None:
    m = member_in(site, ORG_B)
    p = web.person(member=m)
    open_room(p.page, ROOMS_B[0])
    for i in range(3):
        say(p.page, f"note {i}")
    p.page.reload()
    expect(timeline_item(p.page, "note 2")).to_be_visible()
    say(p.page, "after reload")
    texts = p.page.locator(".timeline li.message .message__body").all_inner_texts()
    assert texts == ["note 0", "note 1", "note 2", "after reload"]
    assert re.search(r"#/room/", p.page.url)
    web.assert_clean()
