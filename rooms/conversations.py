"""Private conversations: who may write to a member first, and what a conversation in each
state lets its participants do. Pure: no storage, no clock, no network.

A conversation is a private room (a ``communities`` row of kind ``dm``, slug ``dm-<id>``)
that only its participants may join. Who may *start* one with a member is the member's
setting (``Allow``) applied to what the sender is to them (``Sender``):

================  =========  ========  =========  ===========
sender \\ allow    nobody     staff     friends    communities
================  =========  ========  =========  ===========
stranger          refused    refused   refused    refused
community member  refused    refused   refused    request
friend            refused    refused   direct     direct
other staff       refused    request   request    request
staff             direct     direct    direct     direct
blocked           refused    refused   refused    refused
================  =========  ========  =========  ===========

"Staff" is staff of one of the member's rooms: they may always write to them, whatever the
setting (a navigator must be able to reach a member), so "nobody" means nobody else. "Other
staff" are navigators and organization admins who moderate none of the member's rooms: the
settings "staff only", "friends and staff" and "communities" let them ask. A block either
way refuses, staff included (``open_staff_talk``, which a member asks for, is the one way
past a block, and it is not decided here). A first message from anyone allowed who is
neither a friend nor staff of the member's rooms is a **request**: held until the recipient
accepts it; declining ends the conversation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from enum import StrEnum

from rooms import ids
from rooms.access import PRIVATE_KIND
from rooms.errors import BadFrame, NoSuchRoom, RoomError
from rooms.model import Community, Member
from rooms.moderation import may_moderate_room
from rooms.roles import Role

DM_KIND = PRIVATE_KIND  # the communities row's kind: left out of the directory and of every room rule
ROOM_PREFIX = "dm-"
ROOM_NAME = "Private conversation"  # the row's name; clients show the other participants
_ROOM = re.compile(re.escape(ROOM_PREFIX) + ids.PUBLIC_ID.pattern)

MAX_PARTICIPANTS = 8  # a group, starter included; only staff start groups
MAX_HELD = 5  # messages a requester may write before the recipient accepts


class Allow(StrEnum):
    """A member's answer to "who may write to me first?"."""

    NOBODY = "nobody"  # nobody (staff of my rooms still can: they always can)
    STAFF = "staff"  # staff only
    FRIENDS = "friends"  # friends and staff: the default
    COMMUNITIES = "communities"  # members of my communities, friends and staff

    @classmethod
    def parse(cls, value: object) -> Allow:
        """The setting named ``value``; ``BadFrame`` (invalid_request) listing the choices."""
        try:
            return cls(str(value))
        except ValueError:
            names = ", ".join(a.value for a in cls)
            raise BadFrame(f"allow must be one of: {names}") from None


DEFAULT_ALLOW = Allow.FRIENDS


class Sender(StrEnum):
    """What the one who writes first is to the recipient (one class, most decisive first)."""

    BLOCKED = "blocked"  # a block either way
    STAFF = "staff"  # staff of one of the recipient's rooms
    OTHER_STAFF = "other_staff"  # a navigator or org admin of none of the recipient's rooms
    FRIEND = "friend"
    COMMUNITY_MEMBER = "community_member"  # takes part in a room the recipient takes part in
    STRANGER = "stranger"


class Verdict(StrEnum):
    DIRECT = "direct"  # the conversation is open at once
    REQUEST = "request"  # held until the recipient accepts
    REFUSED = "refused"  # not at all, and the recipient learns nothing


class State(StrEnum):
    REQUEST = "request"  # a request: the recipient has not accepted (yet)
    OPEN = "open"
    DECLINED = "declined"  # the recipient declined: nobody writes any more


class DmRefused(RoomError):
    """The member does not take private messages from the sender (their setting, or a block
    either way: the two are not told apart)."""

    code = "dm_refused"
    http_status = 403


class RequestPending(RoomError):
    """The conversation is a request the recipient has not accepted: the recipient may not
    open it yet, and the requester has written as much as a request holds."""

    code = "request_pending"
    http_status = 403


class ConversationClosed(RoomError):
    """The request was declined, or a block stands between the two: nobody writes here."""

    code = "conversation_closed"
    http_status = 403


class NothingToAnswer(RoomError):
    """Accepting or declining what is not a request made to this member (any more)."""

    code = "invalid_action"
    http_status = 409


