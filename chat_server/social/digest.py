"""The optional email digest: "You have 3 replies and a message waiting on Kindred."

Sent only through the SMTP server of ``KINDRED_SMTP_URL``; without it nothing is ever sent
(``DigestSender.enabled`` is False and no task runs). A digest carries counts per kind since
the last one (rooms.notifications.digest_text), never a body or another member's handle; it
is addressed to the member's own email, which appears nowhere else. Every gateway looks for
due digests; each member's is claimed by one conditional UPDATE, so two gateways never both
send it. Logs name neither the address nor the text.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import time
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.aio import stop_task
from chat_server.config import Settings
from persistence import notifications
from persistence.social_models import NotificationSettings
from rooms.notifications import digest_text

log = logging.getLogger(__name__)

SUBJECT = "What is new for you on Kindred"


class DigestSender:
    def __init__(self, settings: Settings, db: async_sessionmaker[AsyncSession]) -> None:
        self._settings = settings
        self._db = db
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self._settings.smtp_url is not None

    def start(self) -> None:
        if self.enabled:
            self._task = asyncio.create_task(self._loop(), name="notification-digest")

    async def stop(self) -> None:
        await stop_task(self._task)

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("digest round failed")
            await asyncio.sleep(self._settings.digest_check_s)

    async def run_once(self, now_ms: int | None = None) -> int:
        """Send every digest that is due; how many were sent. Nothing without SMTP."""
        if not self.enabled:
            return 0
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        due_before = now_ms - int(self._settings.digest_every_s * 1000)
        sent = 0
        async with self._db() as db:
            due = await notifications.digest_due(db, due_before)
        for row, email in due:
            async with self._db() as db:
                since = row.digest_sent_ms or 0
                counts = await notifications.unread_by_kind(db, row.user_id, since)
                text = digest_text(counts)
                if not await self._claim(db, row, now_ms):
                    continue  # another gateway took it
            if text is None:
                continue
            try:
                await asyncio.to_thread(self._send, email, text)
                sent += 1
            except (OSError, smtplib.SMTPException) as exc:
                log.warning("a digest could not be sent (%s)", type(exc).__name__)
        return sent

    @staticmethod
    async def _claim(db: AsyncSession, row: NotificationSettings, now_ms: int) -> bool:
        last = col(NotificationSettings.digest_sent_ms)
        statement = update(NotificationSettings).where(
            col(NotificationSettings.user_id) == row.user_id,
            last.is_(None) if row.digest_sent_ms is None else last == row.digest_sent_ms,
        ).values(digest_sent_ms=now_ms)
        result = await db.exec(statement)
        await db.commit()
        return bool(result.rowcount)

    def _send(self, to: str, text: str) -> None:
        url = urlsplit(self._settings.smtp_url or "")
        message = EmailMessage()
        message["From"] = self._settings.smtp_from
        message["To"] = to
        message["Subject"] = SUBJECT
        message.set_content(f"{text}\n\nSign in to read them. To stop these emails, turn the "
                            "digest off in your notification settings.\n")
        smtp_class = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
        with smtp_class(url.hostname or "localhost", url.port or (465 if url.scheme == "smtps" else 25),
                        timeout=30) as smtp:
            if url.username:
                smtp.login(unquote(url.username), unquote(url.password or ""))
            smtp.send_message(message)
