"""The server restarts mid-conversation: the page says it is reconnecting, then resumes with
nothing missed and nothing repeated (its own unsent message included)."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from support.browser import (
    ROOMS_A,
    WAIT_MS,
    Browsers,
    composer,
    member_in,
    open_room,
    post_messages,
    say,
    timeline_item,
)
from support.cluster import Deployment
from support.gateways import start_together
from support.http import TLS

ROOM = ROOMS_A[0]


def timeline(page: object) -> list[tuple[int, str]]:
    items = page.locator(".timeline li.message[data-seq]")  # type: ignore[attr-defined]
    seqs = items.evaluate_all("els => els.map(e => Number(e.dataset.seq))")
    bodies = items.locator(".message__body").all_inner_texts()
    return list(zip(seqs, bodies, strict=True))


def test_server_restart_mid_conversation(site: Deployment, browsers: Browsers) -> None:
    gw = site.gateways[0]
    ann, bea, cal = member_in(site), member_in(site), member_in(site)
    a, b = browsers.person(member=ann), browsers.person(member=bea)
    open_room(a.page, ROOM)
    open_room(b.page, ROOM)
    say(a.page, "before the restart")
    expect(timeline_item(b.page, "before the restart")).to_be_visible()

    for g in site.gateways:
        g.terminate()  # graceful: every socket is closed with 1012
    for p in (a.page, b.page):
        expect(p.locator("#connection")).to_contain_text("Reconnecting")
        expect(p.get_by_role("button", name="Try now")).to_be_visible()

    # Written while the server is away: kept, and shown as waiting.
    box = composer(b.page)
    box.fill("written while the server was away")
    box.press("Enter")
    pending = b.page.locator(".timeline li.message--pending")
    expect(pending).to_contain_text("Waiting to send")

    start_together(site.gateways)
    # Posted by someone else before the pages are back: they come with the resume.
    post_messages(site, cal, ROOM, ["while you were away 1", "while you were away 2"])

    for p in (a.page, b.page):
        expect(p.locator("#connection")).not_to_contain_text("Reconnecting", timeout=3 * WAIT_MS)
    say(a.page, "after the restart")
    expect(timeline_item(b.page, "after the restart")).to_be_visible()
    expect(pending).to_have_count(0)

    with httpx.Client(verify=TLS, base_url=gw.http_url, headers={"Authorization": f"Bearer {ann.token}"}) as http:
        stored = http.get(f"/api/rooms/{ROOM}/messages").json()["messages"]
    truth = sorted((m["seq"], m["body"]) for m in stored)
    assert len(truth) == 5
    # Both pages hold exactly what the server stored: nothing missed, nothing twice, in order.
    assert timeline(a.page) == truth
    assert timeline(b.page) == truth
    browsers.assert_clean()
