"""Friends and following: how two members stand, what a request or a follow does, and what is
refused. Pure: no storage, no clock; the service passes in what it read.

Blocking outranks everything here. A block (either way) ends a friendship and a follow, and
refuses new ones; the member who was blocked is told only what a member who turned requests
or following off tells everyone (``NotTaking``), so a refusal never says "you are blocked".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from rooms.errors import RoomError

MAX_FOLLOWING = 500  # members one may follow: the feed reads them all


class FriendState(StrEnum):
    """How the viewer stands with another member, as the API and the page say it."""

    NONE = "none"
    FRIENDS = "friends"
    REQUESTED = "requested"  # the viewer asked; waiting for the other's answer
    ASKED_ME = "asked_me"  # the other asked the viewer


@dataclass(frozen=True, slots=True)
class Pair:
    """What the service read about the viewer and another member (``other``)."""

    friends: bool = False
    requester_is_viewer: bool | None = None  # a pending request: who asked; None: no request
    viewer_blocked_other: bool = False
    other_blocked_viewer: bool = False
    other_takes_requests: bool = True
    other_followable: bool = True

    @property
    def blocked(self) -> bool:
        return self.viewer_blocked_other or self.other_blocked_viewer


def state(pair: Pair) -> FriendState:
    if pair.friends:
        return FriendState.FRIENDS
    if pair.requester_is_viewer is None:
        return FriendState.NONE
    return FriendState.REQUESTED if pair.requester_is_viewer else FriendState.ASKED_ME


class Put(StrEnum):
    """What ``PUT /api/friends/{user}`` does."""

    REQUEST = "request"  # store a new request (counts towards the rate limit)
    ACCEPT = "accept"  # the other asked: now friends
    NOTHING = "nothing"  # already friends, or already asked: the same answer again


class Delete(StrEnum):
    """What ``DELETE /api/friends/{user}`` does."""

    DECLINE = "decline"
    CANCEL = "cancel"
    UNFRIEND = "unfriend"
    NOTHING = "nothing"


# -- refusals ------------------------------------------------------------------------------


class Yourself(RoomError):
    """Befriending or following oneself."""

    code = "yourself"

    def __init__(self, what: str) -> None:
        super().__init__(f"you cannot {what} yourself")


class YouBlocked(RoomError):
    """The viewer blocked the other member: they say so to themselves, nobody else learns it."""

    code = "you_blocked"
    http_status = 409


class NotTaking(RoomError):
    """The other member does not take friend requests (or cannot be followed) from the viewer:
    their setting, or a block of theirs; the words are the same for both on purpose."""

    code = "not_accepted"
    http_status = 403


class TooManyFollowed(RoomError):
    code = "too_many"
    http_status = 409


# -- rules ---------------------------------------------------------------------------------


def on_put(pair: Pair) -> Put:
    """A request, or the answer to theirs. Raises ``YouBlocked`` or ``NotTaking``."""
    if pair.viewer_blocked_other:
        raise YouBlocked("you blocked this member; unblock them first")
    if pair.other_blocked_viewer:
        raise NotTaking("this member is not taking friend requests")
    current = state(pair)
    if current is FriendState.ASKED_ME:
        return Put.ACCEPT
    if current is not FriendState.NONE:
        return Put.NOTHING
    if not pair.other_takes_requests:
        raise NotTaking("this member is not taking friend requests")
    return Put.REQUEST


def on_delete(pair: Pair) -> Delete:
    """Declining, cancelling or unfriending; nothing to do is not an error (the answer is the
    same however many times it is sent)."""
    current = state(pair)
    if current is FriendState.FRIENDS:
        return Delete.UNFRIEND
    if current is FriendState.REQUESTED:
        return Delete.CANCEL
    if current is FriendState.ASKED_ME:
        return Delete.DECLINE
    return Delete.NOTHING


def check_follow(pair: Pair, already: bool, following_count: int) -> None:
    """May the viewer follow the other? Raises ``YouBlocked``, ``NotTaking``, ``TooManyFollowed``."""
    if pair.viewer_blocked_other:
        raise YouBlocked("you blocked this member; unblock them first")
    if pair.other_blocked_viewer or not pair.other_followable:
        raise NotTaking("this member cannot be followed")
    if not already and following_count >= MAX_FOLLOWING:
        raise TooManyFollowed(f"you follow {MAX_FOLLOWING} members already; stop following someone first")


def can_befriend(pair: Pair) -> bool:
    """Whether the page offers a friend request: what ``on_put`` would not refuse."""
    return not pair.blocked and (state(pair) is not FriendState.NONE or pair.other_takes_requests)


def can_follow(pair: Pair) -> bool:
    return not pair.blocked and pair.other_followable
