"""An HTTP answer counted before a frame that arrived while it travelled does not overwrite
the newer count that frame told (Chromium, embedded and on two gateways).

The page reads its counts over HTTP (``GET /api/me/unread`` with every notification, on
(re)connecting and every 20 s on the rooms list; ``GET /api/conversations`` on the Messages
page) while frames keep them current. Taking an answer as it is lost a private message counted
from a ``conversation`` frame, brought back a room's count after an ``unread`` frame cleared it,
and the notification badge after ``notifications_read``. Here Playwright asks the server at
once (so the answer is counted then) but hands the answer to the page only after the frame,
every time.
"""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Page, Route, expect

from support.browser import (
    ROOMS_A,
    Browsers,
    accept_request,
    call_api,
    post_messages,
    shoot,
    unique_handle,
)
from support.cluster import ORG_A, Deployment, Member
from support.procs import TIMEOUT_SCALE


class _Late:
    """While ``holding``, a GET of ``path`` is sent to the server at once and its answer kept
    in ``held`` until ``release``; otherwise it goes through."""

    def __init__(self, page: Page, path: str) -> None:
        self.page = page
        self.holding = False
        self.held: list[tuple[Route, Any]] = []
        page.route(f"**{path}", self._route)

    def _route(self, route: Route) -> None:
        if self.holding and route.request.method == "GET":
            self.held.append((route, route.fetch()))  # counted by the server now
        else:
            route.continue_()

    def wait_held(self) -> Any:
        deadline = time.monotonic() + 10 * TIMEOUT_SCALE
        while not self.held:
            assert time.monotonic() < deadline, "the page never asked"
            self.page.wait_for_timeout(50)  # lets Playwright run the route handler
        return self.held[0][1].json()

    def release(self) -> None:
        self.holding = False
        for route, response in self.held:
            route.fulfill(response=response)
        self.held.clear()


def _pair(site: Deployment) -> tuple[Member, Member, dict[str, Any]]:
    """Heron and Maple, with an open conversation Maple has read."""
    heron = site.register(org=ORG_A, handle=unique_handle("Heron"))
    maple = site.register(org=ORG_A, handle=unique_handle("Maple"))
    post_messages(site, heron, ROOMS_A[1], ["Hello everyone."])  # both take part in the room
    post_messages(site, maple, ROOMS_A[1], ["Hello Heron."])
    call_api(site, "PUT", "/api/me/dm", heron, {"allow": "communities"})
    conv = call_api(site, "POST", "/api/conversations", maple, {"with": [heron.id]})
    post_messages(site, maple, conv["room"], ["May I write to you here?"])
    accept_request(site, heron, conv["id"])
    return heron, maple, conv


def _settle(page: Page) -> None:
    page.wait_for_load_state("networkidle")  # the page's own counts have answered


def test_a_late_unread_answer_keeps_a_newer_private_message(site: Deployment, web: Browsers) -> None:
    heron, maple, conv = _pair(site)
    maple_page = web.person(member=maple, gateway=len(site.gateways) - 1)  # not Heron's in Redis mode
    page = maple_page.page
    late = _Late(page, "/api/me/unread")
    page.goto("/#/rooms")
    _settle(page)
    count = page.locator("#conversation-count")
    expect(count).to_be_hidden()

    # A mention makes the page read its counts: the answer is counted now, shown later.
    late.holding = True
    post_messages(site, heron, ROOMS_A[0], [f"@{maple.handle} there is a new group on Thursdays."])
    answer = late.wait_held()
    assert conv["room"] not in answer["conversations"]
    # Heron writes privately while that answer travels.
    post_messages(site, heron, conv["room"], ["Of course. How are you?"])
    expect(count).to_have_text("1 new private message")
    late.release()
    page.wait_for_timeout(300)
    expect(count).to_have_text("1 new private message")

    # An answer counted after the message agrees (in Redis mode perhaps before a writer
    # stored it: counted_to tells the page it is not in that count).
    post_messages(site, heron, ROOMS_A[0], [f"@{maple.handle} see you there."])
    expect(page.locator("#notification-count")).to_have_text("2 unread")
    _settle(page)
    expect(count).to_have_text("1 new private message")
    mine = call_api(site, "GET", "/api/conversations", maple)["conversations"]
    assert [c["unread"] for c in mine if c["room"] == conv["room"]] == [1]
    web.assert_clean()


