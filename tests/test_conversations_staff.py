"""``Conversations.open_staff_talk`` (the entry point of "talk privately with a navigator"):
the one-to-one conversation of a navigator and a member, created or reused, open at once,
past the member's setting and any request; only staff open one. The service runs in the test
process on the deployment's own database (as the navigators' queue will call it inside a
gateway), and both people then talk in it over the real gateway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from chat_server.broker.memory import MemoryBroker
from chat_server.config import Settings
from chat_server.conversations.gates import Gates
from chat_server.conversations.service import Conversations
from chat_server.resources import open_resources
from chat_server.social.delivery import MemoryDelivery
from chat_server.social.notifier import Notifier
from persistence import moderation as moderation_store
from persistence.transcripts import NewMessage
from rooms.conversations import DmRefused
from support.cluster import ORG_A, ORG_B, Deployment
from support.conversations import allow, listed, start
from support.moderation import api, close_all, connect, make_staff, new_cid


class _NoWrites:
    """The service never posts a message; a broker needs somewhere to commit them."""

    def submit(self, row: NewMessage, after_commit: Callable[[], None]) -> asyncio.Future[None]:
        raise AssertionError("the service posted a message")


@pytest.fixture
async def service(embedded: Deployment) -> AsyncIterator[Conversations]:
    settings = Settings.from_env(embedded.env)
    async with open_resources(settings) as res:
        broker = MemoryBroker(16, _NoWrites())
        delivery = MemoryDelivery()

        async def head(room: str) -> int:
            return 0

        yield Conversations(res.db, broker, delivery, Notifier(res.db, delivery, broker), Gates(res.db, head))


async def _db_id(dep: Deployment, public_id: str) -> int:
    settings = Settings.from_env(dep.env)
    async with open_resources(settings) as res, res.db() as db:
        member = await moderation_store.member_by_public_id(db, public_id)
        assert member is not None
        return member.db_id


async def test_open_staff_talk(embedded: Deployment, service: Conversations) -> None:
    dep = embedded
    navigator = make_staff(dep, ORG_A)
    member = dep.register()
    await allow(dep, member, "nobody")  # staff may always write: the setting does not apply
    nav_db, member_db = await _db_id(dep, navigator.id), await _db_id(dep, member.id)

    conv_id, room = await service.open_staff_talk(nav_db, member_db)
    assert room == f"dm-{conv_id}"
    assert await service.open_staff_talk(nav_db, member_db) == (conv_id, room)  # reused
    mine = await listed(dep, member)
    assert [(c["id"], c["state"]) for c in mine] == [(conv_id, "open")]
    # The same pair through the API: the same conversation.
    r = await start(dep, member, navigator)
    assert r.status_code == 200 and r.json()["id"] == conv_id

    cn = await connect(dep, navigator, 0, room)
    cm = await connect(dep, member, 0, room)
    try:
        await cn.post(room, "I am here. What is on your mind?", new_cid())
        await cm.wait_until(lambda fs: len(cm.messages(room)) >= 1, 5, "the navigator's message")
        ack = await cm.post(room, "Thank you for answering.", new_cid())
        assert ack["type"] == "ack", ack
    finally:
        await close_all(cn, cm)

    with pytest.raises(DmRefused):
        await service.open_staff_talk(member_db, nav_db)  # a member is not staff
    with pytest.raises(DmRefused):
        await service.open_staff_talk(nav_db, nav_db)


async def test_open_staff_talk_opens_a_pending_request(embedded: Deployment, service: Conversations) -> None:
    """A member's unanswered request to a navigator of another organization becomes the open
    conversation: no request step stays in the way."""
    dep = embedded
    navigator = make_staff(dep, ORG_B)
    member = dep.register()
    r = await start(dep, navigator, member)  # other staff: a request
    assert r.status_code == 201 and r.json()["state"] == "request", r.text
    conv_id, _ = await service.open_staff_talk(await _db_id(dep, navigator.id), await _db_id(dep, member.id))
    assert conv_id == r.json()["id"]
    one = (await api(dep, "GET", f"/api/conversations/{conv_id}", member.token)).json()
    assert one["state"] == "open"
