"""A member who types quickly, against the real send limit: every message arrives, in the order
written, with no disconnect (issue 12, point 2). The page sends one message at a time and waits
as long as each `rate_limited` says; the server never closes a client that waits as told.

Its own deployments (embedded, then Redis mode with two gateways) with a send limit of 1 a
second and a burst of 3, so at least 12 of 30 messages typed in 9 s must queue behind it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from support.browser import (
    ROOMS_A,
    WAIT_MS,
    Browsers,
    chromium,
    composer,
    member_in,
    open_room,
    timeline_item,
)
from support.cluster import Deployment, deployment_in_mode

LIMITS = {"KINDRED_SEND_RATE": "60", "KINDRED_SEND_BURST": "3"}  # 1 a second, 3 at once


@pytest.fixture(scope="module", params=["embedded", "redis"])
def limited(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    yield from deployment_in_mode(request, tmp_path_factory, "limited", LIMITS)


@pytest.fixture(scope="module")
def chrome(limited: Deployment) -> Iterator[Browsers]:
    with chromium([gw.http_url for gw in limited.gateways]) as b:
        yield b


def test_thirty_messages_typed_in_nine_seconds_arrive_in_order_without_a_reconnect(limited: Deployment, chrome: Browsers) -> None:
    room = ROOMS_A[0]
    writer, reader = member_in(limited), member_in(limited)
    w, r = chrome.person(member=writer), chrome.person(member=reader)  # both gateways in Redis mode
    sockets: list[Any] = []
    w.page.on("websocket", lambda ws: sockets.append(ws))
    banner: list[str] = []
    w.page.expose_function("kindredSawBanner", lambda text: banner.append(text))
    open_room(w.page, room)
    open_room(r.page, room)
    # Everything the connection line ever says, to be sure it never said "Reconnecting".
    w.page.evaluate("""() => new MutationObserver(() => window.kindredSawBanner(
        document.getElementById('connection').textContent)).observe(
        document.getElementById('connection'), {childList: true, characterData: true, subtree: true})""")

    bodies = [f"quick note {i:02d}" for i in range(1, 31)]
    box = composer(w.page)
    for body in bodies:  # typed and sent every 0.3 s: 30 in 9 s
        box.fill(body)
        box.press("Enter")
        w.page.wait_for_timeout(300)
    # The composer says plainly why they are not all out yet.
    expect(w.page.locator(".timeline .composer__status")).to_contain_text("You are writing quickly")

    # All arrive for the other member, in the order written: the 27 over the burst go out at
    # 1 a second, so the last lands within 27 s of the first; the wait is bounded above that.
    expect(timeline_item(r.page, bodies[-1])).to_be_visible(timeout=4 * WAIT_MS)
    shown = r.page.locator(".timeline li.message[data-seq] .message__body").all_inner_texts()
    assert [b for b in shown if b.startswith("quick note")] == bodies
    expect(w.page.locator(".timeline li.message--pending")).to_have_count(0)
    expect(w.page.locator(".timeline .composer__status")).to_be_empty()
    mine = w.page.locator(".timeline li.message[data-seq] .message__body").all_inner_texts()
    assert [b for b in mine if b.startswith("quick note")] == bodies

    # No reconnect: one WebSocket for the whole time, never closed, and no banner.
    assert len(sockets) == 1 and not sockets[0].is_closed()
    assert not [t for t in banner if "Reconnecting" in t], banner
    chrome.assert_clean()
