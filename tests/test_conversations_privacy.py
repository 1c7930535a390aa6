"""Private messages stay private (docs/social.md, "Private messages"): a report carries a
snapshot of the reported message alone, to the reporter's organization's navigators, and every
showing of it is audited; a crisis in a conversation reaches the author's organization's
navigators the same way; a canary body sent in a conversation never appears in the gateways'
logs (at debug level too), in another member's frames, in error texts or in the digest email."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from support.client import Client
from support.cluster import ORG_B, Deployment, Member
from support.conversations import (
    LIVE_S,
    allow,
    community_pair,
    settle,
    start,
    wait_history,
    wait_listed,
)
from support.moderation import (
    Teams,
    api,
    close_all,
    connect,
    default_org,
    fresh_org,
    make_staff_many,
    new_cid,
    set_duty_ok,
)
from support.procs import TIMEOUT_SCALE, free_port


@pytest.fixture(scope="module")
def teams() -> Teams:
    return Teams()


async def open_pair(dep: Deployment, a: Member, b: Member) -> dict[str, Any]:
    """An open conversation of two community members: a's request, accepted by b."""
    await allow(dep, b, "communities")
    conv: dict[str, Any] = (await start(dep, a, b)).json()
    ca = await connect(dep, a, 0, conv["room"])
    try:
        await ca.post(conv["room"], "may I write to you?", new_cid())
    finally:
        await close_all(ca)
    await wait_history(dep, a, conv["room"], 1)
    await wait_listed(dep, b, conv["id"])
    r = await api(dep, "POST", f"/api/conversations/{conv['id']}/accept", b.token)
    assert r.status_code == 200, r.text
    return conv


async def test_a_report_carries_that_message_alone_and_every_view_is_audited(
    deployment: Deployment, teams: Teams,
) -> None:
    dep = deployment
    last = len(dep.gateways) - 1
    org = fresh_org(dep)
    nav, other_nav = await make_staff_many(dep, (org.key, "navigator", ()), (ORG_B, "navigator", ()))
    admin = teams.admin(dep)
    a, b = dep.register(org=org.key), dep.register(org=ORG_B)
    for m, room in ((a, "breast-cancer"), (b, "breast-cancer")):  # they met in a national room
        assert (await api(dep, "POST", f"/api/rooms/{room}/read", m.token, json={})).status_code == 200
    conv = await open_pair(dep, b, a)  # b asked, a accepted: a is the one who reports
    room = conv["room"]
    before, reported, after = (f"{w} {secrets.token_hex(4)}" for w in ("before", "reported", "after"))
    cb = await connect(dep, b, last, room)
    cn = await connect(dep, nav, 0)
    co = await connect(dep, other_nav, last)
    try:
        await set_duty_ok(cn, True)
        await set_duty_ok(co, True)
        await cb.post(room, before, new_cid())
        target = await cb.post(room, reported, new_cid())
        await cb.post(room, after, new_cid())
        await wait_history(dep, a, room, 4)
        r = await api(dep, "POST", f"/api/messages/{target['id']}/report", a.token, gateway=last,
                      json={"reason": "this frightens me"})
        assert r.status_code == 201, r.text
        alert = await cn.wait_frame("alert", LIVE_S)
        assert alert["room"] == room and alert["kind"] == "report" and alert["message_id"] == target["id"]
        assert reported not in str(alert)
        await settle(co)
        assert not [f for f in co.frames if f.get("type") == "alert"]  # not the reporter's organization

        # The reporter's navigators see the one message, as it was; nothing else of the talk.
        queue = (await api(dep, "GET", "/api/moderation/queue", nav.token)).json()["items"]
        item = next(i for i in queue if i["room"] == room)
        assert item["private"] is True and item["message"]["body"] == reported
        assert item["message"]["author"]["id"] == b.id and item["reporter"]["id"] == a.id
        assert before not in str(queue) and after not in str(queue)
        assert not [i for i in (await api(dep, "GET", "/api/moderation/queue", other_nav.token)).json()["items"]
                    if i["room"] == room]
        # ... and cannot read the conversation itself.
        assert (await api(dep, "GET", f"/api/rooms/{room}/messages", nav.token)).status_code == 404
        before_join = len(cn.frames)
        await cn.send({"type": "join", "room": room})
        assert (await cn.wait_frame("error", LIVE_S, start=before_join))["code"] == "no_such_room"

        # Every showing is on record: the listing, then the resolution.
        r = await api(dep, "POST", f"/api/moderation/queue/{item['id']}/resolve", nav.token,
                      json={"note": "talked to the member"})
        assert r.status_code == 200, r.text
        entries = (await api(dep, "GET", "/api/moderation/audit", admin.token, params={"limit": 200})).json()["entries"]
        views = [e for e in entries if e["action"] == "view_private" and e["room"] == room]
        assert len(views) == 2 and {e["actor"]["id"] for e in views} == {nav.id}
        assert {e["message"] for e in views} == {target["id"]}
        assert reported not in str(entries)
        mine = (await api(dep, "GET", "/api/moderation/audit", nav.token)).json()["entries"]
        assert len([e for e in mine if e["action"] == "view_private"]) == 2
        # The other organization's navigator may not resolve it either.
        r = await api(dep, "POST", f"/api/moderation/queue/{item['id']}/resolve", other_nav.token, json={})
        assert r.status_code == 404
    finally:
        await close_all(cb, cn, co)


