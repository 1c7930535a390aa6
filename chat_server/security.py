"""Passwords, session tokens and organization key phrases."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import unicodedata
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

_WORDS = ["amber", "aspen", "birch", "bloom", "brook", "calm", "cedar", "clover", "coral", "dawn", "delta", "ember", "fern", "field", "finch", "garden", "glade", "grove", "harbor", "hazel", "heron", "honey", "iris", "ivy", "juniper", "lake", "lantern", "laurel", "linden", "maple", "meadow", "mist", "moss", "oak", "olive", "orchard", "pebble", "pine", "plum", "quiet", "rain", "reed", "river", "robin", "sage", "shore", "sky", "sparrow", "spring", "starling", "stone", "summit", "sun", "thistle", "tide", "valley", "willow", "wren"]


class Passwords:
    """Argon2id hashing. Hashing is slow on purpose, so it runs in a worker thread and never
    blocks the event loop (and with it every live room of this process)."""

    def __init__(self, time_cost: int, memory_kib: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, type=Type.ID)
        # Verified against when the email is unknown, so both answers take the same time.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(stored or self._dummy, password) and stored is not None
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check)

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_key_phrase(phrase: str) -> str:
    """Forgiving about case, spacing and Unicode forms: people type these from a leaflet."""
    folded = unicodedata.normalize("NFKC", phrase).casefold()
    return " ".join(folded.replace("-", " ").split())


def key_digest(secret: str, phrase: str) -> str:
    return hmac.new(secret.encode(), normalize_key_phrase(phrase).encode(), hashlib.sha256).hexdigest()


def new_key_phrase() -> str:
    """Four words and a number, e.g. 'maple-river-dawn-finch-42': easy to read aloud."""
    words = [secrets.choice(_WORDS) for _ in range(4)]
    return "-".join([*words, str(secrets.randbelow(90) + 10)])


def new_secret() -> str:
    return secrets.token_urlsafe(48)


SESSION_COOKIE = "kindred_session"


def token_from(headers: Any, cookies: dict[str, str]) -> str | None:
    """The session token of a request or handshake: a bearer token, else the cookie."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return str(auth[7:].strip()) or None
    return cookies.get(SESSION_COOKIE) or None
