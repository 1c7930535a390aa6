"""Rules for message bodies and client message ids."""

from __future__ import annotations

from rooms import ids
from rooms.errors import BadFrame, BodyInvalid


def clean_body(body: str, max_chars: int) -> str:
    """Trim trailing white space; refuse an empty body or one over ``max_chars`` characters."""
    body = body.rstrip()
    if not body.strip():
        raise BodyInvalid("A message cannot be empty.")
    if len(body) > max_chars:
        raise BodyInvalid(f"A message has at most {max_chars} characters.")
    if "\x00" in body:
        raise BodyInvalid("A message cannot contain NUL characters.")
    return body


def check_cid(cid: str) -> str:
    """A client message id: 1 to 64 of letters, digits and ``_-.:``; unique per author."""
    if not ids.is_cid(cid):
        raise BadFrame("cid must be 1 to 64 characters of letters, digits and _-.:")
    return cid


def check_message_id(message_id: str) -> str:
    """Message ids are 32 lowercase hex characters."""
    if not ids.is_message_id(message_id):
        raise BadFrame("reply_to must be a message id")
    return message_id
