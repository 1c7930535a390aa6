"""Moderation in the page: a navigator mutes, removes a member from the room and removes a
message; the member sees what happened and why. Members report and block; a message in crisis
brings the resource card to its author and an alert to the navigator on duty."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from support.browser import (
    ROOMS_A,
    ROOMS_B,
    WAIT_MS,
    Browsers,
    composer,
    member_in,
    open_room,
    say,
    timeline_item,
)
from support.cluster import ORG_A, ORG_B, Deployment, Member


def navigator_of(dep: Deployment, org: tuple[str, str]) -> Member:
    """A navigator of ``org``: she moderates its local rooms."""
    nav = member_in(dep, org, prefix="nav")
    dep.cli("user", "role", nav.handle, "navigator")
    return nav


def open_more(page: Page, body: str) -> object:
    item = timeline_item(page, body)
    item.get_by_role("button", name=re.compile("^More actions")).click()
    return item


def test_navigator_mutes_kicks_and_removes_and_the_member_is_told_why(site: Deployment, web: Browsers) -> None:
    nav, mem, room = navigator_of(site, ORG_A), member_in(site, ORG_A), ROOMS_A[0]
    n, m = web.person(member=nav), web.person(member=mem)
    open_room(n.page, room)
    open_room(m.page, room)
    expect(n.page.get_by_role("region", name="Moderation")).to_be_visible()
    expect(m.page.get_by_role("region", name="Moderation")).to_have_count(0)
    # The navigator's role shows beside her name.
    say(n.page, "Welcome, everyone.")
    expect(timeline_item(m.page, "Welcome, everyone.").locator(".badge")).to_have_text("Navigator")

    # Remove a message.
    say(m.page, "Buy my miracle cure, only $99")
    item = open_more(n.page, "Buy my miracle cure, only $99")
    item.get_by_role("button", name="Remove message").click()
    item.get_by_label("Reason (the author is shown it)").fill("Selling products is not allowed here.")
    item.get_by_role("button", name="Remove message").click()
    expect(n.page.locator(".timeline li.message--removed")).to_contain_text("removed by a navigator")
    removed = m.page.locator(".timeline li.message--removed")
    expect(removed).to_contain_text("This message was removed by a navigator.")
    expect(removed).to_contain_text("The reason given: Selling products is not allowed here.")
    expect(m.page.get_by_text("Buy my miracle cure")).to_have_count(0)

    # Mute, with a reason the member is shown.
    say(m.page, "Why was that removed?")
    item = open_more(n.page, "Why was that removed?")
    item.get_by_role("button", name=f"Mute {mem.handle}").click()
    item.get_by_label("For how long?").select_option(label="10 minutes")
    item.get_by_label(f"Reason ({mem.handle} is shown it)").fill("Please take a short break; we can talk in private.")
    item.get_by_role("button", name="Mute", exact=True).click()
    expect(n.page.get_by_text(f"{mem.handle} is muted.")).to_be_visible()
    told = m.page.locator(".room__state").filter(has_text="muted you")
    expect(told).to_contain_text("A navigator has muted you in this room until")
    expect(told).to_contain_text("Please take a short break; we can talk in private.")
    expect(composer(m.page)).to_be_disabled()
    # The navigator's panel lists the mute and the audit log has both actions.
    panel = n.page.get_by_role("region", name="Moderation")
    expect(panel.get_by_role("region", name="Muted and removed members")).to_contain_text(f"{mem.handle} is muted")
    audit = panel.get_by_role("region", name="Audit log")
    expect(audit).to_contain_text(f"{nav.handle} muted {mem.handle}")
    expect(audit).to_contain_text(f"removed a message by {mem.handle}: Selling products is not allowed here.")

    # Kick: the member is asked to step out, and told why and until when.
    item.get_by_role("button", name="Close").click()
    item.get_by_role("button", name=f"Remove {mem.handle} from the room").click()
    item.get_by_label("Reason (" + mem.handle + " is shown it)").fill("A cooling-off hour, please.")
    item.get_by_role("button", name="Remove from room").click()
    kicked = m.page.locator(".room__state").filter(has_text="step out")
    expect(kicked).to_contain_text("A navigator has asked you to step out of this room until")
    expect(kicked).to_contain_text("A cooling-off hour, please.")
    expect(kicked.get_by_role("link", name="Go to the list of rooms")).to_be_visible()
    # Gone from the room for everyone else.
    expect(n.page.get_by_role("region", name=re.compile("^Here now")).get_by_text(mem.handle)).to_have_count(0)
    # Coming back by reloading the page is refused, kindly, with the same explanation.
    m.page.reload()
    expect(m.page.locator(".room__state").filter(has_text="step out")).to_contain_text("until")
    web.assert_clean()


def test_member_reports_blocks_and_the_navigator_on_duty_is_alerted(site: Deployment, web: Browsers) -> None:
    room = ROOMS_B[0]
    nav = navigator_of(site, ORG_B)
    mem, rude = member_in(site, ORG_B), member_in(site, ORG_B, prefix="rude")
    n, m, r = web.person(member=nav), web.person(member=mem), web.person(member=rude)
    open_room(n.page, room)
    panel = n.page.get_by_role("region", name="Moderation")
    panel.get_by_label("I am on duty: alert me to crisis messages and reports").check()
    expect(panel).to_contain_text("You are on duty.")
    open_room(m.page, room)
    open_room(r.page, room)
    expect(m.page.get_by_text("A navigator is on duty in this room now.")).to_be_visible()

    # Report: the member explains; the navigator on duty is alerted and finds it in the queue.
    say(r.page, "You are all fools for trusting doctors")
    item = open_more(m.page, "You are all fools for trusting doctors")
    item.get_by_role("button", name="Report").click()
    item.get_by_label("What is wrong with this message?").fill("This is unkind to everyone here.")
    item.get_by_role("button", name="Send report").click()
    expect(item.get_by_role("status").filter(has_text="Thank you")).to_be_visible()
    expect(panel.get_by_text("A message was reported")).to_be_visible()
    queue = panel.get_by_role("region", name="Safety queue")
    expect(queue).to_contain_text("You are all fools for trusting doctors")
    expect(queue).to_contain_text(f"reported by {mem.handle}; reason: This is unkind to everyone here.")
    queue.get_by_role("button", name="Mark as resolved").click()
    expect(queue).to_contain_text("Nothing waiting.")

    # Staff cannot be blocked, so the navigator's messages offer no such button.
    say(n.page, "I have seen the report, thank you.")
    open_more(m.page, "I have seen the report, thank you.")
    expect(m.page.get_by_role("button", name=f"Block {nav.handle}")).to_have_count(0)

    # Block: the member no longer sees the other's messages, old or new; the other is not told.
    item = timeline_item(m.page, "You are all fools for trusting doctors")
    item.get_by_role("button", name="Close").click()
    item.get_by_role("button", name=f"Block {rude.handle}").click()
    item.get_by_role("button", name="Block", exact=True).click()
    expect(timeline_item(m.page, "You are all fools for trusting doctors")).to_have_count(0)
    blocked = m.page.get_by_role("region", name="People you have blocked")
    expect(blocked).to_contain_text(rude.handle)
    say(r.page, "Still here, still rude")
    say(n.page, "A marker after the block")
    expect(timeline_item(m.page, "A marker after the block")).to_be_visible()
    expect(timeline_item(m.page, "Still here, still rude")).to_have_count(0)
    blocked.get_by_role("button", name=f"Unblock {rude.handle}").click()
    expect(blocked).to_contain_text(f"You have unblocked {rude.handle}.")

    # Crisis words: the author privately gets the resource card; the navigator an alert.
    say(m.page, "Some nights I just want to die")
    card = m.page.get_by_role("region", name="You are not alone")
    expect(card).to_contain_text("988 Suicide & Crisis Lifeline")
    expect(card.get_by_role("heading", name="You are not alone")).to_be_focused()
    expect(r.page.get_by_role("region", name="You are not alone")).to_have_count(0)
    expect(panel.get_by_text("A message may be from someone in crisis")).to_be_visible()
    expect(queue).to_contain_text("Some nights I just want to die")

    # Away from the room, the navigator on duty still hears of it, with a way there.
    n.page.get_by_role("link", name="Rooms", exact=True).click()
    say(m.page, "I feel like I'm better off dead")
    banner = n.page.locator("#alerts")
    expect(banner).to_contain_text("A message may be from someone in crisis in Hillcrest Oncology lounge.")
    banner.get_by_role("link", name="Open the message").click()
    expect(n.page.locator(".thread li.message")).to_contain_text("better off dead")
    web.assert_clean()


def test_navigator_slows_locks_and_pins_and_members_see_the_room_state(site: Deployment, web: Browsers) -> None:
    room = ROOMS_A[2]
    nav, mem = navigator_of(site, ORG_A), member_in(site, ORG_A)
    n, m = web.person(member=nav), web.person(member=mem)
    open_room(n.page, room)
    open_room(m.page, room)
    panel = n.page.get_by_role("region", name="Moderation")

    # Pin a resource.
    say(n.page, "Free parking vouchers are at the front desk.")
    item = open_more(n.page, "Free parking vouchers are at the front desk.")
    item.get_by_role("button", name="Pin to the top of the room").click()
    item.get_by_role("button", name="Pin", exact=True).click()
    pinned = m.page.get_by_role("region", name="Pinned")
    expect(pinned).to_contain_text("Free parking vouchers are at the front desk.")
    expect(pinned).to_contain_text(f"Pinned message from {nav.handle}")

    # Read-only: the member's box closes, and opens again.
    panel.get_by_role("button", name="Make the room read-only").click()
    expect(m.page.get_by_text("This room is read-only for now. Navigators can still post")).to_be_visible()
    expect(composer(m.page)).to_be_disabled()
    say(n.page, "Staff can still post while it is read-only.")
    panel.get_by_role("button", name="Open the room again").click()
    expect(composer(m.page)).to_be_enabled()

    # Slow mode: the second quick message waits its turn, then goes out by itself.
    panel.get_by_label("Slow mode").select_option(label="10 seconds")
    panel.get_by_role("button", name="Apply").click()
    expect(m.page.get_by_text("Slow mode is on: everyone can post once every 10 seconds.")).to_be_visible()
    say(m.page, "first, right away")
    box = composer(m.page)
    box.fill("second, a little later")
    box.press("Enter")
    expect(m.page.locator(".timeline li.message--pending")).to_contain_text("Slow mode: sending in")
    expect(timeline_item(n.page, "second, a little later")).to_be_visible(timeout=2 * WAIT_MS)
    expect(m.page.locator(".timeline li.message--pending")).to_have_count(0)
    web.assert_clean()


def test_a_removed_message_goes_from_the_screen_of_a_reader_whose_focus_is_in_it(
    site: Deployment, web: Browsers,
) -> None:
    """An item holding the keyboard focus is not redrawn for a passing change (the focus
    would be pulled from under its reader); a removal is, and the focus goes to the redrawn
    item. Before, the removed body stayed on the screen of whoever had the focus in it."""
    nav, mem, room = navigator_of(site, ORG_A), member_in(site, ORG_A), ROOMS_A[0]
    n, m = web.person(member=nav), web.person(member=mem)
    open_room(n.page, room)
    open_room(m.page, room)
    say(m.page, "My phone number is in this one by mistake")
    mine = timeline_item(m.page, "My phone number is in this one by mistake")
    # The room is shared with the other tests of the module: other removed messages may be
    # in its timeline, so this one is found by its id.
    removed = m.page.locator(f'.timeline li[data-id="{mine.get_attribute("data-id")}"]')
    mine.get_by_role("button", name=re.compile("^Reply")).focus()
    item = open_more(n.page, "My phone number is in this one by mistake")
    item.get_by_role("button", name="Remove message").click()
    item.get_by_label("Reason (the author is shown it)").fill("Personal details, removed for you.")
    item.get_by_role("button", name="Remove message").click()
    expect(removed).to_have_class(re.compile(r"\bmessage--removed\b"))
    expect(removed).to_contain_text("This message was removed by a navigator.")
    expect(m.page.get_by_text("My phone number is in this one by mistake")).to_have_count(0)
    expect(removed).to_be_focused()