def test_a_late_conversations_list_keeps_a_newer_private_message(site: Deployment, web: Browsers) -> None:
    heron, maple, conv = _pair(site)
    maple_page = web.person(member=maple, gateway=len(site.gateways) - 1)
    page = maple_page.page
    late = _Late(page, "/api/conversations")
    page.goto("/#/rooms")
    _settle(page)
    count = page.locator("#conversation-count")
    expect(count).to_be_hidden()

    late.holding = True
    page.locator("#nav-conversations").click()  # the page reads the list
    answer = late.wait_held()
    assert [c["unread"] for c in answer["conversations"] if c["room"] == conv["room"]] == [0]
    post_messages(site, heron, conv["room"], ["Of course. How are you?"])
    expect(count).to_have_text("1 new private message")
    late.release()
    row = page.locator(f'.conversation[data-id="{conv["id"]}"]')
    expect(row).to_contain_text("1 new message")
    page.wait_for_timeout(300)
    expect(count).to_have_text("1 new private message")
    expect(row).to_contain_text("1 new message")
    shoot(page, "messages-late-answer")
    web.assert_clean()


def test_a_late_unread_answer_keeps_newer_read_marks(site: Deployment, web: Browsers) -> None:
    """A room read and the notifications read on another device while an answer counted
    before travels: neither count comes back."""
    room = ROOMS_A[2]
    heron = site.register(org=ORG_A, handle=unique_handle("Heron"))
    maple = site.register(org=ORG_A, handle=unique_handle("Maple"))
    post_messages(site, heron, room, ["Caregivers meet tonight.", "Bring a friend if you like."])
    maple_page = web.person(member=maple, gateway=len(site.gateways) - 1)
    page = maple_page.page
    late = _Late(page, "/api/me/unread")
    page.goto("/#/rooms")
    _settle(page)
    badge = page.locator(f'[data-unread="{room}"]')
    expect(badge).to_contain_text("new messages")
    notifications = page.locator("#notification-count")

    late.holding = True
    post_messages(site, heron, ROOMS_A[0], [f"@{maple.handle} the caregivers meet tonight."])
    expect(notifications).to_have_text("1 unread")
    answer = late.wait_held()
    assert answer["notifications"] == 1 and answer["rooms"][room] >= 2
    # Maple reads both on their phone; the frames say so before the answer arrives.
    call_api(site, "POST", "/api/notifications/read", maple, {"all": True})
    call_api(site, "POST", f"/api/rooms/{room}/read", maple, {})
    expect(notifications).to_be_hidden()
    expect(badge).to_be_empty()
    late.release()
    page.wait_for_timeout(300)
    expect(notifications).to_be_hidden()
    expect(badge).to_be_empty()

    # An answer counted after both agrees.
    page.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")  # reads again
    _settle(page)
    expect(notifications).to_be_hidden()
    expect(badge).to_be_empty()
    shoot(page, "rooms-late-answer")
    web.assert_clean()


def _stored(site: Deployment, member: Member, room: str, count: int) -> None:
    """Until ``room``'s history holds ``count`` messages (with Redis, writers commit after the ack)."""
    deadline = time.monotonic() + 10 * TIMEOUT_SCALE
    while len(call_api(site, "GET", f"/api/rooms/{room}/messages", member)["messages"]) < count:
        assert time.monotonic() < deadline, f"{room} never held {count} messages"
        time.sleep(0.05)


def test_an_older_mark_from_another_device_keeps_what_is_still_new(site: Deployment, web: Browsers) -> None:
    """Counts the page learned only over HTTP (it opened after the messages were posted, so
    no frame told it of them) survive a read mark set below them on another device: the
    `unread` frame says what is still new after its mark (protocol 1.4). It said 0 before,
    and the page showed nothing new until its next answer."""
    room = ROOMS_A[1]
    heron, maple, conv = _pair(site)
    call_api(site, "POST", f"/api/rooms/{room}/read", maple, {})  # what others said before
    in_room = post_messages(site, heron, room, ["Tea at four.", "The garden is open.", "Bring a coat."])
    in_private = post_messages(site, heron, conv["room"], ["Thank you.", "How are you?", "Write soon."])
    _stored(site, maple, room, 5)
    _stored(site, maple, conv["room"], 4)
    page = web.person(member=maple, gateway=len(site.gateways) - 1).page
    page.goto("/#/rooms")
    _settle(page)
    badge = page.locator(f'[data-unread="{room}"]')
    count = page.locator("#conversation-count")
    expect(badge).to_have_text("3 new messages")
    expect(count).to_have_text("3 new private messages")

    # Maple's phone had shown only the first of each when it marked them read.
    call_api(site, "POST", f"/api/rooms/{room}/read", maple, {"seq": in_room[0]["seq"]})
    call_api(site, "POST", f"/api/rooms/{conv['room']}/read", maple, {"seq": in_private[0]["seq"]})
    expect(badge).to_have_text("2 new messages")
    expect(count).to_have_text("2 new private messages")
    page.wait_for_timeout(300)
    expect(badge).to_have_text("2 new messages")
    expect(count).to_have_text("2 new private messages")
    web.assert_clean()
