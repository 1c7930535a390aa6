"""The header's count of new private messages survives a late ``unread`` frame (Chromium,
embedded and on two gateways).

An ``unread`` frame answers a read mark sent earlier (the page sends its own a second late),
so it can reach the page after the ``conversation`` frame of a newer message. Setting the
count to its ``count`` lost that message until the next reload (a flake of
test_browser_conversations.py under load). Here the page's socket is routed through
Playwright so that frame is held back and delivered after the newer message, every time.
"""

from __future__ import annotations

import json
import time

from playwright.sync_api import WebSocketRoute, expect

from support.browser import (
    ROOMS_A,
    Browsers,
    accept_request,
    call_api,
    post_messages,
    unique_handle,
)
from support.cluster import ORG_A, Deployment
from support.procs import TIMEOUT_SCALE


class _Holder:
    """Forwards the server's frames to the page, except ``unread`` frames for ``room`` while
    ``holding``: those wait in ``held`` until ``release``."""

    def __init__(self, room: str) -> None:
        self.room = room
        self.holding = False
        self.held: list[str] = []
        self.routes: list[WebSocketRoute] = []

    def route(self, ws: WebSocketRoute) -> None:
        self.routes.append(ws)
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if self.holding and frame.get("type") == "unread" and frame.get("room") == self.room:
                self.held.append(str(message))
            else:
                ws.send(message)

        server.on_message(from_server)

    def release(self) -> None:
        self.holding = False
        for message in self.held:
            self.routes[-1].send(message)
        self.held.clear()


def test_a_late_unread_frame_does_not_lose_a_newer_message(site: Deployment, web: Browsers) -> None:
    room = ROOMS_A[1]
    heron = site.register(org=ORG_A, handle=unique_handle("Heron"))
    maple = site.register(org=ORG_A, handle=unique_handle("Maple"))
    post_messages(site, heron, room, ["Hello everyone."])  # both take part in the room
    post_messages(site, maple, room, ["Hello Heron."])
    call_api(site, "PUT", "/api/me/dm", heron, {"allow": "communities"})
    conv = call_api(site, "POST", "/api/conversations", maple, {"with": [heron.id]})
    dm = conv["room"]
    post_messages(site, maple, dm, ["May I write to you here?"])
    accept_request(site, heron, conv["id"])

    maple_page = web.person(member=maple, gateway=len(site.gateways) - 1)  # not Heron's in Redis mode
    holder = _Holder(dm)
    maple_page.page.route_web_socket("**/ws", holder.route)
    maple_page.page.goto("/#/rooms")
    maple_page.page.wait_for_load_state("networkidle")  # the page's own counts have answered
    count = maple_page.page.locator("#conversation-count")
    expect(count).to_be_hidden()

    # Heron writes; Maple reads it on another device: that device's read mark is held back.
    holder.holding = True
    first = post_messages(site, heron, dm, ["Of course. How are you?"])[0]
    expect(count).to_have_text("1 new private message")
    call_api(site, "POST", f"/api/rooms/{dm}/read", maple, {"seq": first["seq"]})
    deadline = time.monotonic() + 10 * TIMEOUT_SCALE
    while not holder.held:
        assert time.monotonic() < deadline, "the read mark's unread frame never came"
        maple_page.page.wait_for_timeout(50)  # lets Playwright dispatch the socket's frames
    # Heron writes again; then the older read mark's frame arrives.
    post_messages(site, heron, dm, ["I am here whenever you want to talk."])
    expect(count).to_have_text("2 new private messages")
    holder.release()
    # The mark covers the first message only: the second is still new, as the server says.
    expect(count).to_have_text("1 new private message")
    maple_page.page.wait_for_timeout(300)  # and stays so
    expect(count).to_have_text("1 new private message")
    mine = call_api(site, "GET", "/api/conversations", maple)["conversations"]
    assert [c["unread"] for c in mine if c["room"] == dm] == [1]

    # A read mark that covers both clears the count.
    call_api(site, "POST", f"/api/rooms/{dm}/read", maple, {})
    expect(count).to_be_hidden()
    web.assert_clean()
