"""Real Chromium for browser tests: Debian's /usr/bin/chromium driven by Playwright.

Every page opened through ``Browsers.person`` is watched: a request to any host other than the
server under test, a Content-Security-Policy violation or an uncaught page error is recorded,
and ``Browsers.assert_clean()`` fails the test on any of them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import string
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright
from websockets.sync.client import connect as ws_connect

from rooms.catalog import slugify
from support.cluster import ORG_A, ORG_B, PASSWORD, Deployment, Member
from support.http import TLS
from support.procs import TIMEOUT_SCALE

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
REPO = Path(__file__).resolve().parents[2]
AXE_JS = Path(os.environ.get("KINDRED_AXE_JS", REPO / ".venv/axe/node_modules/axe-core/axe.min.js"))

# The local rooms of the two organizations every Deployment has: quiet in a fresh deployment.
ROOMS_A = [f"{slugify(ORG_A[0])}-{s}" for s in ("lounge", "support-group", "caregivers-circle")]
ROOMS_B = [f"{slugify(ORG_B[0])}-{s}" for s in ("lounge", "support-group", "caregivers-circle")]

# Playwright's own waits (expect, locators), scaled like every other wait in the suite.
WAIT_MS = 10_000 * TIMEOUT_SCALE
expect.set_options(timeout=WAIT_MS)


def new_handle(prefix: str = "b") -> str:
    return prefix + "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))


@dataclass
class Person:
    """One member in one browser context (their own cookies), with one page."""

    context: BrowserContext
    page: Page
    handle: str = ""
    email: str = ""
    member: Member | None = None


@dataclass
class Browsers:
    playwright: Playwright
    browser: Browser
    base_urls: list[str]
    foreign_requests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """The first gateway's address."""
        return self.base_urls[0]

    def person(
        self, viewport: dict[str, int] | None = None, member: Member | None = None,
        gateway: int | None = None, **options: Any,
    ) -> Person:
        """A fresh context; signed in already when ``member`` (a session token) is given. The
        people of a test take the gateways in turn (the first person the first gateway, the
        second the second, ...) unless ``gateway`` is given; ``options`` go to new_context."""
        index = len(self.contexts) if gateway is None else gateway
        base_url = self.base_urls[index % len(self.base_urls)]
        context = self.browser.new_context(
            viewport=viewport or DESKTOP, base_url=base_url, reduced_motion="reduce", **options
        )
        context.set_default_timeout(WAIT_MS)
        own = urlsplit(base_url).netloc

        def watch_request(request: Any) -> None:
            parts = urlsplit(request.url)
            if parts.scheme in ("data", "blob", "about"):
                return
            if parts.netloc != own:
                self.foreign_requests.append(request.url)

        context.on("request", watch_request)
        if member is not None:
            context.add_cookies([{"name": "kindred_session", "value": member.token, "url": base_url}])
        page = context.new_page()

        def watch_console(msg: Any) -> None:
            text = msg.text
            if "Content Security Policy" in text or "Refused to" in text:
                self.problems.append(f"CSP: {text}")

        page.on("console", watch_console)
        page.on("websocket", lambda ws: watch_request(ws))  # has .url, like a request
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("dialog", lambda dialog: (self.problems.append(f"dialog opened: {dialog.message}"), dialog.dismiss()))
        self.contexts.append(context)
        return Person(context, page, member.handle if member else "", member.email if member else "", member)

    def assert_clean(self) -> None:
        assert not self.foreign_requests, f"requests left for other hosts: {self.foreign_requests}"
        assert not self.problems, "\n".join(self.problems)

    def close_contexts(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()


@contextmanager
def chromium(base_urls: str | list[str]) -> Iterator[Browsers]:
    """Chromium for people using these gateways (one address, or one per gateway)."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        try:
            yield Browsers(pw, browser, [base_urls] if isinstance(base_urls, str) else base_urls)
        finally:
            browser.close()


# --------------------------------------------------------------------------- page steps


def register_in_page(page: Page, key_phrase: str, handle: str, email: str) -> None:
    """Create an account through the form; the page signs in and shows the room list."""
    page.goto("/#/register")
    page.get_by_label("Organization key phrase").fill(key_phrase)
    page.get_by_label("Handle (public name)").fill(handle)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1, name="Rooms")).to_be_visible()


def people(page: Page) -> Any:
    """The "Here now" list."""
    return page.get_by_role("region", name=re.compile("^Here now"))


def open_room(page: Page, slug: str) -> None:
    page.goto(f"/#/room/{slug}")
    # Joined: the page lists this member among those here.
    expect(people(page).locator("li").first).to_be_visible()


def composer(page: Page) -> Any:
    return page.locator(".timeline").get_by_label(re.compile("^Your message"))


def say(page: Page, body: str) -> None:
    box = composer(page)
    box.fill(body)
    box.press("Enter")
    expect(timeline_item(page, body)).to_be_visible()


def timeline_item(page: Page, body: str) -> Any:
    """A sent message of the timeline (not a pending copy) with exactly this body."""
    return page.locator(".timeline li.message[data-seq]").filter(
        has=page.locator(".message__body", has_text=re.compile(f"^{re.escape(body)}$"))
    )


def run_axe(page: Page) -> list[dict[str, Any]]:
    """Serious and critical violations of WCAG 2.x A/AA (and best practices) on the page now."""
    assert AXE_JS.is_file(), f"axe-core is missing at {AXE_JS}: run `make test` (it installs it)"
    # Evaluated through the DevTools protocol, so the page's CSP (no inline script) still holds.
    page.evaluate(AXE_JS.read_text())
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values:
                ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
        }"""
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


def shoot(page: Page, name: str) -> None:
    """With KINDRED_SCREENSHOTS_DIR set, a desktop and a phone screenshot of the page
    (``<name>-desktop.png``, ``<name>-phone.png``); the page keeps its own viewport."""
    out = os.environ.get("KINDRED_SCREENSHOTS_DIR")
    if not out:
        return
    before = page.viewport_size
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=str(Path(out) / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(Path(out) / f"{name}-phone.png"), full_page=True)
    if before is not None:
        page.set_viewport_size(before)


def no_horizontal_scroll(page: Page) -> bool:
    return bool(page.evaluate(
        "() => document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth + 1"
    ))


# --------------------------------------------------------------------------- outside the page


def post_messages(dep: Deployment, member: Member, room: str, bodies: Iterable[str], reply_to: str | None = None) -> list[dict[str, Any]]:
    """Post messages as ``member`` with a plain WebSocket client; return the acks in order."""
    acks = []
    with ws_connect(dep.gateways[0].ws_url, subprotocols=["kindred.v1.json"],  # type: ignore[list-item]
                    additional_headers={"Authorization": f"Bearer {member.token}"},
                    open_timeout=10 * TIMEOUT_SCALE) as ws:
        ws.send(json.dumps({"type": "join", "room": room}))
        _wait(ws, lambda f: f.get("type") == "joined")
        for i, body in enumerate(bodies):
            cid = f"t{secrets.token_hex(6)}-{i}"
            frame: dict[str, Any] = {"type": "send", "room": room, "body": body, "cid": cid}
            if reply_to:
                frame["reply_to"] = reply_to
            ws.send(json.dumps(frame))
            ack = _wait(ws, lambda f, cid=cid: f.get("cid") == cid)
            assert ack["type"] == "ack", ack
            acks.append(ack)
    return acks


def _wait(ws: Any, match: Any) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(ws.recv(timeout=10 * TIMEOUT_SCALE))
        if match(frame):
            return frame


def member_in(dep: Deployment, org: tuple[str, str] = ORG_A, prefix: str = "b") -> Member:
    return dep.register(org=org, handle=new_handle(prefix))


def accept_request(dep: Deployment, member: Member, conversation_id: str) -> None:
    """``member`` accepts a private-message request, once it is listed for them: a request
    reaches its recipient when its first message is recorded as such, which the gateway does
    after the message is stored (accepting before that is a 404)."""
    headers = {"Authorization": f"Bearer {member.token}"}
    deadline = time.monotonic() + 5 * TIMEOUT_SCALE
    with httpx.Client(verify=TLS, base_url=dep.gateways[0].http_url, timeout=30, headers=headers) as http:
        while True:
            r = http.get("/api/conversations")
            assert r.status_code == 200, r.text
            if conversation_id in [c["id"] for c in r.json()["conversations"]]:
                break
            assert time.monotonic() < deadline, f"{conversation_id} never listed for {member.id}"
            time.sleep(0.05)
        r = http.post(f"/api/conversations/{conversation_id}/accept")
        assert r.status_code == 200, r.text


def call_api(dep: Deployment, method: str, path: str, member: Member, body: object = None) -> Any:
    """One HTTP call to the first gateway as ``member``; asserts success, returns the JSON."""
    with httpx.Client(verify=TLS, base_url=dep.gateways[0].http_url, timeout=30) as http:
        r = http.request(method, path, json=body, headers={"Authorization": f"Bearer {member.token}"})
        assert r.status_code < 300, r.text
        return r.json()


def unique_handle(base: str) -> str:
    """``base`` with a random suffix: a handle no other test of the run has taken."""
    return f"{base}_{''.join(secrets.choice(string.ascii_lowercase) for _ in range(3))}"
