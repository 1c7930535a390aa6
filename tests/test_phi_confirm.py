"""A message that seems to carry contact or identity details is held until the sender confirms."""

from __future__ import annotations

from support.client import JSON, Client
from support.cluster import Deployment


async def test_phi_is_held_until_confirmed(deployment: Deployment) -> None:
    room = "survivorship"
    sender, observer = deployment.register(), deployment.register()
    s = await Client.connect(deployment.gateways[0].ws_url, sender.token, protocol=JSON)
    o = await Client.connect(deployment.gateways[-1].ws_url, observer.token)
    try:
        await s.join(room)
        joined = await o.join(room)
        body = "Call me any time at 555-123-4567, or write to maple.hope@example.org"
        start = len(s.frames)
        await s.send({"type": "send", "room": room, "body": body, "cid": "phi-1"})
        held = await s.wait_until(
            lambda f: next((x for x in f[start:] if x.get("cid") == "phi-1"), None), 5, "answer"
        )
        assert held["type"] == "confirm" and held["room"] == room
        assert held["kinds"] == ["phone", "email"] and "a phone number and an email address" in held["reason"]
        marker = await s.post(room, "a plain message", cid="marker")
        assert marker["type"] == "ack" and marker["seq"] == joined["seq"] + 1  # nothing posted
        await o.wait_frame("message", id=marker["id"])
        assert [m["body"] for m in o.messages(room)] == ["a plain message"]

        posted = await s.post(room, body, cid="phi-1", confirm_phi=True)
        assert posted["type"] == "ack"
        seen = await o.wait_frame("message", id=posted["id"])
        assert seen["body"] == body

        bad = await s.post(room, "x", cid="phi-2", confirm_phi="yes")
        assert bad["type"] == "error" and bad["code"] == "bad_frame"
    finally:
        await s.close()
        await o.close()
