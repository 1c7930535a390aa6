"""Pseudonymous handles: the only public identity a member has.

A handle must not give away who someone is. We cannot detect a real name, but we can refuse
the two things people most often type by mistake: an email address and a phone number.
"""

from __future__ import annotations

import re

MIN_LEN = 3
MAX_LEN = 32

_ALLOWED = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_DOMAIN_LIKE = re.compile(
    r"\.(com|net|org|edu|gov|mil|int|info|biz|io|co|me|us|uk|ca|de|fr|es|it|nl|au|mail)$",
    re.IGNORECASE,
)
_RESERVED = frozenset(
    {"admin", "administrator", "kindred", "moderator", "navigator", "system", "staff", "support"}
)


class HandleRejected(ValueError):
    """The handle is not acceptable; the message says why in words a member understands."""


def normalize(handle: str) -> str:
    """The form used for uniqueness: case-insensitive, so 'Maple' and 'maple' are one handle."""
    return handle.strip().lower()


def validate(handle: str) -> str:
    """Return the handle (trimmed) or raise ``HandleRejected`` with a reason."""
    handle = handle.strip()
    if not MIN_LEN <= len(handle) <= MAX_LEN:
        raise HandleRejected(f"A handle has {MIN_LEN} to {MAX_LEN} characters.")
    # Only '@' or a domain ending: provider names inside words ("Paola" holds "aol") are fine.
    if "@" in handle or _DOMAIN_LIKE.search(handle):
        raise HandleRejected("A handle must not look like an email address.")
    if sum(ch.isdigit() for ch in handle) >= 7:
        raise HandleRejected("A handle must not look like a phone number.")
    if not _ALLOWED.fullmatch(handle):
        raise HandleRejected(
            "A handle uses letters, digits, '.', '_' and '-', and starts with a letter or digit."
        )
    if normalize(handle) in _RESERVED:
        raise HandleRejected("That handle is reserved.")
    return handle
