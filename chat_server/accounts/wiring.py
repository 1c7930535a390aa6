"""Putting the account services together for one gateway process (called by Runtime.open)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.accounts.passwords import PasswordService
from chat_server.accounts.service import AccountService, MemberLookup
from chat_server.accounts.sessions import SessionEnder
from chat_server.accounts.throttles import Throttles
from chat_server.broker.base import Broker
from chat_server.config import Settings
from chat_server.security import Passwords


@dataclass(frozen=True, slots=True)
class Accounts:
    service: AccountService  # register, sign in and out
    passwords: PasswordService  # change, reset codes


def open_accounts(
    settings: Settings, db: async_sessionmaker[AsyncSession], secret: str, redis: Redis | None,
    broker: Broker, close_here: Callable[[str], None], member_for_token: MemberLookup,
) -> Accounts:
    """``close_here`` closes a session's sockets on this gateway (the hub's ``close_session``);
    ``member_for_token`` is the lean session lookup the handshake uses."""
    hasher = Passwords(settings.argon2_time_cost, settings.argon2_memory_kib)
    throttles = Throttles.open(settings, redis)
    ender = SessionEnder(broker, close_here)
    return Accounts(
        AccountService(settings, db, secret, hasher, throttles, member_for_token, ender),
        PasswordService(settings, db, hasher, throttles, ender),
    )
