"""The shapes of the ids on the wire and in URLs, in one place.

A message id and a question's are 32 lowercase hex digits (``os.urandom(16).hex()``); a member's public id is
``u`` and 16 lowercase hex digits; a private-talk request's id is ``t`` and 16 lowercase hex
digits; a conversation's, a session's or a topic's public id is 16 lowercase hex digits (a
conversation's room is ``dm-`` and that id); a cid is chosen by the client: 1 to 64 of
``A-Z a-z 0-9 _ - . :``. Room slugs are ``catalog.is_slug``.
"""

from __future__ import annotations

import re

MESSAGE_ID = re.compile(r"[0-9a-f]{32}")
USER_ID = re.compile(r"u[0-9a-f]{16}")
TALK_ID = re.compile(r"t[0-9a-f]{16}")
PUBLIC_ID = re.compile(r"[0-9a-f]{16}")
CID = re.compile(r"[A-Za-z0-9_\-.:]{1,64}")


def is_message_id(value: object) -> bool:
    return isinstance(value, str) and MESSAGE_ID.fullmatch(value) is not None


def is_question_id(value: object) -> bool:
    return is_message_id(value)  # the same shape


def is_user_id(value: object) -> bool:
    return isinstance(value, str) and USER_ID.fullmatch(value) is not None


def is_cid(value: object) -> bool:
    return isinstance(value, str) and CID.fullmatch(value) is not None


def is_talk_id(value: object) -> bool:
    return isinstance(value, str) and TALK_ID.fullmatch(value) is not None


def is_public_id(value: object) -> bool:
    return isinstance(value, str) and PUBLIC_ID.fullmatch(value) is not None
