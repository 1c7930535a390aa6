"""The typed client (chat_server.client) against a real server, both modes: join, send with
a cid resent and stored once, resume from the last seq after a reconnect, moderation over the
socket and over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chat_server.client import Refused, RoomSocket
from chat_server.client.api import Api, ApiRefused
from support.cluster import PASSWORD, Deployment
from support.moderation import fresh_org, make_staff
from support.procs import TIMEOUT_SCALE


async def test_join_send_once_per_cid_and_resume_from_the_last_seq(deployment: Deployment) -> None:
    org = fresh_org(deployment)
    ann, bob = deployment.register(org=org.key), deployment.register(org=org.key)
    url = deployment.gateways[0].ws_url
    a = await RoomSocket.connect(url, ann.token)
    b = await RoomSocket.connect(url, bob.token)
    try:
        joined = await a.join(org.lounge)
        assert joined.seq == 0
        await b.join(org.lounge)
        first = await a.send(org.lounge, "hello", cid="hello-1")
        again = await a.send(org.lounge, "hello", cid="hello-1")  # a resend: stored once
        assert (again.id, again.seq, again.duplicate) == (first.id, first.seq, True)
        seen = [f async for f in _take(b, 1)]
        assert seen[0]["body"] == "hello" and b.rooms[org.lounge].last_seq == first.seq
        await b.close()
        for i in range(3):  # missed while Bob was away
            await a.send(org.lounge, f"missed {i}")
        b = await RoomSocket.connect(url, bob.token)
        await b.join(org.lounge, since=first.seq)
        resumed = [f["body"] async for f in _take(b, 3)]
        assert resumed == ["missed 0", "missed 1", "missed 2"]
        assert b.rooms[org.lounge].last_seq == first.seq + 3
        with pytest.raises(Refused) as refused:
            await a.send("no-such-room-here", "x")
        assert refused.value.code == "not_joined"
    finally:
        await a.close()
        await b.close()


async def test_moderation_over_the_socket_and_over_http(deployment: Deployment) -> None:
    org = fresh_org(deployment)
    nav = make_staff(deployment, org.key)
    target = deployment.register(org=org.key)
    n = await RoomSocket.connect(deployment.gateways[0].ws_url, nav.token)
    api = Api(deployment.gateways[0].http_url)
    try:
        await n.join(org.lounge)
        answer = await n.moderate(org.lounge, "mute", user=target.id, duration_s=60,
                                  reason="a pause, please")
        assert answer["type"] == "moderated" and answer["action"] == "mute"
        await api.sign_in(nav.email, PASSWORD)
        lifted = await api.moderate(org.lounge, "unmute", user=target.id)
        assert lifted["action"] == "unmute"
        with pytest.raises(Refused) as refused:  # a member of equal rank: itself
            await n.moderate(org.lounge, "mute", user=nav.id, reason="no")
        assert refused.value.code == "forbidden"
        page = await api.history(org.lounge)
        assert page["messages"] == []
        with pytest.raises(ApiRefused) as http_refused:
            await api.moderate(org.lounge, "fly")
        assert http_refused.value.status == 400
    finally:
        await n.close()
        await api.aclose()


async def _take(sock: RoomSocket, n: int, timeout_s: float = 10.0) -> AsyncIterator[dict[str, Any]]:
    """The next ``n`` messages (frames of other types are passed over), within ``timeout_s``."""
    got = 0
    async with asyncio.timeout(timeout_s * TIMEOUT_SCALE):
        async for frame in sock.frames():
            if frame.get("type") == "message":
                got += 1
                yield frame
                if got == n:
                    return
