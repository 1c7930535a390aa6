"""The email digest (docs/social.md): it reaches the operator's SMTP server (a real aiosmtpd
on 127.0.0.1) with counts and neither bodies nor others' handles; nothing is ever sent when
no SMTP server is configured. Also the digest's words (rooms/notifications.py)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from chat_server.config import Settings
from chat_server.resources import open_resources
from chat_server.social.digest import DigestSender
from rooms.notifications import digest_text, mentioned
from support.cluster import ORG_A, Deployment
from support.moderation import api, close_all, connect, default_org, new_cid
from support.procs import TIMEOUT_SCALE, free_port

CANARY = "canary-77ab1 my biopsy"


class Inbox:
    def __init__(self) -> None:
        self.mails: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd calls it by this name
        self.mails.append(envelope)
        return "250 OK"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture(scope="module")
def mailing(tmp_path_factory: pytest.TempPathFactory, smtp: tuple[Inbox, int]) -> Iterator[Deployment]:
    dep = Deployment.start(tmp_path_factory.mktemp("digest"), count=1, extra_env={
        "KINDRED_SMTP_URL": f"smtp://127.0.0.1:{smtp[1]}", "KINDRED_DIGEST_CHECK_S": "0.5",
        "KINDRED_DIGEST_EVERY_S": "1",
    })
    yield dep
    dep.stop()


def test_digest_words() -> None:
    assert digest_text({"reply": 3, "dm_request": 1}) == "You have 3 replies and a message waiting on Kindred."
    assert digest_text({"mention": 1, "answered": 1, "reaction": 2}) == (
        "You have a mention, an answered question and 2 reactions on Kindred.")
    assert digest_text({"reply": 0}) is None
    assert mentioned("hi @Maple and @maple, mail me at x@example.org, @ab too short") == ["maple"]


async def test_digest_reaches_the_smtp_server_without_bodies(mailing: Deployment, smtp: tuple[Inbox, int]) -> None:
    inbox, _ = smtp
    dep = mailing
    author, reader = dep.register(), dep.register()
    r = await api(dep, "PUT", "/api/notifications/settings", reader.token, json={"digest": "daily"})
    assert r.status_code == 200 and r.json()["digest"] == "daily"
    room = default_org(ORG_A).lounge
    ca = await connect(dep, author, 0, room)
    try:
        first = await ca.post(room, f"@{reader.handle} {CANARY}", new_cid())
        assert first["type"] == "ack"
    finally:
        await close_all(ca)
    deadline = asyncio.get_running_loop().time() + 10 * TIMEOUT_SCALE
    while not [m for m in inbox.mails if reader.email in m.rcpt_tos]:
        assert asyncio.get_running_loop().time() < deadline, "no digest arrived"
        await asyncio.sleep(0.1)
    mails = [m for m in inbox.mails if reader.email in m.rcpt_tos]
    text = message_from_bytes(mails[0].content).get_payload(decode=True).decode()
    assert "You have a mention on Kindred." in text
    raw = b"".join(m.content for m in inbox.mails).decode(errors="replace")
    assert CANARY not in raw and author.handle not in raw and author.email not in raw
    assert CANARY not in dep.gateways[0].log_path.read_text()
    await asyncio.sleep(1.5)  # one more digest period: nothing new, so no second mail
    assert len([m for m in inbox.mails if reader.email in m.rcpt_tos]) == 1


async def test_nothing_sent_without_smtp(embedded: Deployment) -> None:
    dep = embedded
    author, reader = dep.register(), dep.register()
    assert (await api(dep, "PUT", "/api/notifications/settings", reader.token,
                      json={"digest": "daily"})).status_code == 200
    room = default_org(ORG_A).lounge
    ca = await connect(dep, author, 0, room)
    try:
        await ca.post(room, f"@{reader.handle} hello", new_cid())
    finally:
        await close_all(ca)
    # The server's own settings (no KINDRED_SMTP_URL) on its own database: a round finds
    # the due digest and sends nothing, and nothing is marked sent.
    settings = Settings.from_env(dep.env, digest_every_s=0.001)
    assert settings.smtp_url is None
    async with open_resources(settings) as res:
        sender = DigestSender(settings, res.db)
        assert not sender.enabled
        sender.start()  # no task without SMTP
        assert await sender.run_once() == 0
        await sender.stop()
    with sqlite3.connect(settings.sqlite_path) as db:
        rows = db.execute("SELECT digest_sent_ms FROM notification_settings WHERE digest = 'daily'").fetchall()
    assert rows and all(r[0] is None for r in rows)
