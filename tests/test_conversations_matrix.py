"""The rules of who may write first, over the wire (docs/social.md, "Private messages"): for
every setting and every sender class, real members on real gateways start a conversation and
write two messages, and the recipient gets exactly what the rules allow: a conversation open
at once (both messages, live), a request (one notification, nothing delivered until they
accept, then both), or nothing at all (a clear refusal to the sender; no row, notification
or frame for the recipient). Both modes: embedded, and three gateways on Redis."""

from __future__ import annotations

from dataclasses import dataclass

from support.client import Client
from support.cluster import ORG_B, Deployment, Member
from support.conversations import LIVE_S, allow, listed, settle, start, take_part
from support.moderation import api, close_all, connect, fresh_org, make_staff_many, new_cid

SETTINGS = ("nobody", "staff", "friends", "communities")
D, R, X = "direct", "request", "refused"
# The table of docs/social.md, written out independently of rooms/conversations.py.
EXPECTED = {
    "stranger": (X, X, X, X),
    "community member": (X, X, X, R),
    "friend": (X, X, D, D),
    "other staff": (X, R, R, R),
    "staff": (D, D, D, D),
    "blocked": (X, X, X, X),  # the recipient blocked the sender
    "blocking": (X, X, X, X),  # the sender blocked the recipient: blocks apply both ways
}


@dataclass
class Attempt:
    sender: str
    setting: str
    expected: str
    conversation: str | None = None
    room: str | None = None


def conv_frames(c: Client, event: str, conversation: str) -> list[dict]:
    return [f for f in c.frames if f.get("type") == "conversation" and f.get("event") == event
            and f.get("id") == conversation]


async def befriend(dep: Deployment, a: Member, b: Member) -> None:
    for x, y in ((a, b), (b, a)):
        r = await api(dep, "PUT", f"/api/friends/{y.id}", x.token)
        assert r.status_code == 200, r.text


async def block(dep: Deployment, blocker: Member, blocked: Member) -> None:
    r = await api(dep, "PUT", f"/api/blocks/{blocked.id}", blocker.token)
    assert r.status_code == 204, r.text


async def test_setting_by_sender_class(deployment: Deployment) -> None:
    dep = deployment
    n = len(dep.gateways)
    org = fresh_org(dep)
    staff, other_staff = await make_staff_many(dep, (org.key, "navigator", ()), (ORG_B, "navigator", ()))
    recipients = {s: dep.register(org=org.key, gateway=i % n) for i, s in enumerate(SETTINGS)}
    senders = {
        "stranger": dep.register(org=ORG_B),  # takes part in no room
        "community member": dep.register(org=org.key),
        "friend": dep.register(org=ORG_B),  # a friend, and nothing else
        "other staff": other_staff,  # a navigator of another organization
        "staff": staff,  # a navigator of the recipients' organization: staff of their rooms
        "blocked": dep.register(org=org.key),
        "blocking": dep.register(org=org.key),
    }
    for m in [*recipients.values(), senders["community member"], senders["blocked"], senders["blocking"]]:
        await take_part(dep, m, org.lounge)  # without the blocks, these two would be community members
    for setting, r in recipients.items():
        await allow(dep, r, setting)
        await befriend(dep, senders["friend"], r)
        await block(dep, r, senders["blocked"])
        await block(dep, senders["blocking"], r)

    devices = {s: await connect(dep, r, i % n) for i, (s, r) in enumerate(recipients.items())}
    writers: list[Client] = []
    attempts: list[Attempt] = []
    try:
        # Refusals first: whatever they left behind would arrive before what follows.
        order = sorted(EXPECTED, key=lambda k: EXPECTED[k] != (X, X, X, X))
        for i, (sender, setting) in enumerate((s, t) for s in order for t in SETTINGS):
            expected = EXPECTED[sender][SETTINGS.index(setting)]
            got = await start(dep, senders[sender], recipients[setting], gateway=i)
            attempt = Attempt(sender, setting, expected)
            attempts.append(attempt)
            if expected == X:
                assert got.status_code == 403 and got.json()["error"] == "dm_refused", (sender, setting, got.text)
                assert "does not take private messages" in got.json()["detail"]
                continue
            assert got.status_code == 201, (sender, setting, got.text)
            view = got.json()
            assert view["state"] == ("open" if expected == D else "request"), (sender, setting, view)
            attempt.conversation, attempt.room = view["id"], view["room"]
            writer = await connect(dep, senders[sender], i + 1, view["room"])
            writers.append(writer)
            for k in (1, 2):
                ack = await writer.post(view["room"], f"{sender} to {setting}: {k}", new_cid())
                assert ack["type"] == "ack", (sender, setting, ack)

        # What reached each recipient live: for an open conversation, the opening and both
        # messages; for a request, one request and its notification; for a refusal, nothing.
        for a in attempts:
            device = devices[a.setting]
            if a.expected == D:
                await device.wait_until(lambda fs, a=a, device=device: len(conv_frames(device, "message", a.conversation or "")) >= 2,
                                        LIVE_S, f"{a.sender} -> {a.setting}: two messages")
            elif a.expected == R:
                await device.wait_until(lambda fs, a=a, device=device: conv_frames(device, "request", a.conversation or ""),
                                        LIVE_S, f"{a.sender} -> {a.setting}: the request")
        await settle(*writers, *devices.values())
        for a in attempts:
            device = devices[a.setting]
            if a.conversation is None:
                continue
            counts = {e: len(conv_frames(device, e, a.conversation)) for e in ("opened", "message", "request")}
            assert counts == ({"opened": 1, "message": 2, "request": 0} if a.expected == D
                              else {"opened": 0, "message": 0, "request": 1}), (a, counts)
        for setting, device in devices.items():
            requests = [a for a in attempts if a.setting == setting and a.expected == R]
            notes = [f for f in device.frames if f.get("type") == "notification"]
            assert [f["kind"] for f in notes] == ["dm_request"] * len(requests), (setting, notes)
            assert not [f for f in device.frames if f.get("type") == "message"]  # joined nothing yet
            # The recipient's list: exactly what was allowed, and nothing from the refused.
            mine = {c["id"]: c["state"] for c in await listed(dep, recipients[setting])}
            assert mine == {a.conversation: "open" if a.expected == D else "request"
                            for a in attempts if a.setting == setting and a.expected != X}, setting
            told = (await api(dep, "GET", "/api/notifications", recipients[setting].token)).json()
            kinds = [x["kind"] for x in told["notifications"] if x["kind"] != "friend_request"]
            assert kinds == ["dm_request"] * len(requests), setting

        # Requests accepted: every conversation now gives its recipient exactly both messages.
        for a in attempts:
            if a.expected == X:
                continue
            recipient, device = recipients[a.setting], devices[a.setting]
            if a.expected == R:
                r = await api(dep, "POST", f"/api/conversations/{a.conversation}/accept", recipient.token)
                assert r.status_code == 200, r.text
            assert a.room is not None
            await device.join(a.room, since=0)
            await device.wait_until(lambda fs, a=a, device=device: len(device.messages(a.room or "")) >= 2, LIVE_S,
                                    f"{a.sender} -> {a.setting}: the messages")
        await settle(*devices.values())
        for a in attempts:
            if a.room is not None:
                bodies = [m["body"] for m in devices[a.setting].messages(a.room)]
                assert bodies == [f"{a.sender} to {a.setting}: 1", f"{a.sender} to {a.setting}: 2"], (a, bodies)
    finally:
        await close_all(*writers, *devices.values())
