"""Screenshots of every screen of the browser client, at desktop and phone width.

    make screenshots        # writes docs/screenshots/*.png

Starts a throw-away deployment, fills a room with a made-up conversation (no real people, no
real names), and photographs each screen in Debian's Chromium. Run from ``tests/`` as
``python -m support.browser_screenshots OUT_DIR``.
"""

from __future__ import annotations

import re
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from support.browser import (
    DESKTOP,
    PHONE,
    ROOMS_A,
    Browsers,
    chromium,
    composer,
    open_room,
    post_messages,
    timeline_item,
)
from support.cluster import ORG_A, Deployment, Member

ROOM = ROOMS_A[1]  # "Riverside Cancer Center support group"


def cast(dep: Deployment) -> dict[str, Member]:
    people = {h: dep.register(handle=h) for h in ("NurseJo", "QuietHeron", "SunnyDay_7", "Maple_Leaf", "RiverStone")}
    dep.cli("user", "role", "NurseJo", "navigator")
    return people


def conversation(dep: Deployment, p: dict[str, Member]) -> None:
    post_messages(dep, p["SunnyDay_7"], ROOM, ["Good morning, everyone. Scan day tomorrow and I can't settle."])
    post_messages(dep, p["Maple_Leaf"], ROOM, ["Sending you calm thoughts. Scanxiety is so real. I listen to an audiobook in the waiting room."])
    post_messages(dep, p["NurseJo"], ROOM, ["Welcome, all. I'm on shift until 6 tonight if anyone would like to talk."])
    root = post_messages(dep, p["QuietHeron"], ROOM, ["Did anyone else find the second round of chemo easier than the first?"])[0]
    post_messages(dep, p["RiverStone"], ROOM, ["Much easier for me. The nurses adjusted the anti-nausea medicine."], reply_to=root["id"])
    post_messages(dep, p["SunnyDay_7"], ROOM, ["Same here. Ginger tea helped too."], reply_to=root["id"])
    post_messages(dep, p["RiverStone"], ROOM, ["Tip: ask for a warm blanket during infusions. They always have them."])


