"""The field rules of client frames, in one place.

Every client frame is read one of two ways (gateway/frames.py): a msgspec struct that admits
only the well-formed frame, in one C call; or, for anything the struct does not admit,
``wire.decode`` and the kind's ``parse``, which name what is wrong. Both are written from the
constants and types below, so the two cannot drift apart (tests/test_unit_fast_frames.py
holds them equal).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

MAX_ROOM = 64  # a room's slug: 1-64 characters
MAX_CID = 64  # a client's id for a request: 1-64 characters where required, 0-64 where optional
MAX_AFTER = 64  # members: the previous page's `next`, 1-64 characters
MIN_SINCE = 0  # join: the last seq the client holds
# A body may be at most this many times KINDRED_MAX_BODY_CHARS at the frame's check; the exact
# rule (after trimming, in characters) is the service's, answered with invalid_body.
BODY_FACTOR = 2
MAX_MESSAGE = 32  # react: a message id
MAX_REACTION = 32  # react: a reaction's name (the service checks it against the set)
MAX_VENUE = 16  # ask: an event's or a topic's id
MAX_QUESTION = 64  # vote, question_action: a question's id; question_action's `into`
MAX_ANSWER = 10_000  # question_action: the answer's text
MAX_QUESTION_REASON = 1000  # question_action: why it was dismissed

# The structs' field types, from the same numbers.
Room = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ROOM)]
Cid = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CID)]
OptionalCid = Annotated[str, msgspec.Meta(max_length=MAX_CID)] | None
Since = Annotated[int, msgspec.Meta(ge=MIN_SINCE)] | None  # msgspec's int refuses a bool
After = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_AFTER)] | None

# The keys an error frame echoes (endpoint._error_frame): room and cid, as the frame had them.
Echo = dict[str, str | None]


class Incoming(msgspec.Struct, tag_field="type", forbid_unknown_fields=True):
    """A client frame as it arrives: a subclass per kind, tagged with its ``type``, whose
    fields and types admit only the well-formed frame: its own keys (nothing unknown, so
    nothing nested), each of its type and length. Each subclass has ``typed(max_body_chars)``:
    the typed frame and its echo, or None when a rule the struct cannot state refuses it
    (then the long way names the refusal)."""