def classify(
    *, blocked: bool, staff: bool, friend: bool, shares_community: bool, other_staff: bool = False,
) -> Sender:
    """The sender's class from the facts about the pair, the most decisive first: a block,
    then staff of the recipient's rooms, then other staff, friend, a shared community."""
    if blocked:
        return Sender.BLOCKED
    if staff:
        return Sender.STAFF
    if other_staff:
        return Sender.OTHER_STAFF
    if friend:
        return Sender.FRIEND
    if shares_community:
        return Sender.COMMUNITY_MEMBER
    return Sender.STRANGER


def first_message(allow: Allow, sender: Sender) -> Verdict:
    """May ``sender`` write first to a member whose setting is ``allow``, and how (the table
    in the module's docstring)."""
    if sender is Sender.BLOCKED:
        return Verdict.REFUSED
    if sender is Sender.STAFF:
        return Verdict.DIRECT
    if sender is Sender.OTHER_STAFF:
        return Verdict.REFUSED if allow is Allow.NOBODY else Verdict.REQUEST
    if sender is Sender.FRIEND:
        return Verdict.DIRECT if allow in (Allow.FRIENDS, Allow.COMMUNITIES) else Verdict.REFUSED
    if sender is Sender.COMMUNITY_MEMBER:
        return Verdict.REQUEST if allow is Allow.COMMUNITIES else Verdict.REFUSED
    return Verdict.REFUSED


def staff_of(sender: Member, assigned: frozenset[str], recipient_rooms: Iterable[Community]) -> bool:
    """True when ``sender`` moderates one of ``recipient_rooms``: the rooms the recipient takes
    part in, and their organization's local rooms (the caller passes a stand-in for those)."""
    if sender.role.rank < Role.NAVIGATOR.rank:
        return False
    return any(may_moderate_room(sender, room, assigned) for room in recipient_rooms)


def check_start(starter: Member, others: Sequence[str]) -> list[str]:
    """The other participants' public ids, checked: at least one, never the starter, no
    repeats, one other for members, at most ``MAX_PARTICIPANTS`` in all for staff. Raises
    ``BadFrame`` (invalid_request over HTTP)."""
    if not others:
        raise BadFrame("with must name at least one member")
    if starter.id in others:
        raise BadFrame("a conversation is with others, not with yourself")
    if len(set(others)) != len(others):
        raise BadFrame("with names a member twice")
    if len(others) > 1 and starter.role.rank < Role.NAVIGATOR.rank:
        raise BadFrame("members write to one person at a time; only staff start groups")
    if len(others) + 1 > MAX_PARTICIPANTS:
        raise BadFrame(f"a group has at most {MAX_PARTICIPANTS} people, you included")
    return list(others)


def check_join(state: State, is_requester: bool, request_made: bool) -> None:
    """May a participant open the conversation now? The requester always may; the recipient of
    a request not made yet learns nothing (``NoSuchRoom``), of a request made must accept
    first (``RequestPending``), of a declined one no longer sees it (``NoSuchRoom``)."""
    if state is State.OPEN or is_requester:
        return
    if state is State.REQUEST and request_made:
        raise RequestPending("accept the request to open this conversation")
    raise NoSuchRoom("no such room is open to you")


def check_post(state: State, is_requester: bool, held: int, blocked: bool) -> None:
    """May a participant who is in the room post now? ``held``: messages already written in a
    request. A block between a pair, or a declined request, closes it
    (``ConversationClosed``); a requester may write up to ``MAX_HELD`` messages before the
    recipient accepts (``RequestPending``)."""
    if blocked or state is State.DECLINED:
        raise ConversationClosed("this conversation is closed: nobody can write here any more")
    if state is State.REQUEST:
        if not is_requester:
            raise RequestPending("accept the request first")
        if held >= MAX_HELD:
            raise RequestPending(
                f"your request holds {MAX_HELD} messages: they are delivered if it is accepted")


def listed(state: State, is_requester: bool, request_made: bool) -> bool:
    """Does the participant see the conversation in their list? Not the recipient of a
    request nobody has written in yet, nor of a request they declined."""
    return state is State.OPEN or is_requester or (state is State.REQUEST and request_made)


def may_read(state: State, is_requester: bool) -> bool:
    """May the participant read the conversation's messages (history, search, replay)? Those
    of an open one, and the requester their own; never the recipient before accepting."""
    return state is State.OPEN or is_requester


def is_room(slug: str) -> bool:
    return _ROOM.fullmatch(slug) is not None


def room_of(public_id: str) -> str:
    return f"{ROOM_PREFIX}{public_id}"


def is_public_id(value: object) -> bool:
    """A conversation's public id (rooms/ids.py)."""
    return ids.is_public_id(value)