def _call(dep: Deployment, who: Member, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    r = httpx.request(method, f"{dep.gateways[0].http_url}{path}", json=body,
                      headers={"Authorization": f"Bearer {who.token}"}, timeout=30)
    assert r.status_code in (200, 201), r.text
    found: dict[str, Any] = r.json()
    return found


def sessions(dep: Deployment, p: dict[str, Member]) -> dict[str, str]:
    """Three sessions: a weekly drop-in next week, a webinar whose lobby is open, and a past
    drop-in with its archive published. Returns their ids."""
    nurse = p["NurseJo"]
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    week = now + timedelta(days=6)
    weekly = _call(dep, nurse, "POST", "/api/events", {
        "room": ROOMS_A[2], "kind": "drop_in", "title": "Tuesday evening caregivers' drop-in",
        "description": "An hour with our social worker for partners, parents and friends. Come as you are.",
        "starts_at": week.isoformat(), "ends_at": (week + timedelta(hours=1)).isoformat(),
        "capacity": 8, "recurrence": "FREQ=WEEKLY;COUNT=6", "tz": "America/Chicago"})
    soon = now + timedelta(minutes=8)
    webinar = _call(dep, nurse, "POST", "/api/events", {
        "room": ROOMS_A[0], "kind": "webinar", "title": "Eating well during chemotherapy",
        "description": "Our oncology dietitian on appetite, taste changes and easy meals. Questions welcome.",
        "starts_at": soon.isoformat(), "ends_at": (soon + timedelta(hours=1)).isoformat(),
        "audience_mode": "hosts_only", "lobby_minutes": 10})
    past = _call(dep, nurse, "POST", "/api/events", {
        "room": ROOM, "kind": "drop_in", "title": "Scan-day worries: a drop-in",
        "starts_at": (now + timedelta(hours=3)).isoformat(), "ends_at": (now + timedelta(hours=4)).isoformat(),
        "capacity": 6})
    for who in ("QuietHeron", "Maple_Leaf", "SunnyDay_7"):
        for ev in (weekly, webinar, past):
            _call(dep, p[who], "PUT", f"/api/events/{ev['id']}/signup")
    for state in ("lobby", "live"):
        _call(dep, nurse, "POST", f"/api/events/{past['id']}/state", {"state": state})
    post_messages(dep, nurse, past["live_room"], ["Welcome. Let's go round: how are you feeling about your next scan?"])
    post_messages(dep, p["SunnyDay_7"], past["live_room"], ["Nervous, honestly. Mine is on Thursday."])
    post_messages(dep, p["Maple_Leaf"], past["live_room"], ["Same. Waiting for results is the hardest part."])
    post_messages(dep, nurse, past["live_room"], ["That is very common. Let's talk about what helps on the day."])
    for state in ("ended", "archived"):
        _call(dep, nurse, "POST", f"/api/events/{past['id']}/state", {"state": state})
    # The webinar's lobby opens by the clock (ten minutes before its start, within a tick).
    return {"weekly": weekly["id"], "webinar": webinar["id"], "past": past["id"]}


def send(page: Page) -> None:
    """The Send button (on a phone Enter starts a new line)."""
    page.locator(".timeline").get_by_role("button", name="Send").click()


def shoot(page: Page, out: Path, name: str, width: str, full_page: bool = False) -> None:
    page.evaluate("() => document.activeElement && document.activeElement.blur && document.activeElement.blur()")
    page.screenshot(path=str(out / f"{name}-{width}.png"), full_page=full_page)
    print(f"  {name}-{width}.png")


def run(out: Path, widths: tuple[tuple[str, dict[str, int]], ...] = (("desktop", DESKTOP), ("phone", PHONE))) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kindred-shots-") as tmp:
        dep = Deployment.start(Path(tmp), count=1)
        try:
            people = cast(dep)
            conversation(dep, people)
            people_sessions = sessions(dep, people)
            with chromium(dep.gateways[0].http_url) as web:
                for width, viewport in widths:
                    print(width)
                    screens(dep, web, people, viewport, out, width)
                    session_screens(web, people, people_sessions, viewport, out, width)
                    web.close_contexts()
                web.assert_clean()
        finally:
            dep.stop()


def screens(dep: Deployment, web: Browsers, people: dict[str, Member], viewport: dict[str, int], out: Path, width: str) -> None:
    # A phone is a touch screen (its composer hint differs).
    touch = {"has_touch": True, "is_mobile": True} if viewport["width"] < 600 else {}

    def person(member: Member | None = None) -> Page:
        return web.person(viewport=viewport, member=member, **touch).page

    guest = person()
    guest.goto("/#/signin")
    expect(guest.get_by_role("button", name="Sign in")).to_be_visible()
    shoot(guest, out, "sign-in", width)
    guest.goto("/#/register")
    guest.get_by_label("Organization key phrase").fill(ORG_A[1])
    guest.get_by_label("Handle (public name)").fill("Jane Smith")
    guest.get_by_label("Email address").fill("jane@example.org")
    guest.get_by_label("Password", exact=True).fill("correct horse battery")
    guest.get_by_role("button", name="Create account").click()
    expect(guest.get_by_role("alert")).to_be_visible()
    guest.evaluate("() => scrollTo(0, 0)")
    shoot(guest, out, "register", width)

    heron = person(people["QuietHeron"])
    heron.goto("/#/rooms")
    expect(heron.get_by_role("link", name="Breast cancer", exact=True)).to_be_visible()
    shoot(heron, out, "rooms", width)

    maple = person(people["Maple_Leaf"])
    open_room(maple, ROOM)
    open_room(heron, ROOM)
    composer(maple).press_sequentially("Good luck")
    expect(heron.locator(".typing")).to_contain_text("typing")
    shoot(heron, out, "room", width, full_page=True)

    item = timeline_item(heron, "Did anyone else find the second round of chemo easier than the first?")
    item.get_by_role("button", name="2 replies: open the thread").click()
    expect(heron.locator(".thread li.message")).to_have_count(3)
    heron.locator(".thread").scroll_into_view_if_needed()
    shoot(heron, out, "thread", width)
    heron.get_by_role("button", name="Back to the room").click()

    box = composer(heron)
    box.fill("My number is 555-201-3344 if anyone wants to chat")
    send(heron)
    dialog = heron.get_by_role("group", name="Before you post")
    expect(dialog).to_be_visible()
    dialog.scroll_into_view_if_needed()
    shoot(heron, out, "personal-details", width)
    dialog.get_by_role("button", name="Edit my message").click()
    box.fill("")

    body = "Some days I just want to die." if width == "desktop" else "Honestly I want to die some nights."
    composer(heron).fill(body)
    send(heron)
    expect(timeline_item(heron, body)).to_be_visible()
    expect(heron.get_by_role("region", name="You are not alone")).to_be_visible()
    heron.evaluate("() => scrollTo(0, 0)")
    shoot(heron, out, "crisis-resources", width)

    heron.goto("/#/search?q=chemo")
    expect(heron.get_by_role("list", name="Search results").locator("li").first).to_be_visible()
    shoot(heron, out, "search", width)

    nurse = person(people["NurseJo"])
    open_room(nurse, ROOM)
    panel = nurse.get_by_role("region", name="Moderation")
    panel.get_by_label(re.compile("^I am on duty")).check()
    expect(panel).to_contain_text("You are on duty.")
    if width == "desktop":
        river = timeline_item(nurse, "Tip: ask for a warm blanket during infusions. They always have them.")
        river.get_by_role("button", name=re.compile("^More actions")).click()
        river.get_by_role("button", name="Mute RiverStone").click()
        river.get_by_label("For how long?").select_option(label="10 minutes")
        river.get_by_label("Reason (RiverStone is shown it)").fill("Just a short pause while we check the advice about medicines.")
        river.get_by_role("button", name="Mute", exact=True).click()
        expect(nurse.get_by_text("RiverStone is muted.")).to_be_visible()
    expect(panel.get_by_role("region", name="Safety queue")).to_contain_text("want to die")
    panel.scroll_into_view_if_needed()
    shoot(nurse, out, "moderation", width)
    nurse.get_by_role("navigation", name="Main").get_by_role("link", name="Safety queue").click()
    expect(nurse.locator(".safety li").first).to_be_visible()
    shoot(nurse, out, "safety-queue", width)

    stone = person(people["RiverStone"])
    stone.goto(f"/#/room/{ROOM}")
    box = composer(stone)
    box.fill("Sorry, I only meant the blanket tip!")
    send(stone)
    expect(stone.locator(".room__state").filter(has_text="muted you")).to_be_visible()
    stone.evaluate("() => scrollTo(0, 0)")
    shoot(stone, out, "muted", width)

    heron.goto(f"/#/room/{ROOM}")
    expect(timeline_item(heron, "Good morning, everyone. Scan day tomorrow and I can't settle.")).to_be_visible()
    gw = dep.gateways[0]
    gw.terminate()
    expect(heron.locator("#connection")).to_contain_text("Reconnecting")
    shoot(heron, out, "reconnecting", width)
    gw.start()
    expect(heron.locator("#connection")).not_to_contain_text("Reconnecting", timeout=30_000)


def session_screens(web: Browsers, people: dict[str, Member], ids: dict[str, str],
                    viewport: dict[str, int], out: Path, width: str) -> None:
    heron = web.person(viewport=viewport, member=people["QuietHeron"]).page
    heron.goto("/#/sessions")
    expect(heron.locator(".session-card").first).to_be_visible()
    shoot(heron, out, "sessions", width)
    heron.goto(f"/#/sessions/{ids['webinar']}")
    expect(heron.get_by_role("link", name="Go to the lobby")).to_be_visible()
    shoot(heron, out, "session-lobby", width)
    heron.goto(f"/#/sessions/{ids['past']}")
    expect(heron.get_by_role("region", name="Archive").locator(".message").first).to_be_visible()
    shoot(heron, out, "session-archive", width)
    nurse = web.person(viewport=viewport, member=people["NurseJo"]).page
    nurse.goto(f"/#/sessions/{ids['webinar']}")
    host = nurse.get_by_role("region", name="Hosting")
    expect(host.get_by_role("button", name="Start")).to_be_visible()
    host.scroll_into_view_if_needed()
    shoot(nurse, out, "session-host", width)


if __name__ == "__main__":
    run(Path(sys.argv[1] if len(sys.argv) > 1 else "../docs/screenshots"))