async def test_a_crisis_in_a_conversation(deployment: Deployment) -> None:
    dep = deployment
    org = fresh_org(dep)
    (nav,) = await make_staff_many(dep, (org.key, "navigator", ()))
    a, b = dep.register(org=org.key), dep.register(org=org.key)
    for m in (a, b):
        assert (await api(dep, "POST", f"/api/rooms/{org.lounge}/read", m.token, json={})).status_code == 200
    conv = await open_pair(dep, a, b)
    cn = await connect(dep, nav, len(dep.gateways) - 1)
    cb = await connect(dep, b, 0, conv["room"])
    try:
        await set_duty_ok(cn, True)
        words = f"I want to end my life {secrets.token_hex(3)}"
        posted = await cb.post(conv["room"], words, new_cid())
        card = await cb.wait_frame("resources", LIVE_S)
        assert card["message_id"] == posted["id"] and card["alerted"] is True
        alert = await cn.wait_frame("alert", LIVE_S)
        assert alert["kind"] == "crisis" and alert["room"] == conv["room"] and words not in str(alert)
        queue = (await api(dep, "GET", "/api/moderation/queue", nav.token)).json()["items"]
        item = next(i for i in queue if i["room"] == conv["room"])
        assert item["private"] is True and item["message"]["body"] == words
        assert "may I write to you?" not in str(queue)
    finally:
        await close_all(cn, cb)


def _errors_without(c: Client, canary: str) -> list[dict[str, Any]]:
    errors = [f for f in c.frames if f.get("type") in ("error", "confirm")]
    assert errors and canary not in str(errors), errors
    return errors


async def _write_canary(dep: Deployment, canary: str) -> tuple[Member, Member, list[Client]]:
    """A canary in an open conversation on two gateways, with a third member watching on every
    gateway, and the sender's refused attempts around it. Returns the pair and the watchers."""
    last = len(dep.gateways) - 1
    _, a, b = await community_pair(dep)
    conv = await open_pair(dep, a, b)
    room = conv["room"]
    lounge = default_org(("Riverside Cancer Center", "")).lounge
    watchers = [await connect(dep, dep.register(), i, lounge) for i in range(len(dep.gateways))]
    ca = await connect(dep, a, 0, room)
    cb = await connect(dep, b, last, room)
    try:
        ack = await ca.post(room, f"{canary} is what the doctor said", new_cid())
        assert ack["type"] == "ack"
        await cb.wait_until(lambda fs: any(canary in (m["body"] or "") for m in cb.messages(room)), LIVE_S, "the canary")
        # Refusals around it: none of their texts may carry it.
        await ca.send({"type": "send", "room": room, "body": canary + " x" * 5000, "cid": new_cid()})
        await ca.send({"type": "send", "room": lounge, "body": canary, "cid": new_cid()})  # not joined
        await ca.send({"type": "send", "room": room, "body": f"{canary} call 555-201-4477", "cid": new_cid()})
        await cb.send({"type": "send", "room": "dm-" + "0" * 16, "body": canary, "cid": new_cid()})
        await settle(ca, cb)
        _errors_without(ca, canary)
        _errors_without(cb, canary)
        r = await api(dep, "POST", "/api/conversations", a.token, json={"with": [canary]})
        assert canary not in r.text
        await wait_history(dep, b, room, 2)
        await settle(*watchers)
        for w in watchers:
            assert canary not in str(w.frames)
    finally:
        await close_all(ca, cb, *watchers)
    return a, b, watchers


async def test_the_canary_goes_nowhere_else(deployment: Deployment) -> None:
    canary = f"canary-{secrets.token_hex(6)}"
    await _write_canary(deployment, canary)
    for gw in deployment.gateways:
        assert canary not in gw.log_path.read_text()


class Inbox:
    def __init__(self) -> None:
        self.mails: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd calls it by this name
        self.mails.append(envelope)
        return "250 OK"


@pytest.fixture(scope="module")
def mailing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, Inbox]]:
    """One gateway that emails digests through a local SMTP server, logging at debug level."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    dep = Deployment.start(tmp_path_factory.mktemp("dm-digest"), count=1, extra_env={
        "KINDRED_SMTP_URL": f"smtp://127.0.0.1:{port}", "KINDRED_DIGEST_CHECK_S": "0.5",
        "KINDRED_DIGEST_EVERY_S": "1", "KINDRED_LOG_LEVEL": "debug",
    })
    yield dep, inbox
    dep.stop()
    controller.stop()


async def test_the_canary_is_not_in_the_digest_nor_in_debug_logs(mailing: tuple[Deployment, Inbox]) -> None:
    dep, inbox = mailing
    canary = f"canary-{secrets.token_hex(6)}"
    _, a, b = await community_pair(dep)
    await allow(dep, b, "communities")
    r = await api(dep, "PUT", "/api/notifications/settings", b.token, json={"digest": "daily"})
    assert r.status_code == 200
    conv = (await start(dep, a, b)).json()
    ca = await connect(dep, a, 0, conv["room"])
    try:
        await ca.post(conv["room"], f"{canary}: may I tell you about my treatment?", new_cid())
    finally:
        await close_all(ca)
    deadline = asyncio.get_running_loop().time() + 10 * TIMEOUT_SCALE
    while not [m for m in inbox.mails if b.email in m.rcpt_tos]:
        assert asyncio.get_running_loop().time() < deadline, "no digest arrived"
        await asyncio.sleep(0.1)
    mail = next(m for m in inbox.mails if b.email in m.rcpt_tos)
    text = message_from_bytes(mail.content).get_payload(decode=True).decode()
    assert "You have a message waiting on Kindred." in text
    raw = b"".join(m.content for m in inbox.mails).decode(errors="replace")
    assert canary not in raw and a.handle not in raw
    await _write_canary(dep, canary + "-2")
    log = dep.gateways[0].log_path.read_text()
    assert canary not in log
    for gw in dep.gateways:  # nor a bearer token of the handshakes (the protocol's debug trace)
        assert "Bearer " not in gw.log_path.read_text() and a.token not in gw.log_path.read_text()
